// Window geometry shared by the convolution and pooling shape rules and kernels: kernel size,
// strides, dilations and the resolved begin/end pads of every spatial axis, all compile-time numbers.
import { KilnError } from "../../runtime/errors.js";
import type { Attrs } from "../ir/attrs.js";

export interface Window {
  /** input spatial sizes */
  in: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padBegin: number[];
  padEnd: number[];
  /** output spatial sizes */
  out: number[];
}

const effective = (k: number, d: number) => (k - 1) * d + 1;

function bad(message: string): never {
  throw new KilnError("INVALID_MODEL", message);
}

function perAxis(attrs: Attrs, name: string, rank: number, def: number): number[] {
  const v = attrs.ints(name, new Array(rank).fill(def));
  if (v.length !== rank) bad(`${name} has ${v.length} values; the window has ${rank} axes`);
  if (v.some((x) => x < 1)) bad(`${name} must be positive, got [${v.join(",")}]`);
  return v;
}

/** Window of Conv and the pools; ceil_mode rounds the output size up (pools only). */
export function slidingWindow(attrs: Attrs, inSpatial: number[], kernel: number[], ceil = false): Window {
  const rank = inSpatial.length;
  if (kernel.length !== rank) bad(`kernel has ${kernel.length} axes; the input has ${rank} spatial axes`);
  const strides = perAxis(attrs, "strides", rank, 1);
  const dilations = perAxis(attrs, "dilations", rank, 1);
  const autoPad = attrs.string("auto_pad", "NOTSET");
  const padBegin: number[] = [];
  const padEnd: number[] = [];
  const out: number[] = [];
  const pads = attrs.ints("pads", new Array(2 * rank).fill(0));
  if (pads.length !== 2 * rank) bad(`pads has ${pads.length} values; expected ${2 * rank}`);
  for (let a = 0; a < rank; a++) {
    const I = inSpatial[a], s = strides[a], eff = effective(kernel[a], dilations[a]);
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      const o = Math.ceil(I / s);
      const total = Math.max(0, (o - 1) * s + eff - I);
      const small = Math.floor(total / 2);
      padBegin.push(autoPad === "SAME_UPPER" ? small : total - small);
      padEnd.push(autoPad === "SAME_UPPER" ? total - small : small);
      out.push(o);
      continue;
    }
    if (autoPad === "VALID") { padBegin.push(0); padEnd.push(0); }
    else if (autoPad === "NOTSET") { padBegin.push(pads[a]); padEnd.push(pads[a + rank]); }
    else bad(`unknown auto_pad ${autoPad}`);
    const span = I + padBegin[a] + padEnd[a] - eff;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // a window may not start in the end padding
    if (ceil && (o - 1) * s >= I + padBegin[a]) o--;
    // the model is fine: the input given is too small for it. With ceil_mode a window larger than
    // the padded input still gives one output where it starts within it, clipped to the input as
    // every last window is (EfficientNet's pooler, PyTorch's AvgPool2d(kernel, ceil_mode=True), on
    // a plane smaller than its kernel)
    if (o < 1) throw new KilnError("SHAPE_MISMATCH", `the window (${eff}) is larger than the padded input (${I + padBegin[a] + padEnd[a]}) on spatial axis ${a}${ceil ? ", and starts past it" : ""}`);
    out.push(o);
  }
  return { in: inSpatial, kernel, strides, dilations, padBegin, padEnd, out };
}

/** Window of ConvTranspose, read as a convolution scattering input positions into the output. */
export function transposedWindow(attrs: Attrs, inSpatial: number[], kernel: number[]): Window & { outputPadding: number[] } {
  const rank = inSpatial.length;
  if (kernel.length !== rank) bad(`kernel has ${kernel.length} axes; the input has ${rank} spatial axes`);
  const strides = perAxis(attrs, "strides", rank, 1);
  const dilations = perAxis(attrs, "dilations", rank, 1);
  const outputPadding = attrs.ints("output_padding", new Array(rank).fill(0));
  const autoPad = attrs.string("auto_pad", "NOTSET");
  const pads = attrs.ints("pads", new Array(2 * rank).fill(0));
  const outputShape = attrs.has("output_shape") ? attrs.ints("output_shape").slice(-rank) : undefined;
  const padBegin: number[] = [], padEnd: number[] = [], out: number[] = [];
  for (let a = 0; a < rank; a++) {
    const full = strides[a] * (inSpatial[a] - 1) + (outputPadding[a] ?? 0) + effective(kernel[a], dilations[a]);
    const target = outputShape ? outputShape[a] : autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER" ? inSpatial[a] * strides[a] : undefined;
    if (target !== undefined) {
      const total = Math.max(0, full - target);
      const half = Math.floor(total / 2);
      padBegin.push(autoPad === "SAME_UPPER" ? half : total - half);
      padEnd.push(autoPad === "SAME_UPPER" ? total - half : half);
      out.push(target);
    } else {
      padBegin.push(autoPad === "VALID" ? 0 : pads[a]);
      padEnd.push(autoPad === "VALID" ? 0 : pads[a + rank]);
      out.push(full - padBegin[a] - padEnd[a]);
    }
    if (out[a] <= 0) bad(`ConvTranspose output size ${out[a]} on spatial axis ${a} is not positive`);
  }
  return { in: inSpatial, kernel, strides, dilations, padBegin, padEnd, out, outputPadding };
}
