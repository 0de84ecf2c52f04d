// Shape rules for the operators that sample an image at positions computed at run time or scatter
// into one at run-time indices: RoiAlign (boxes), DeformConv (learned offsets), AffineGrid (the
// sampling grid of an affine map, for GridSample) and MaxUnpool (MaxPool's indices).
import { slidingWindow, type Window } from "./nn-geometry.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const FLOATS = ["float32", "float64", "float16"] as const;
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

export const ROI_MODES = ["avg", "max"];
export const ROI_TRANSFORMS = ["half_pixel", "output_half_pixel"];

/** RoiAlign's attributes, checked; the default transform changed at opset 16 (output_half_pixel before). */
export function roiAlignAttrs(attrs: ShapeCtx["attrs"], opset: number, invalid: (m: string) => never) {
  const mode = attrs.string("mode", "avg");
  const transform = attrs.string("coordinate_transformation_mode", opset >= 16 ? "half_pixel" : "output_half_pixel");
  const outH = attrs.int("output_height", 1), outW = attrs.int("output_width", 1);
  const ratio = attrs.int("sampling_ratio", 0);
  const scale = attrs.float("spatial_scale", 1);
  if (!ROI_MODES.includes(mode)) invalid(`mode ${mode} is not one of ${ROI_MODES.join(", ")}`);
  if (!ROI_TRANSFORMS.includes(transform)) invalid(`coordinate_transformation_mode ${transform} is not one of ${ROI_TRANSFORMS.join(", ")}`);
  if (outH < 1 || outW < 1) invalid(`output_height and output_width must be positive; got ${outH} and ${outW}`);
  if (ratio < 0) invalid(`sampling_ratio must not be negative; got ${ratio}`);
  return { mode, halfPixel: transform === "half_pixel", outH, outW, ratio, scale };
}

ops.define("RoiAlign", (ctx) => {
  const x = ctx.input(0), rois = ctx.input(1), idx = ctx.input(2);
  ctx.expectDType(0, FLOATS);
  if (rois.dtype !== x.dtype) ctx.invalid(`rois has type ${rois.dtype}; X has ${x.dtype} (both are T1)`);
  ctx.expectDType(2, ["int64"]);
  const a = roiAlignAttrs(ctx.attrs, ctx.opset, (m) => ctx.invalid(m));
  if (x.shape.length !== 4) ctx.fail(`X must be [N, C, H, W]; got [${x.shape}]`);
  if (rois.shape.length !== 2 || rois.shape[1] !== 4) ctx.fail(`rois must be [num_rois, 4]; got [${rois.shape}]`);
  if (idx.shape.length !== 1 || idx.shape[0] !== rois.shape[0]) ctx.fail(`batch_indices must be [${rois.shape[0]}] (one per roi); got [${idx.shape}]`);
  return [{ dtype: x.dtype, shape: [rois.shape[0], x.shape[1], a.outH, a.outW] }];
}, { arity: [3, 3], lastChange: 16 });

export interface DeformGeometry {
  win: Window;
  group: number;
  offsetGroup: number;
}

/**
 * DeformConv's checks: X [N, C, H, W], W [M, C/group, kh, kw], offset [N, offset_group*2*kh*kw,
 * oH, oW], mask [N, offset_group*kh*kw, oH, oW], B [M]. 2-D only, as onnxruntime and the reference.
 */
export function deformGeometry(ctx: ShapeCtx): DeformGeometry {
  const x = ctx.input(0).shape, w = ctx.input(1).shape, off = ctx.input(2).shape;
  if (x.length !== 4) ctx.unsupported(`kiln's DeformConv takes 2-D images [N, C, H, W] (as onnxruntime and the ONNX reference); got rank ${x.length}`);
  if (w.length !== 4) ctx.fail(`W must be [M, C/group, kh, kw]; got [${w}]`);
  const kernel = ctx.attrs.ints("kernel_shape", w.slice(2));
  if (kernel.length !== 2 || kernel.some((k, a) => k !== w[a + 2])) ctx.fail(`kernel_shape [${kernel}] differs from the weights [${w.slice(2)}]`);
  const group = ctx.attrs.int("group", 1), offsetGroup = ctx.attrs.int("offset_group", 1);
  if (group < 1 || offsetGroup < 1) ctx.invalid(`group (${group}) and offset_group (${offsetGroup}) must be positive`);
  if (x[1] !== w[1] * group) ctx.fail(`X has ${x[1]} channels; W expects ${w[1]} x group ${group}`);
  if (w[0] % group !== 0) ctx.invalid(`output channels ${w[0]} are not divisible by group ${group}`);
  if (x[1] % offsetGroup !== 0) ctx.invalid(`input channels ${x[1]} are not divisible by offset_group ${offsetGroup}`);
  const win = slidingWindow(ctx.attrs, x.slice(2), kernel);
  const taps = kernel[0] * kernel[1];
  const want = [x[0], offsetGroup * 2 * taps, ...win.out];
  if (off.length !== 4 || off.some((d, k) => d !== want[k])) ctx.fail(`offset must be [${want}]; got [${off}]`);
  const b = ctx.optional(3), mask = ctx.optional(4);
  if (b && (b.shape.length !== 1 || b.shape[0] !== w[0])) ctx.fail(`B must be [${w[0]}]; got [${b.shape}]`);
  const wantMask = [x[0], offsetGroup * taps, ...win.out];
  if (mask && (mask.shape.length !== 4 || mask.shape.some((d, k) => d !== wantMask[k]))) ctx.fail(`mask must be [${wantMask}]; got [${mask.shape}]`);
  return { win, group, offsetGroup };
}

