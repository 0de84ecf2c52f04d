// Compile-time parameters shared by the movement shape rules and kernels (Slice ranges, Pad
// amounts), so the rule that sizes an output and the kernel that fills it agree by construction.
import type { Attrs } from "../ir/attrs.js";

/** What both ShapeCtx and KernelCtx can answer: attributes and constant int inputs. */
export interface ParamSource {
  readonly attrs: Attrs;
  readonly opset: number;
  /** input i as numbers, undefined when absent */
  ints(i: number): number[] | undefined;
  invalid(message: string): never;
}

/** A required integer input: absent is a malformed model, not a crash. */
function required(src: ParamSource, i: number): number[] {
  return src.ints(i) ?? src.invalid(`input ${i} is required`);
}

export interface SliceAxis {
  start: number;
  step: number;
  count: number;
}

/** A Slice's own numbers for one axis, before normalizing and clamping. */
export interface RawSliceAxis {
  start: number;
  end: number;
  step: number;
}

/** Each axis's raw start, end and step (undefined: not sliced), as the node gives them. */
export function rawSliceAxes(src: ParamSource, rank: number): (RawSliceAxis | undefined)[] {
  const fromAttrs = src.opset < 10;
  const starts = fromAttrs ? src.attrs.ints("starts") : required(src, 1);
  const ends = fromAttrs ? src.attrs.ints("ends") : required(src, 2);
  const axes = (fromAttrs ? src.attrs.ints("axes", []) : src.ints(3) ?? []).slice();
  const steps = fromAttrs ? [] : src.ints(4) ?? [];
  if (axes.length === 0) for (let k = 0; k < starts.length; k++) axes.push(k);
  if (starts.length !== ends.length || axes.length !== starts.length) src.invalid("starts, ends and axes differ in length");
  const out: (RawSliceAxis | undefined)[] = new Array(rank).fill(undefined);
  axes.forEach((a0, j) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (a < 0 || a >= rank) src.invalid(`axis ${a0} out of range`);
    const step = steps[j] ?? 1;
    if (step === 0) src.invalid("slice step 0");
    out[a] = { start: starts[j], end: ends[j], step };
  });
  return out;
}

/** The clamped slice of each axis, by the spec's rules (INT64_MIN/MAX sentinels clamp like any other bound). */
export function sliceParams(src: ParamSource, dims: readonly number[]): SliceAxis[] {
  return rawSliceAxes(src, dims.length).map((r, a) => (r ? clampSlice(r, dims[a]) : { start: 0, step: 1, count: dims[a] }));
}

/** One axis of length d sliced: where it starts, its step and how many elements it takes. */
export function clampSlice({ start, end, step }: RawSliceAxis, d: number): SliceAxis {
  const norm = (v: number) => (v < 0 ? v + d : v);
  let s = norm(start);
  let e = norm(end);
  if (step > 0) {
    s = Math.min(Math.max(s, 0), d);
    e = Math.min(Math.max(e, 0), d);
  } else {
    // the spec clamps a backward start into [0, d-1] (a start before the first element
    // begins at it) and the end into [-1, d-1], as onnxruntime and ONNX's shape inference do
    s = Math.min(Math.max(s, 0), d - 1);
    e = Math.min(Math.max(e, -1), d - 1);
  }
  const count = Math.max(0, Math.ceil((e - s) / step));
  return { start: count ? s : 0, step, count };
}

/** Pad amounts per axis (negative = crop), from the attribute (opset < 11) or the pads/axes inputs. */
export function padAmounts(src: ParamSource, rank: number): { begin: number[]; end: number[] } {
  const pads = src.opset < 11 ? src.attrs.ints(src.attrs.has("pads") ? "pads" : "paddings") : required(src, 1);
  const axes = (src.opset < 11 ? undefined : src.ints(3)) ?? [...Array(rank).keys()];
  if (pads.length !== 2 * axes.length) src.invalid(`pads has ${pads.length} values for ${axes.length} axes`);
  const begin = new Array<number>(rank).fill(0);
  const end = new Array<number>(rank).fill(0);
  axes.forEach((a0, j) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (a < 0 || a >= rank) src.invalid(`axis ${a0} out of range`);
    begin[a] = pads[j];
    end[a] = pads[j + axes.length];
  });
  return { begin, end };
}
