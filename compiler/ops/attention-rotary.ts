// RotaryEmbedding (opset 23): Y has X's shape. The geometry (heads, head size, rotated width, cache
// layout) is shared with the kernel through rotaryGeometry.
import type { Attrs } from "../ir/attrs.js";
import { OpTable } from "./registry.js";

const ops = new OpTable();

export interface RotaryGeometry {
  batch: number;
  seq: number;
  heads: number;
  headSize: number;
  /** leading channels of each head that rotate (even) */
  rotary: number;
  /** element strides of X and Y for (batch, position, head) */
  strides: [number, number, number];
  /** length of a cache row (>= rotary / 2; only the first rotary / 2 entries are used) */
  cacheRow: number;
}

export function rotaryGeometry(attrs: Attrs, x: readonly number[], cos: readonly number[], sin: readonly number[],
  positions: readonly number[] | undefined, bad: (message: string) => never): RotaryGeometry {
  let g: Omit<RotaryGeometry, "rotary" | "cacheRow">;
  if (x.length === 4) {
    const [batch, heads, seq, headSize] = x;
    g = { batch, seq, heads, headSize, strides: [heads * seq * headSize, headSize, seq * headSize] };
  } else if (x.length === 3) {
    const heads = attrs.int("num_heads", 0);
    if (heads <= 0) bad("3-D input needs a positive num_heads attribute");
    const [batch, seq, hidden] = x;
    if (hidden % heads) bad(`hidden size ${hidden} does not divide by num_heads ${heads}`);
    g = { batch, seq, heads, headSize: hidden / heads, strides: [seq * hidden, hidden, hidden / heads] };
  } else {
    return bad(`input must be 3-D (batch, seq, hidden) or 4-D (batch, heads, seq, head_size), not rank ${x.length}`);
  }
  const rotary = attrs.int("rotary_embedding_dim", 0) || g.headSize;
  if (rotary % 2 || rotary > g.headSize) bad(`rotary_embedding_dim ${rotary} must be even and at most the head size ${g.headSize}`);
  if (cos.join(",") !== sin.join(",")) bad("cos_cache and sin_cache must have the same shape");
  const cacheRow = cos[cos.length - 1];
  if (cacheRow < rotary / 2) bad(`the caches hold ${cacheRow} frequencies per position; rotating ${rotary} channels needs ${rotary / 2}`);
  if (positions) {
    if (positions.join(",") !== [g.batch, g.seq].join(",")) bad(`position_ids must be (batch, seq) = (${g.batch}, ${g.seq})`);
    if (cos.length !== 2) bad("with position_ids the caches must be 2-D (max_position, rotary_dim / 2)");
  } else if (cos.length !== 3 || cos[0] !== g.batch || cos[1] !== g.seq) {
    bad(`without position_ids the caches must be (batch, seq, rotary_dim / 2) = (${g.batch}, ${g.seq}, ...)`);
  }
  return { ...g, rotary, cacheRow };
}

ops.define("RotaryEmbedding", (ctx) => {
  const x = ctx.input(0);
  const dt = ctx.expectDType(0, ["float32", "float16", "float64"]);
  for (const i of [1, 2]) if (ctx.input(i).dtype !== dt) ctx.invalid(`input ${i} must have the input's type ${dt}`);
  const pos = ctx.optional(3);
  if (pos && pos.dtype !== "int64") ctx.invalid(`position_ids must be int64, not ${pos.dtype}`);
  rotaryGeometry(ctx.attrs, x.shape, ctx.input(1).shape, ctx.input(2).shape, pos?.shape, (msg) => ctx.fail(msg));
  return [{ dtype: dt, shape: [...x.shape] }];
}, { lastChange: 23 });

export const ROTARY_OPS = ops.defs;
