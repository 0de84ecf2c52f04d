// Shape rules for the image-geometry operators kiln groups with signals: CenterCropPad,
// Col2Im and GridSample. Target sizes are input values, so they must be known when compiling.
import { normAxis, OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

ops.define("CenterCropPad", (ctx) => {
  const x = ctx.input(0).shape;
  const shape = ctx.ints(1) ?? ctx.invalid("shape is required");
  const axes = ctx.attrs.ints("axes", x.map((_, k) => k)).map((a) => normAxis(ctx, a, x.length));
  if (axes.length !== shape.length) ctx.fail(`shape has ${shape.length} values for ${axes.length} axes`);
  if (shape.some((d) => d < 0)) ctx.invalid(`shape [${shape}] has a negative size`);
  const out = [...x];
  axes.forEach((a, i) => (out[a] = shape[i]));
  return [{ dtype: ctx.input(0).dtype, shape: out }];
}, { lastChange: 18 });

export interface Col2ImGeometry {
  image: number[];
  block: number[];
  strides: number[];
  dilations: number[];
  padBegin: number[];
  /** blocks along each image axis */
  counts: number[];
}

export function col2imGeometry(image: number[], block: number[], attrs: ShapeCtx["attrs"], invalid: (m: string) => never): Col2ImGeometry {
  const r = image.length;
  if (block.length !== r) invalid(`block_shape has ${block.length} dims; image_shape has ${r}`);
  const strides = attrs.ints("strides", new Array(r).fill(1));
  const dilations = attrs.ints("dilations", new Array(r).fill(1));
  const pads = attrs.ints("pads", new Array(2 * r).fill(0));
  if (strides.length !== r || dilations.length !== r || pads.length !== 2 * r) invalid("strides, dilations and pads must match the image rank");
  const counts = image.map((d, a) => Math.floor((d + pads[a] + pads[a + r] - (dilations[a] * (block[a] - 1) + 1)) / strides[a]) + 1);
  if (counts.some((c) => c < 1)) invalid(`blocks [${block}] do not fit image [${image}] with these pads`);
  return { image, block, strides, dilations, padBegin: pads.slice(0, r), counts };
}

ops.define("Col2Im", (ctx) => {
  const x = ctx.input(0);
  ctx.expectDType(0, ["float32", "float64", "float16"]);
  const image = ctx.ints(1) ?? ctx.invalid("image_shape is required");
  const block = ctx.ints(2) ?? ctx.invalid("block_shape is required");
  const g = col2imGeometry(image, block, ctx.attrs, (m) => ctx.invalid(m));
  const per = block.reduce((a, b) => a * b, 1);
  if (x.shape.length !== 3 || x.shape[1] % per !== 0) ctx.fail(`input must be [N, C * ${per}, L]; got [${x.shape}]`);
  const L = g.counts.reduce((a, b) => a * b, 1);
  if (x.shape[2] !== L) ctx.fail(`input has ${x.shape[2]} blocks; image and block shapes give ${L}`);
  return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1] / per, ...image] }];
}, { lastChange: 18 });

const MODES = ["linear", "nearest", "cubic", "bilinear", "bicubic"];
const PADDING = ["zeros", "border", "reflection"];

ops.define("GridSample", (ctx) => {
  const x = ctx.input(0);
  const grid = ctx.input(1).shape;
  ctx.expectDType(0, ["float32", "float64", "float16"]);
  ctx.expectDType(1, ["float32", "float64", "float16"]);
  const r = x.shape.length - 2;
  if (r < 1 || grid.length !== r + 2 || grid[r + 1] !== r || grid[0] !== x.shape[0]) {
    ctx.fail(`grid must be [N, out spatial..., ${r}] for input [${x.shape}]; got [${grid}]`);
  }
  const mode = ctx.attrs.string("mode", ctx.opset >= 20 ? "linear" : "bilinear");
  if (!MODES.includes(mode)) ctx.invalid(`mode ${mode} is not one of ${MODES.join(", ")}`);
  if (!PADDING.includes(ctx.attrs.string("padding_mode", "zeros"))) ctx.invalid(`padding_mode must be one of ${PADDING.join(", ")}`);
  if ((mode === "cubic" || mode === "bicubic") && r !== 2) ctx.unsupported("cubic GridSample is defined for 2-D images only");
  return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...grid.slice(1, r + 1)] }];
}, { lastChange: 20 });

export const IMAGE_OPS = ops.defs;
