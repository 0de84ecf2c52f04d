// FFTs for DFT and STFT lines: O(N log N) instead of the direct O(N^2) sum. Power-of-two lengths
// run radix-2 directly; other lengths (when they are long enough to pay) run Bluestein's chirp-z
// transform, which rewrites the DFT as a convolution done with two power-of-two FFTs. The prepare
// step builds every table (twiddles, bit reversal, chirp, the chirp filter's spectrum) as f64
// constants; lines are transformed in scratch memory. Sums stay in f64.
import binaryen from "binaryen";
import type { Expr } from "../../fn.js";
import type { KernelCtx, KernelPrep } from "../kernel.js";
import type { Local } from "../../fn.js";

/** Complex sample (re, im) as f64 expressions; im undefined for a real sample. */
export type Sample = [Expr, Expr | undefined];

export interface Transform {
  /** loops around each transform (batch, other axes...) */
  outer: number[];
  /** transform length N (the twiddle period) */
  n: number;
  /** samples summed per bin (may be fewer than N: zero padding) */
  taps: number;
  bins: number;
  /** +1 for the inverse transform */
  sign: 1 | -1;
  scale: number;
  read: (outer: Local[], j: Local) => { stmts: Expr[]; sample: Sample };
  write: (outer: Local[], k: Local, re: Expr, im: Expr) => Expr[];
}


const isPow2 = (n: number) => n >= 2 && (n & (n - 1)) === 0;
/** below this, the direct sum is cheaper than Bluestein's three FFTs */
const BLUESTEIN_MIN = 64;

/** Forward twiddles e^(-2 pi i q/n) for q < n/2, and the bit-reversal permutation. */
function radix2Tables(n: number): { tw: Float64Array; rev: Int32Array } {
  const tw = new Float64Array(n);
  for (let q = 0; q < n / 2; q++) {
    tw[2 * q] = Math.cos((2 * Math.PI * q) / n);
    tw[2 * q + 1] = -Math.sin((2 * Math.PI * q) / n);
  }
  const bits = Math.log2(n);
  const rev = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((j >> b) & 1) << (bits - 1 - b);
    rev[j] = r;
  }
  return { tw, rev };
}

/** In-place forward FFT of interleaved complex data (for the compile-time chirp filter). */
function fftJs(data: Float64Array, n: number): void {
  const { tw, rev } = radix2Tables(n);
  const copy = Float64Array.from(data);
  for (let j = 0; j < n; j++) [data[2 * rev[j]], data[2 * rev[j] + 1]] = [copy[2 * j], copy[2 * j + 1]];
  for (let size = 2; size <= n; size *= 2) {
    for (let i0 = 0; i0 < n; i0 += size) {
      for (let q = 0; q < size / 2; q++) {
        const [wr, wi] = [tw[2 * q * (n / size)], tw[2 * q * (n / size) + 1]];
        const [a, b] = [i0 + q, i0 + q + size / 2];
        const br = data[2 * b] * wr - data[2 * b + 1] * wi;
        const bi = data[2 * b] * wi + data[2 * b + 1] * wr;
        [data[2 * b], data[2 * b + 1]] = [data[2 * a] - br, data[2 * a + 1] - bi];
        [data[2 * a], data[2 * a + 1]] = [data[2 * a] + br, data[2 * a + 1] + bi];
      }
    }
  }
}

const bytes = (a: Float64Array | Int32Array) => new Uint8Array(a.buffer);

/**
 * The tables for t: [twiddles, bit reversal] for a power-of-two length, [twiddles, bit reversal,
 * chirp, filter spectrum] for Bluestein, nothing when the direct sum is the better choice.
 * Forward twiddles serve the inverse transform too: it conjugates its input and output.
 */
/** Whether the FFT runs a transform: every tap within one period, and a power-of-two length or one long enough for Bluestein. */
export function fftRuns(t: Pick<Transform, "n" | "taps">): boolean {
  return t.taps <= t.n && (isPow2(t.n) || t.n >= BLUESTEIN_MIN);
}

