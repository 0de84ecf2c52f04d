// Shape rules for detection post-processing whose output length the input values decide as the
// model runs: NonMaxSuppression. Its count of boxes kept is a data-dependent dim (ShapeCtx.dataDim):
// compile() and load() make it a symbol of its own, 0 up to the most the inputs' dims allow, that
// the node's kernel writes as it runs (docs/ARCHITECTURE.md "Data-dependent dims").
import { toNumbers } from "../ir/values.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

/**
 * The most boxes a NonMaxSuppression keeps per batch and class: its max_output_boxes_per_class
 * where that is a constant (absent or empty: 0, none kept; negative counts as 0), capped by the
 * boxes there are; undefined when it is known only at run time (then every box may be kept).
 */
export function nmsPerClass(ctx: ShapeCtx, boxes: number): number | undefined {
  const m = ctx.optional(2);
  if (!m) return 0;
  if (!m.value) return undefined;
  const v = toNumbers(m.value);
  return v.length ? Math.min(Math.max(v[0], 0), boxes) : 0;
}

ops.define("NonMaxSuppression", (ctx) => {
  const [boxes, scores] = [ctx.input(0), ctx.input(1)];
  ctx.expectDType(0, ["float32"]);
  ctx.expectDType(1, ["float32"]);
  if (boxes.shape.length !== 3 || boxes.shape[2] !== 4) ctx.fail(`boxes must be [batches, boxes, 4], got [${boxes.shape.join(",")}]`);
  if (scores.shape.length !== 3) ctx.fail(`scores must be [batches, classes, boxes], got [${scores.shape.join(",")}]`);
  const [b, n] = boxes.shape;
  if (scores.shape[0] !== b || scores.shape[2] !== n) ctx.fail(`scores [${scores.shape.join(",")}] must be [${b}, classes, ${n}] for boxes [${boxes.shape.join(",")}]`);
  const cpb = ctx.attrs.int("center_point_box", 0);
  if (cpb !== 0 && cpb !== 1) ctx.invalid(`center_point_box must be 0 or 1, got ${cpb}`);
  const scalar = (i: number, dts: ("int64" | "float32")[], what: string) => {
    const x = ctx.optional(i);
    if (!x) return;
    ctx.expectDType(i, dts);
    if (x.shape.reduce((a, d) => a * d, 1) > 1) ctx.fail(`${what} must hold one value, got [${x.shape.join(",")}]`);
  };
  scalar(2, ["int64"], "max_output_boxes_per_class");
  scalar(3, ["float32"], "iou_threshold");
  scalar(4, ["float32"], "score_threshold");
  const perClass = nmsPerClass(ctx, n) ?? n;
  const most = b * scores.shape[1] * perClass;
  // none can be kept: an empty constant
  if (most === 0) return [{ dtype: "int64", shape: [0, 3], value: { dtype: "int64", dims: [0, 3], data: new BigInt64Array(0) } }];
  return [{ dtype: "int64", shape: [ctx.dataDim(most), 3] }];
}, { lastChange: 11, arity: [2, 5], traits: ["data-dependent"] });

export const DETECTION_OPS = ops.defs;