ops.define("DeformConv", (ctx) => {
  const dt = ctx.expectDType(0, FLOATS);
  for (const i of [1, 2, 3, 4]) if (ctx.optional(i) && ctx.input(i).dtype !== dt) ctx.invalid(`input ${i} has type ${ctx.input(i).dtype}; X has ${dt} (all are T)`);
  const g = deformGeometry(ctx);
  const x = ctx.input(0).shape, w = ctx.input(1).shape;
  return [{ dtype: dt, shape: [x[0], w[0], ...g.win.out] }];
}, { arity: [3, 5], lastChange: 19, flops: (_n, [, w], [y]) => (2 * prod(y) * prod(w)) / w[0] });

// size must be known when compiling (the output's shape): a run-time size is refused by ctx.ints,
// naming the input (load() freezes it from the feeds)
ops.define("AffineGrid", (ctx) => {
  const theta = ctx.input(0);
  ctx.expectDType(0, FLOATS);
  const size = ctx.ints(1) ?? ctx.invalid("size is required");
  const r = size.length - 2;
  if (r !== 2 && r !== 3) ctx.fail(`size must be [N, C, H, W] or [N, C, D, H, W]; got [${size}]`);
  if (size.some((d) => d < 0)) ctx.invalid(`size [${size}] has a negative dim`);
  if (theta.shape.length !== 3 || theta.shape[0] !== size[0] || theta.shape[1] !== r || theta.shape[2] !== r + 1) {
    ctx.fail(`theta must be [${size[0]}, ${r}, ${r + 1}] for size [${size}]; got [${theta.shape}]`);
  }
  return [{ dtype: theta.dtype, shape: [size[0], ...size.slice(2), r] }];
}, { arity: [2, 2], lastChange: 20, shapeInputs: [1] });

/**
 * MaxUnpool's output shape: output_shape when given (known when compiling), else inferred from
 * the attributes, (in - 1) * stride - pads + kernel on each spatial axis.
 */
ops.define("MaxUnpool", (ctx) => {
  const x = ctx.input(0), idx = ctx.input(1);
  ctx.expectDType(0, FLOATS);
  ctx.expectDType(1, ["int64"]);
  const r = x.shape.length - 2;
  if (r < 1) ctx.invalid(`X must be [N, C, spatial...]; got rank ${x.shape.length}`);
  if (idx.shape.length !== x.shape.length || idx.shape.some((d, k) => d !== x.shape[k])) ctx.fail(`I must have X's shape [${x.shape}]; got [${idx.shape}]`);
  const kernel = ctx.attrs.ints("kernel_shape", []);
  const strides = ctx.attrs.ints("strides", new Array(r).fill(1));
  const pads = ctx.attrs.ints("pads", new Array(2 * r).fill(0));
  if (kernel.length !== r || strides.length !== r || pads.length !== 2 * r) ctx.invalid(`kernel_shape (${kernel.length}), strides (${strides.length}) and pads (${pads.length}) must fit ${r} spatial axes`);
  if (kernel.some((k) => k < 1) || strides.some((s) => s < 1) || pads.some((p) => p < 0)) ctx.invalid("kernel_shape and strides must be positive, pads not negative");
  const inferred = [x.shape[0], x.shape[1], ...x.shape.slice(2).map((d, a) => (d - 1) * strides[a] - pads[a] - pads[a + r] + kernel[a])];
  const given = ctx.optional(2) ? ctx.ints(2)! : undefined;
  if (given && (given.length !== x.shape.length || given[0] !== x.shape[0] || given[1] !== x.shape[1])) ctx.fail(`output_shape [${given}] must be [${x.shape[0]}, ${x.shape[1]}, ${r} spatial dims]`);
  const shape = given ?? inferred;
  if (shape.some((d) => d < 0)) ctx.invalid(`the output shape [${shape}] has a negative dim`);
  return [{ dtype: x.dtype, shape }];
}, { arity: [2, 3], lastChange: 11, shapeInputs: [2] });

export const SAMPLING_OPS = ops.defs;