export function fftPlan(t: Pick<Transform, "n" | "sign" | "taps">): KernelPrep {
  const n = t.n;
  if (!fftRuns(t)) return {};
  if (isPow2(n)) {
    const { tw, rev } = radix2Tables(n);
    return { constants: [bytes(tw), bytes(rev)], scratchBytes: 16 * n };
  }
  if (n < BLUESTEIN_MIN) return {};
  let M = 1;
  while (M < 2 * n - 1) M *= 2;
  const { tw, rev } = radix2Tables(M);
  // chirp c_j = e^(-pi i j^2 / n); j^2 is reduced mod 2n first so the angle stays small
  const chirp = new Float64Array(2 * n);
  for (let j = 0; j < n; j++) {
    const a = (-Math.PI * ((j * j) % (2 * n))) / n;
    [chirp[2 * j], chirp[2 * j + 1]] = [Math.cos(a), Math.sin(a)];
  }
  // the filter conj(c) laid out circularly over M, and its spectrum
  const filter = new Float64Array(2 * M);
  for (let j = 0; j < n; j++) {
    for (const at of j === 0 ? [0] : [j, M - j]) [filter[2 * at], filter[2 * at + 1]] = [chirp[2 * j], -chirp[2 * j + 1]];
  }
  fftJs(filter, M);
  return { constants: [bytes(tw), bytes(rev), bytes(chirp), bytes(filter)], scratchBytes: 32 * M };
}

