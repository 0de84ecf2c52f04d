// Shape rules for DFT and STFT. Signals carry a last dim of 1 (real) or 2 (complex); the
// transform length, axis and frame sizes are input values and must be known when compiling.
import { OpTable, type ShapeCtx } from "./registry.js";

const ops = new OpTable();

const FLOATS = ["float32", "float64", "float16"] as const;

export interface DftGeometry {
  axis: number;
  /** the transform length */
  n: number;
  inverse: boolean;
  onesided: boolean;
  /** inverse + onesided: a half spectrum in, a real signal out */
  irfft: boolean;
}

/** Axis, length and mode of a DFT node, from its attributes and (frozen) inputs. */
export function dftGeometry(dims: number[], opset: number, attrs: ShapeCtx["attrs"], ints: (i: number) => number[] | undefined, invalid: (m: string) => never): DftGeometry {
  const rank = dims.length;
  const a = opset >= 20 ? (ints(2)?.[0] ?? -2) : attrs.int("axis", 1);
  const axis = a < 0 ? a + rank : a;
  if (axis < 1 || axis > rank - 2) invalid(`DFT axis ${a} must name a signal axis (1..${rank - 2}) of [${dims}]`);
  const inverse = attrs.int("inverse", 0) === 1;
  const onesided = attrs.int("onesided", 0) === 1;
  const irfft = inverse && onesided;
  const given = ints(1)?.[0];
  const n = given ?? (irfft ? 2 * (dims[axis] - 1) : dims[axis]);
  if (n < 1) invalid(`dft_length ${n} must be positive`);
  return { axis, n, inverse, onesided, irfft };
}

function signalDims(ctx: ShapeCtx, i: number): number[] {
  ctx.expectDType(i, FLOATS);
  const x = ctx.input(i).shape;
  const last = x[x.length - 1];
  if (x.length < 3 || (last !== 1 && last !== 2)) ctx.invalid(`signal must be [batch, ..., 1 or 2]; got [${x}]`);
  return x;
}

ops.define("DFT", (ctx) => {
  const x = signalDims(ctx, 0);
  const g = dftGeometry(x, ctx.opset, ctx.attrs, (i) => ctx.ints(i), (m) => ctx.invalid(m));
  if (g.irfft && x[x.length - 1] !== 2) ctx.invalid("an inverse one-sided DFT takes a complex half spectrum");
  const len = g.irfft ? g.n : g.onesided ? Math.floor(g.n / 2) + 1 : g.n;
  const shape = x.map((d, k) => (k === g.axis ? len : d));
  shape[shape.length - 1] = g.irfft ? 1 : 2;
  return [{ dtype: ctx.input(0).dtype, shape }];
}, { lastChange: 20 });

export interface StftGeometry {
  step: number;
  frameLength: number;
  frames: number;
  bins: number;
}

export function stftGeometry(len: number, onesided: boolean, step: number, window: number | undefined, frameLength: number | undefined, invalid: (m: string) => never): StftGeometry {
  const L = frameLength ?? window ?? invalid("STFT needs a window or a frame_length");
  if (window !== undefined && window !== L) invalid(`window length ${window} differs from frame_length ${L}`);
  if (step < 1 || L < 1 || L > len) invalid(`frame_step ${step} and frame_length ${L} do not fit a signal of ${len}`);
  return { step, frameLength: L, frames: Math.floor((len - L) / step) + 1, bins: onesided ? Math.floor(L / 2) + 1 : L };
}

ops.define("STFT", (ctx) => {
  const x = signalDims(ctx, 0);
  if (x.length !== 3) ctx.invalid(`STFT signal must be [batch, length, 1 or 2]; got [${x}]`);
  const w = ctx.optional(2);
  if (w && w.shape.length !== 1) ctx.invalid("STFT window must be 1-D");
  const onesided = ctx.attrs.int("onesided", 1) === 1;
  if (onesided && x[2] === 2) ctx.invalid("a one-sided STFT needs a real signal");
  const g = stftGeometry(x[1], onesided, ctx.ints(1)?.[0] ?? ctx.invalid("frame_step is required"), w?.shape[0], ctx.ints(3)?.[0], (m) => ctx.invalid(m));
  return [{ dtype: ctx.input(0).dtype, shape: [x[0], g.frames, g.bins, 2] }];
}, { lastChange: 17 });

export const DFT_OPS = ops.defs;
