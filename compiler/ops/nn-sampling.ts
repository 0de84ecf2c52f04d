// Shape rules for the operators that sample an image at positions computed at run time or scatter
// into one at run-time indices: RoiAlign (boxes), DeformConv (learned offsets), AffineGrid (the
// sampling grid of an affine map, for GridSample) and MaxUnpool (MaxPool's indices).
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

export const SAMPLING_OPS = ops.defs;
