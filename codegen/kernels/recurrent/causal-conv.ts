// CausalConvWithState (opset 27): a depthwise causal 1-D convolution over (batch, channels, length)
// that reads its left context from past_state (zeros when absent) and returns the last k - 1
// positions of [past_state, input] as present_state; optionally SiLU on the output.
//
// Per (batch, channel) row, without building the padded row: output t reads
// padded[t .. t + k), padded = [past (k - 1), input (L)], so
//   head  t < k - 1: the first k - 1 - t taps read past, the rest input (scalar: at most k - 1 outputs)
//   body  t >= k - 1: every tap reads input[t - k + 1 + j] (float32: four outputs per f32x4 step)
// present_state is two copies whose lengths are known at compile time. With k <= 8 the taps are
// unrolled into locals, so a decode step (L = 1) is straight-line code: k multiply-adds and a
// shift of k - 1 state values per channel. Threads split the rows; a symbolic batch or length
// bounds the loops by this run's. float16 reaches here as float32 (widen-float16);
// bfloat16 takes the scalar paths, computed in float32 and rounded once per stored value.
import binaryen from "binaryen";
import { causalConvGeometry, type CausalConvGeometry } from "../../../compiler/ops/recurrent-state.js";
import { dtype } from "../../../runtime/dtypes.js";
import { KilnError } from "../../../runtime/errors.js";
import type { Expr, Local, Trips } from "../../fn.js";
import { inlineVector } from "../../math/vector.js";
import { splitItems } from "../../threads.js";
import { load, store, wasmType } from "../../memory.js";
import { variant, type KernelCtx, type LayerCtx, type TensorRef } from "../kernel.js";

/** taps unrolled into locals up to this kernel size; past it, loops over taps */
const MAX_UNROLLED = 8;
/** state copies of up to this many bytes are unrolled loads and stores, longer ones memory.copy */
const MAX_INLINE_COPY = 32;

type Ix = number | { e: () => Expr };

export interface CausalConvPlan {
  geo: CausalConvGeometry;
  simd: boolean;
}

function plan(layer: LayerCtx): CausalConvPlan {
  const invalid = (m: string): never => { throw new KilnError("INVALID_MODEL", m, layer.context()); };
  const geo = causalConvGeometry(layer.attrs, layer.inputs.map((t) => t?.dims), invalid);
  return { geo, simd: layer.input(0).dtype === "float32" };
}

/** `bytes` bytes from src + srcOff to dst + dstOff (i32 byte-offset locals plus static addresses) */
function copyBytes(m: binaryen.Module, dst: Local, dstAddr: number, src: Local, srcAddr: number, bytes: number): Expr[] {
  if (bytes <= 0) return [];
  if (bytes > MAX_INLINE_COPY) return [m.memory.copy(m.i32.add(dst.get(), m.i32.const(dstAddr)), m.i32.add(src.get(), m.i32.const(srcAddr)), m.i32.const(bytes))];
  const out: Expr[] = [];
  for (let o = 0; o < bytes;) {
    const w = bytes - o >= 4 ? 4 : 2; // element sizes are 2, 4 or 8 bytes
    out.push(w === 4 ? m.i32.store(dstAddr + o, 1, dst.get(), m.i32.load(srcAddr + o, 1, src.get()))
      : m.i32.store16(dstAddr + o, 1, dst.get(), m.i32.load16_u(srcAddr + o, 1, src.get())));
    o += w;
  }
  return out;
}

function zeroBytes(m: binaryen.Module, dst: Local, dstAddr: number, bytes: number): Expr[] {
  if (bytes <= 0) return [];
  return [m.memory.fill(m.i32.add(dst.get(), m.i32.const(dstAddr)), m.i32.const(0), m.i32.const(bytes))];
}

