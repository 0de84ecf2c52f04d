// Resize / Upsample: the output size and the per-axis coordinate maps, decided at compile time and
// shared by the shape rule and the kernel.
import type { Tensor } from "../ir/graph.js";
import type { Attrs } from "../ir/attrs.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

export interface ResizePlan {
  out: number[];
  /** per axis: scale used by the coordinate transform (1 for untouched axes) */
  scales: number[];
  /** per axis: [start, end] of the tf_crop_and_resize region (normalized) */
  roi: [number, number][];
  mode: "nearest" | "linear" | "cubic";
  coord: string;
  nearest: string;
  extrapolation: number;
  cubicA: number;
  /** linear/cubic only: widen the kernel when downsampling */
  antialias: boolean;
  excludeOutside: boolean;
}

const nums = (t: Tensor | undefined) => (t ? Array.from(t.data as ArrayLike<number | bigint>, Number) : undefined);

export interface ResizeInputs { roi?: Tensor; scales?: Tensor; sizes?: Tensor }

/** Which inputs hold roi, scales and sizes for this op and opset. */
export function resizeInputSlots(op: string, opset: number): { roi?: number; scales?: number; sizes?: number } {
  if (op === "Upsample") return opset >= 9 ? { scales: 1 } : {};
  return opset >= 11 ? { roi: 1, scales: 2, sizes: 3 } : { scales: 1 };
}

export function resizePlan(attrs: Attrs, op: string, opset: number, inDims: number[], inputs: ResizeInputs, fail: (msg: string) => never, unsupported: (msg: string) => never): ResizePlan {
  const rank = inDims.length;
  const rawMode = attrs.string("mode", "nearest");
  const mode = rawMode === "bilinear" || rawMode === "trilinear" ? "linear" : rawMode;
  if (mode !== "nearest" && mode !== "linear" && mode !== "cubic") fail(`unknown Resize mode ${rawMode}`);
  const legacy = op === "Upsample" || opset < 11;
  const coord = legacy ? "asymmetric" : attrs.string("coordinate_transformation_mode", "half_pixel");
  const nearest = legacy ? "legacy" : attrs.string("nearest_mode", "round_prefer_floor");
  const axes = (attrs.has("axes") ? attrs.ints("axes") : [...inDims.keys()]).map((a) => (a < 0 ? a + rank : a));
  let scalesIn = nums(inputs.scales);
  if (op === "Upsample" && !inputs.scales) scalesIn = attrs.floats("scales");
  if (scalesIn && scalesIn.length === 0) scalesIn = undefined;
  const sizesIn = nums(inputs.sizes);
  const scales = new Array<number>(rank).fill(1);
  const out = [...inDims];
  if (scalesIn) {
    if (sizesIn && sizesIn.length) fail("Resize takes scales or sizes, not both");
    if (scalesIn.length !== axes.length) fail(`scales has ${scalesIn.length} values for ${axes.length} axes`);
    axes.forEach((a, k) => { scales[a] = scalesIn![k]; out[a] = Math.floor(inDims[a] * scalesIn![k]); });
  } else if (sizesIn) {
    if (sizesIn.length !== axes.length) fail(`sizes has ${sizesIn.length} values for ${axes.length} axes`);
    const policy = attrs.string("keep_aspect_ratio_policy", "stretch");
    if (policy === "stretch") {
      axes.forEach((a, k) => { out[a] = sizesIn[k]; scales[a] = sizesIn[k] / inDims[a]; });
    } else {
      const ratios = axes.map((a, k) => sizesIn[k] / inDims[a]);
      const s = policy === "not_larger" ? Math.min(...ratios) : policy === "not_smaller" ? Math.max(...ratios) : fail(`unknown keep_aspect_ratio_policy ${policy}`);
      axes.forEach((a) => { scales[a] = s; out[a] = Math.round(s * inDims[a]); });
    }
  } else fail("Resize needs scales or sizes");
  if (scales.some((s) => !(s > 0))) fail(`Resize scales must be positive: [${scales}]`);
  const roiVals = nums(inputs.roi);
  const roi: [number, number][] = inDims.map(() => [0, 1]);
  if (coord === "tf_crop_and_resize") {
    if (!roiVals || roiVals.length !== 2 * axes.length) fail("tf_crop_and_resize needs an roi with a start and end per axis");
    axes.forEach((a, k) => (roi[a] = [roiVals[k], roiVals[k + axes.length]]));
  }
  return { out, scales, roi, mode, coord, nearest, extrapolation: attrs.float("extrapolation_value", 0),
    cubicA: attrs.float("cubic_coeff_a", -0.75), excludeOutside: attrs.int("exclude_outside", 0) !== 0,
    antialias: mode !== "nearest" && attrs.int("antialias", 0) !== 0 };
}

function resizeRule(ctx: ShapeCtx) {
  const x = ctx.input(0);
  const slots = resizeInputSlots(ctx.node.op, ctx.opset);
  const constant = (i?: number) => (i === undefined || !ctx.optional(i) || ctx.input(i).shape.reduce((a, b) => a * b, 1) === 0 ? undefined : ctx.value(i));
  const plan = resizePlan(ctx.attrs, ctx.node.op, ctx.opset, x.shape,
    { roi: ctx.attrs.string("coordinate_transformation_mode", "half_pixel") === "tf_crop_and_resize" ? constant(slots.roi) : undefined, scales: constant(slots.scales), sizes: constant(slots.sizes) },
    (m) => ctx.invalid(m), (m) => ctx.unsupported(m));
  if (plan.mode !== "nearest") ctx.expectDType(0, ["float32", "float64", "float16"]);
  return [{ dtype: x.dtype, shape: plan.out }];
}

// sizes (opset 11+) tell the kernel the output's dims alone where it stretches (each axis's scale
// is out / in): a batch's size in them may vary with a symbolic batch (SegFormer's decode head)
ops.define("Resize", resizeRule, { arity: [1, 4], lastChange: 13, shapeInputs: (attrs) => (attrs.string("keep_aspect_ratio_policy", "stretch") === "stretch" ? [3] : []) });
ops.define("Upsample", resizeRule, { arity: [1, 2] });

export const RESIZE_OPS = ops.defs;
