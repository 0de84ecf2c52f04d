// Scaled constants: a float32 weight tensor times a vector along one of its axes (inference
// BatchNormalization folded into a Conv's weights is W * s over the output channels), kept as the
// two factors until something reads `data`. A JIT load never does: kernels pack or transform
// their weights when the weights image is written (layer by layer, in the first run), and that is
// when the product is first computed. Folding it at compile time instead ran a module over every
// weight of the model (the light ResNet-50: 24-79 ms of its ~200 ms JIT load, 100 MB touched).
// Each element is Math.fround(w * s): the exact product of two float32 values fits a double,
// so one rounding gives bit for bit what f32.mul (the Mul kernel) gives.
import { sizeOf } from "../../runtime/dtypes.js";
import type { Tensor } from "./graph.js";
import { isLazySplat, splatValue } from "./splat.js";
import { tensorBytes } from "./raw.js";
import { halfScaled } from "./values.js";

/**
 * A float32 constant computed from other constants on the first read of `data`, then kept: the
 * compile passes (CSE, the weights pieces) never read it, so a JIT load leaves the work to the
 * weights image's writing. Scaled constants are one kind; the NHWC layout pass's transposed 1x1
 * weights another.
 */
class DeferredTensor implements Tensor {
  readonly dtype = "float32" as const;
  declare readonly data: Float32Array;
  private full?: Float32Array;

  constructor(readonly dims: number[], private compute?: () => Float32Array) {
    // an own enumerable accessor, as compiler/ir/raw.ts does: `{ ...t }` copies a tensor with its data
    Object.defineProperty(this, "data", { enumerable: true, get: () => this.array() });
  }

  private array(): Float32Array {
    if (!this.full) {
      this.full = this.compute!();
      this.compute = undefined; // the inputs are not needed again
    }
    return this.full;
  }
}

class ScaledTensor extends DeferredTensor {}

/** element i of the result is base[i] * scale[floor(i / inner) % scale.length] */
function multiplied(dims: number[], base: Tensor, scale: Float32Array, inner: number): Float32Array {
  const out = new Float32Array(sizeOf(dims));
  const one = isLazySplat(base) ? splatValue(base) : undefined;
  if (one) {
    const w = Number(one[0]);
    for (let o = 0, c = 0; o < out.length; o += inner, c = (c + 1) % scale.length) out.fill(Math.fround(w * scale[c]), o, o + inner);
    return out;
  }
  // the base's bytes copied in (a raw weight is never decoded into an array of its own), then scaled in place
  new Uint8Array(out.buffer).set(tensorBytes(base));
  for (let o = 0, c = 0; o < out.length; o += inner, c = (c + 1) % scale.length) {
    const f = scale[c];
    for (let i = o; i < o + inner; i++) out[i] = Math.fround(out[i] * f);
  }
  return out;
}

/** A float32 constant of `dims` that `compute` makes when its data is first read. */
export function deferredTensor(dims: readonly number[], compute: () => Float32Array): Tensor {
  return new DeferredTensor([...dims], compute);
}

/**
 * base * scale, where scale runs along `axis` of base (scale.length = base.dims[axis], or 1 for
 * one factor everywhere). base is float32; its data is not read until the result's is.
 */
export function scaledTensor(base: Tensor, scale: Float32Array, axis: number): Tensor {
  const dims = [...base.dims];
  if (base.dtype !== "float32") throw new Error(`scaledTensor: float32 only, got ${base.dtype}`);
  if (scale.length !== 1 && scale.length !== dims[axis]) throw new Error(`scaledTensor: ${scale.length} factors for axis ${axis} of [${dims}]`);
  const inner = scale.length === 1 ? Math.max(1, sizeOf(dims)) : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const factors = Float32Array.from(scale), step = Math.max(1, inner);
  const t = new ScaledTensor(dims, () => multiplied(dims, base, factors, step));
  halfScaled(t, base, factors, step); // a float16 weight's product is derived from its codes in a compact artifact
  return t;
}

/** True for a scaled constant (BatchNormalization folded into weights). */
export const isScaled = (t: Tensor): boolean => t instanceof ScaledTensor;

/** True for any deferred constant, scaled ones included, whose data may not be computed yet: hash or copy it only when needed. */
export const isDeferred = (t: Tensor): boolean => t instanceof DeferredTensor;