function emit(ctx: KernelCtx, p: CausalConvPlan): void {
  const { m, fn } = ctx;
  const { batch: B, channels: C, length: L, kernel: K, silu } = p.geo;
  const S = K - 1;
  const [x, w] = [ctx.input(0), ctx.input(1)];
  const bias = ctx.inputs[2], past = ctx.inputs[3];
  const [y, present] = [ctx.outputs[0], ctx.outputs[1]];
  const dt = x.dtype, eb = dtype(dt).bytes;
  const ft = wasmType(dt);
  const F = ft === binaryen.f64 ? m.f64 : m.f32;
  const prec = ft === binaryen.f64 ? "f64" : "f32";
  const unrolled = K <= MAX_UNROLLED;

  // byte offsets of the row in input/output, in the states, and of the channel's taps
  const [xo, so, wo] = [0, 1, 2].map(() => fn.local(binaryen.i32));
  const [xb, ch] = [fn.local(binaryen.i32), fn.local(binaryen.i32)]; // ch: the row's channel
  const acc = fn.local(ft), tmp = fn.local(ft), bv = fn.local(ft);
  const vacc = fn.local(binaryen.v128), vb = fn.local(binaryen.v128);
  const wl = unrolled ? Array.from({ length: K }, () => fn.local(ft)) : [];
  const wv = unrolled && p.simd ? Array.from({ length: K }, () => fn.local(binaryen.v128)) : [];

  // symbolic dims (read in the padded layout: rows keep the bounds' strides): a varying batch is a
  // loop count, a varying length `len`, this run's, that bounds the head, body and state copies
  if (ctx.runtimeDim(x, 1) !== undefined) ctx.unsupported(`CausalConvWithState takes a symbolic batch or length, not channels: ${ctx.pinHintOf(x, 1)}`);
  const runLength = ctx.runtimeDim(x, 2);
  const varying = runLength !== undefined;
  const len = fn.local(binaryen.i32);
  const batches: Trips = ctx.runtimeDim(x, 0) !== undefined ? () => ctx.runtimeDim(x, 0)! : B;

  // an element index: a number known at compile time, or an i32 expression (binaryen's
  // expressions are numbers too, hence the box)
  const dyn = (e: () => Expr): Ix => ({ e });
  const expr = (i: Ix) => (typeof i === "number" ? m.i32.const(i) : i.e());
  const plus = (i: Ix, j: Ix): Ix => (typeof i === "number" && typeof j === "number" ? i + j : dyn(() => m.i32.add(expr(i), expr(j))));
  const minus = (i: Ix, j: number): Ix => (typeof i === "number" ? i - j : dyn(() => m.i32.sub(i.e(), m.i32.const(j))));
  /** ptr (a byte-offset local) + addr + i elements of eb bytes: the pointer and the static offset */
  const address = (ptr: Local, addr: number, i: Ix): [Expr, number] => (typeof i === "number"
    ? [ptr.get(), addr + i * eb] : [m.i32.add(ptr.get(), m.i32.mul(i.e(), m.i32.const(eb))), addr]);
  const at = (t: TensorRef, off: Local, i: Ix) => { const [ptr, o] = address(off, t.addr, i); return load(m, t.dtype, ptr, o); };
  const tap = (j: Ix) => (typeof j === "number" && unrolled ? wl[j].get() : at(w, wo, j));
  const act = (v: Expr): Expr => (silu ? m.block(null, [tmp.set(v), F.mul(tmp.get(), ctx.math.call("sigmoid", prec, tmp.get()))], ft) : v);
  const act4 = (v: Local): Expr => (silu ? m.f32x4.mul(v.get(), inlineVector(m, fn, "sigmoid", v.get()) ?? ctx.math.call4("sigmoid", v.get())) : v.get());
  const put = (t: Ix, v: Expr) => { const [ptr, o] = address(xo, y!.addr, t); return store(m, dt, ptr, act(v), o); };

  /** acc += w[j] * value(j) over taps j in [from, to) */
  const sum = (from: Ix, to: Ix, value: (j: Ix) => Expr): Expr[] => {
    if (typeof from === "number" && typeof to === "number" && unrolled) {
      const out: Expr[] = [];
      for (let j = from; j < to; j++) out.push(acc.set(F.add(acc.get(), F.mul(tap(j), value(j)))));
      return out;
    }
    return [fn.loopDyn(expr(from), expr(to), (j) => {
      const jx = dyn(() => j.get());
      return [acc.set(F.add(acc.get(), F.mul(tap(jx), value(jx))))];
    })];
  };

  // head: outputs t < min(L, k - 1), whose first k - 1 - t taps read past (or zeros)
  const headLen = Math.min(L, S);
  const headOne = (t: Ix): Expr[] => {
    const split: Ix = typeof t === "number" ? S - t : dyn(() => m.i32.sub(m.i32.const(S), t.e()));
    return [
      acc.set(bv.get()),
      ...(past ? sum(0, split, (j) => at(past, so, plus(j, t))) : []),
      ...sum(split, K, (j) => at(x, xo, minus(plus(j, t), S))),
      put(t, acc.get()),
    ];
  };
  // with a varying length (headLen at its bound) each head output is guarded by t < len
  const guarded = (t: Ix, code: Expr[]): Expr[] => (varying ? [m.if(m.i32.lt_s(expr(t), len.get()), fn.block(code))] : code);
  const head: Expr[] = unrolled ? Array.from({ length: headLen }, (_, t) => guarded(t, headOne(t))).flat()
    : [fn.loop(headLen, (t) => guarded(dyn(() => t.get()), headOne(dyn(() => t.get()))))];

  // body: t >= k - 1, every tap reads input; xb is the byte offset of input[t - k + 1]
  const bodyLen = Math.max(0, L - S);
  const wide = p.simd ? bodyLen - (bodyLen % 4) : 0;
  const setBase = (t: Local) => xb.set(m.i32.add(xo.get(), m.i32.mul(m.i32.sub(t.get(), m.i32.const(S)), m.i32.const(eb))));
  const vecTaps = (): Expr[] => {
    const term = (wj: Expr, j: Ix) => { const [ptr, o] = address(xb, x.addr, j); return m.f32x4.mul(wj, m.v128.load(o, 4, ptr)); };
    if (unrolled) return wv.map((v, j) => vacc.set(m.f32x4.add(vacc.get(), term(v.get(), j))));
    return [fn.loop(K, (j) => [vacc.set(m.f32x4.add(vacc.get(), term(m.f32x4.splat(tap(dyn(() => j.get()))), dyn(() => j.get()))))])];
  };
  const vecStep = (t: Local): Expr[] => [
    setBase(t), vacc.set(vb.get()), ...vecTaps(),
    m.v128.store(y!.addr, 4, m.i32.add(xo.get(), m.i32.mul(t.get(), m.i32.const(4))), act4(vacc)),
  ];
  const scalarStep = (t: Local): Expr[] => [setBase(t), acc.set(bv.get()), ...sum(0, K, (j) => at(x, xb, j)), put(dyn(() => t.get()), acc.get())];

  // this run's length: f32x4 steps from k - 1 while four outputs remain, then the scalar tail
  const vecEnd = fn.local(binaryen.i32);
  const dynamicBody = (): Expr[] => [
    vecEnd.set(p.simd ? m.select(m.i32.add(m.i32.const(S), m.i32.and(m.i32.sub(len.get(), m.i32.const(S)), m.i32.const(-4))), m.i32.const(S), m.i32.gt_s(len.get(), m.i32.const(S))) : m.i32.const(S)),
    ...(p.simd ? [fn.loopDyn(m.i32.const(S), vecEnd.get(), vecStep, 4)] : []),
    fn.loopDyn(vecEnd.get(), len.get(), scalarStep),
  ];

  // present_state: positions L .. L + k - 1 of [past, input]
  const state: Expr[] = [];
  if (present && S > 0 && varying) {
    // present[j] = len + j < k - 1 ? past[len + j] : input[len + j - k + 1]
    const one = (j: Ix): Expr[] => {
      const pos = plus(dyn(() => len.get()), j);
      const put = (v: Expr) => { const [ptr, o] = address(so, present.addr, j); return store(m, dt, ptr, v, o); };
      return [m.if(m.i32.lt_s(expr(pos), m.i32.const(S)), put(past ? at(past, so, pos) : F.const(0)), put(at(x, xo, minus(pos, S))))];
    };
    state.push(...(unrolled ? Array.from({ length: S }, (_, j) => one(j)).flat() : [fn.loop(S, (j) => one(dyn(() => j.get())))]));
  } else if (present && S > 0) {
    const fromPast = Math.max(0, S - L); // present[0 .. fromPast) = past[L .. S)
    if (past) state.push(...copyBytes(m, so, present.addr, so, past.addr + Math.min(L, S) * eb, fromPast * eb));
    else state.push(...zeroBytes(m, so, present.addr, fromPast * eb));
    const n = S - fromPast; // present[fromPast .. S) = input[L - n .. L)
    state.push(...copyBytes(m, so, present.addr + fromPast * eb, xo, x.addr + (L - n) * eb, n * eb));
  }

  const conv: Expr[] = !y ? [] : [
    ...head,
    ...(varying ? dynamicBody() : [
      fn.loop(S + wide, vecStep, { start: S, step: 4 }),
      fn.loop(L, scalarStep, { start: S + wide }),
    ]),
  ];
  if (varying) fn.emit(len.set(runLength));
  // one item per (batch, channel) row, each writing its own output row and state: threads split them
  const rows: Trips = typeof batches === "number" ? batches * C : () => m.i32.mul(batches(), m.i32.const(C));
  const threads = rows === 1 ? undefined : ctx.splitAmong();
  const item = (r: Local): Expr[] => [
    ch.set(m.i32.rem_u(r.get(), m.i32.const(C))),
    xo.set(m.i32.mul(r.get(), m.i32.const(L * eb))),
    so.set(m.i32.mul(r.get(), m.i32.const(S * eb))),
    wo.set(m.i32.mul(ch.get(), m.i32.const(K * eb))),
    ...(y ? [
      bv.set(bias ? load(m, bias.dtype, m.i32.mul(ch.get(), m.i32.const(eb)), bias.addr) : F.const(0)),
      ...wl.map((l, j) => l.set(at(w, wo, j))),
      ...wv.map((v, j) => v.set(m.f32x4.splat(wl[j].get()))),
      ...(p.simd && wide ? [vb.set(m.f32x4.splat(bv.get()))] : []),
    ] : []),
    ...conv,
    ...state,
  ];
  fn.emit(splitItems(fn, threads, rows, item));
}

export const CAUSAL_CONV = variant<CausalConvPlan>({ name: "rows", plan, emit });