export function emitFft(ctx: KernelCtx, t: Transform): void {
  const { m, fn } = ctx;
  const [twAddr, revAddr, chirpAddr, filterAddr] = ctx.constantAddrs;
  const bluestein = chirpAddr !== undefined;
  let M = t.n;
  if (bluestein) for (M = 1; M < 2 * t.n - 1;) M *= 2;
  const f64 = () => fn.local(binaryen.f64);
  const [ar, ai, br, bi, wr, wi, xr, xi] = [f64(), f64(), f64(), f64(), f64(), f64(), f64(), f64()];
  const [i, r] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const at16 = (e: Expr) => m.i32.shl(e, m.i32.const(4));
  // a line of complex f64 at `base`: element e has re at base + 16e, im at base + 16e + 8
  const line = (base: number) => ({
    re: (e: Expr) => m.f64.load(base, 8, at16(e)),
    im: (e: Expr) => m.f64.load(base + 8, 8, at16(e)),
    put: (e: Expr, vr: Expr, vi: Expr) => [m.f64.store(base, 8, at16(e), vr), m.f64.store(base + 8, 8, at16(e), vi)],
  });
  const table = (addr: number) => ({ re: (e: Expr) => m.f64.load(addr, 8, at16(e)), im: (e: Expr) => m.f64.load(addr + 8, 8, at16(e)) });
  const revOf = (e: Expr) => m.i32.load(revAddr, 4, m.i32.shl(e, m.i32.const(2)));
  const tw = table(twAddr);
  const A = line(ctx.scratchAddr);
  const B = line(ctx.scratchAddr + 16 * M);

  /** in-place radix-2 stages over a bit-reversed line */
  const stages = (L: ReturnType<typeof line>): Expr[] => {
    const out: Expr[] = [];
    for (let size = 2; size <= M; size *= 2) {
      const half = size / 2;
      out.push(fn.nest([M / size, half], ([blk, q]) => [
        i.set(m.i32.add(m.i32.mul(blk.get(), m.i32.const(size)), q.get())),
        wr.set(tw.re(m.i32.mul(q.get(), m.i32.const(M / size)))),
        wi.set(tw.im(m.i32.mul(q.get(), m.i32.const(M / size)))),
        xr.set(L.re(m.i32.add(i.get(), m.i32.const(half)))),
        xi.set(L.im(m.i32.add(i.get(), m.i32.const(half)))),
        br.set(m.f64.sub(m.f64.mul(xr.get(), wr.get()), m.f64.mul(xi.get(), wi.get()))),
        bi.set(m.f64.add(m.f64.mul(xr.get(), wi.get()), m.f64.mul(xi.get(), wr.get()))),
        ar.set(L.re(i.get())), ai.set(L.im(i.get())),
        ...L.put(i.get(), m.f64.add(ar.get(), br.get()), m.f64.add(ai.get(), bi.get())),
        ...L.put(m.i32.add(i.get(), m.i32.const(half)), m.f64.sub(ar.get(), br.get()), m.f64.sub(ai.get(), bi.get())),
      ]));
    }
    return out;
  };

  // the inverse transform runs forward on conjugated data: conj on the way in and out
  const inv = t.sign === 1;
  const conjIf = (v: Expr) => (inv ? m.f64.neg(v) : v);
  const gather = (o: Parameters<Transform["read"]>[0], weight?: ReturnType<typeof table>) => fn.loop(t.taps, (j) => {
    const { stmts, sample } = t.read(o, j);
    const [sr, si] = [sample[0], conjIf(sample[1] ?? m.f64.const(0))];
    if (!weight) return [...stmts, r.set(revOf(j.get())), ...A.put(r.get(), sr, si)];
    // a_j = x_j * c_j, in natural order (the convolution's FFT gathers it again)
    return [...stmts, xr.set(sr), xi.set(si),
      ...B.put(j.get(), m.f64.sub(m.f64.mul(xr.get(), weight.re(j.get())), m.f64.mul(xi.get(), weight.im(j.get()))),
        m.f64.add(m.f64.mul(xr.get(), weight.im(j.get())), m.f64.mul(xi.get(), weight.re(j.get()))))];
  });
  const zero = (L: ReturnType<typeof line>, count: number) => fn.loop(count, (j) => L.put(j.get(), m.f64.const(0), m.f64.const(0)));

  if (!bluestein) {
    fn.emit(fn.nest(t.outer, (o) => [
      t.taps < M ? zero(A, M) : m.nop(),
      gather(o),
      ...stages(A),
      fn.loop(t.bins, (k) => t.write(o, k, m.f64.mul(A.re(k.get()), m.f64.const(t.scale)), m.f64.mul(conjIf(A.im(k.get())), m.f64.const(t.scale)))),
    ]));
    return;
  }
  const chirp = table(chirpAddr);
  const filter = table(filterAddr);
  const scale = t.scale / M;
  fn.emit(fn.nest(t.outer, (o) => [
    zero(B, M),
    gather(o, chirp),
    // FFT(a): bit-reverse B into A, then the stages
    fn.loop(M, (e) => [r.set(revOf(e.get())), ...A.put(r.get(), B.re(e.get()), B.im(e.get()))]),
    ...stages(A),
    // times the filter spectrum, conjugated and bit-reversed into B: FFT of that is M * conj(a * filter)
    fn.loop(M, (e) => [
      xr.set(A.re(e.get())), xi.set(A.im(e.get())), wr.set(filter.re(e.get())), wi.set(filter.im(e.get())),
      r.set(revOf(e.get())),
      ...B.put(r.get(), m.f64.sub(m.f64.mul(xr.get(), wr.get()), m.f64.mul(xi.get(), wi.get())),
        m.f64.neg(m.f64.add(m.f64.mul(xr.get(), wi.get()), m.f64.mul(xi.get(), wr.get())))),
    ]),
    ...stages(B),
    // X_k = c_k * conj(B_k) / M
    fn.loop(t.bins, (k) => [
      xr.set(B.re(k.get())), xi.set(m.f64.neg(B.im(k.get()))), wr.set(chirp.re(k.get())), wi.set(chirp.im(k.get())),
      ...t.write(o, k,
        m.f64.mul(m.f64.sub(m.f64.mul(xr.get(), wr.get()), m.f64.mul(xi.get(), wi.get())), m.f64.const(scale)),
        m.f64.mul(conjIf(m.f64.add(m.f64.mul(xr.get(), wi.get()), m.f64.mul(xi.get(), wr.get()))), m.f64.const(scale))),
    ]),
  ]));
}
