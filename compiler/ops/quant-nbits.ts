// com.microsoft MatMulNBits: Y = A B^T (+ bias) with B's weights stored block-wise in 4 or 8 bits,
// as onnxruntime's MatMulNBitsQuantizer writes them (transformers.js's 4-bit language models).
//   A        float32 [..., K] (or float16: q4f16, widened to float32 as the graph is)
//   B        uint8 [N, k_blocks, blob] (blob = block_size * bits / 8), element k of row n in block
//            k / block_size, low bits first
//   scales   float32 [N * k_blocks] (or [N, k_blocks])
//   zero_points  optional: uint8 [N * ceil(k_blocks * bits / 8)] packed like B (default 2^(bits-1)),
//            or float32 [N * k_blocks]
//   g_idx    optional, not supported (act-order quantization)
//   bias     optional float32 [N] (A's type, as scales and float zero points)
// Attributes K, N, bits, block_size, accuracy_level (kiln computes in float32, as level 0 does).
import { CONTRIB_DOMAIN } from "./opsets.js";
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

export const NBITS_DOMAIN = CONTRIB_DOMAIN;

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function checkNBits(ctx: ShapeCtx): { K: number; N: number } {
  const K = ctx.attrs.int("K", 0), N = ctx.attrs.int("N", 0);
  const bits = ctx.attrs.int("bits", 4), bs = ctx.attrs.int("block_size", 0);
  if (K <= 0 || N <= 0) ctx.invalid(`K and N must be positive, got K=${K}, N=${N}`);
  if (bits !== 4 && bits !== 8) ctx.unsupported(`bits=${bits} (kiln runs 4- and 8-bit MatMulNBits)`);
  if (bs < 16 || (bs & (bs - 1)) !== 0) ctx.invalid(`block_size must be a power of 2 of at least 16, got ${bs}`);
  const blocks = Math.ceil(K / bs), blob = (bs * bits) / 8;
  const a = ctx.input(0);
  if (a.shape.length < 1 || a.shape[a.shape.length - 1] !== K) ctx.fail(`A's last dim must be K=${K}, got [${a.shape}]`);
  const b = ctx.input(1);
  if (b.dtype !== "uint8") ctx.invalid(`B must be uint8, got ${b.dtype}`);
  if (size(b.shape) !== N * blocks * blob) ctx.fail(`B must hold [${N}, ${blocks}, ${blob}] bytes, got [${b.shape}]`);
  const scales = ctx.input(2);
  if (scales.dtype !== a.dtype) ctx.invalid(`scales must be ${a.dtype}, got ${scales.dtype}`);
  if (size(scales.shape) !== N * blocks) ctx.fail(`scales must hold ${N * blocks} values (N x k_blocks), got [${scales.shape}]`);
  const zp = ctx.optional(3);
  if (zp) {
    const packed = N * Math.ceil((blocks * bits) / 8);
    if (zp.dtype === "uint8" ? size(zp.shape) !== packed : zp.dtype !== a.dtype || size(zp.shape) !== N * blocks) {
      ctx.fail(`zero_points must be uint8 [${packed}] (packed) or ${a.dtype} [${N * blocks}], got ${zp.dtype}[${zp.shape}]`);
    }
  }
  if (ctx.optional(4)) ctx.unsupported("g_idx (act-order quantization) is not supported");
  const bias = ctx.optional(5);
  if (bias && (bias.dtype !== a.dtype || size(bias.shape) !== N)) ctx.fail(`bias must be ${a.dtype} [${N}], got ${bias.dtype}[${bias.shape}]`);
  return { K, N };
}

ops.define("MatMulNBits", (ctx) => {
  // float16 A (transformers.js's q4f16 form): the graph is widened to float32 as preparation ends
  // (passes/widen-float16.ts), scales, zero points and bias with it; the kernels run float32
  const dt = ctx.expectDType(0, ["float32", "float16"]);
  const { N } = checkNBits(ctx);
  const a = ctx.input(0).shape;
  return [{ dtype: dt, shape: [...a.slice(0, -1), N] }];
}, { arity: [3, 6], domain: NBITS_DOMAIN, traits: ["epilogue-anchor"], anchor: { bias: 5, channelAxis: -1, costly: true },
  // a multiply-add per weight per row of A: 2 * outputs * K
  flops: (node, _inputs, [y]) => 2 * size([...(y ?? [])]) * (node.attrs.K?.type === "int" ? (node.attrs.K.value as number) : 0) });

export const NBITS_OPS = ops.defs;
