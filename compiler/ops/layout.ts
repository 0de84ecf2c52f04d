// Shape rules for the ops the NHWC layout pass (passes/layout-nhwc.ts) puts in a graph: domain
// kiln.layout, tensors channels-last ([N, H, W, C]).
import { slidingWindow } from "./nn-geometry.js";
import { OpTable } from "./registry.js";

const ops = new OpTable();

export const LAYOUT_DOMAIN = "kiln.layout";

/**
 * DepthwiseConvNhwc(X [N, H, W, C], W [C, 1, kh, kw], B? [C]) -> [N, OH, OW, C]: Conv with
 * group = C on a channels-last image (the weights keep ONNX's layout); Conv's window attributes.
 */
ops.define("DepthwiseConvNhwc", (ctx) => {
  const dt = ctx.expectDType(0, ["float32"]);
  const x = ctx.input(0).shape, w = ctx.input(1).shape;
  if (x.length !== 4) ctx.invalid(`input must be [N, H, W, C]; got rank ${x.length}`);
  if (w.length !== 4 || w[0] !== x[3] || w[1] !== 1) ctx.fail(`weights must be [${x[3]}, 1, kh, kw]; got [${w}]`);
  const b = ctx.optional(2);
  if (b && (b.shape.length !== 1 || b.shape[0] !== x[3])) ctx.fail(`bias must be [${x[3]}]`);
  const win = slidingWindow(ctx.attrs, [x[1], x[2]], [w[2], w[3]]);
  return [{ dtype: dt, shape: [x[0], win.out[0], win.out[1], x[3]] }];
}, { domain: LAYOUT_DOMAIN, traits: ["epilogue-anchor"], anchor: { bias: 2, channelAxis: -1 },
  flops: (_n, [, w], [y]) => 2 * y.reduce((a, d) => a * d, 1) * w[2] * w[3] });

export const LAYOUT_OPS = ops.defs;
