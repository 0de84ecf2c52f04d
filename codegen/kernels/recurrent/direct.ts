// The "direct" variant of RNN, GRU and LSTM: any float type (float16 computed in float32), W, R, B
// and P read in place whether constants or not. Per step and active batch row, each gate's
// pre-activation is summed in scalar loops into a row of scratch, then the units are updated.
// The fallback for what the packed variants do not take: float64 and float16.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { dtype } from "../../../runtime/dtypes.js";
import type { RecurrentGeometry } from "../../../compiler/ops/recurrent.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { load, store } from "../../memory.js";
import { variant, type KernelCtx, type LayerCtx, type TensorRef } from "../kernel.js";
import { Activations } from "./activations.js";
import { geometryOf, lensMatter } from "./plan.js";
import { emitSequence, xRow, type Step } from "./sequence.js";

export interface DirectPlan {
  geo: RecurrentGeometry;
  lens: boolean;
  /** the type states are kept and computed in */
  state: DTypeName;
}

function plan(layer: LayerCtx): DirectPlan | undefined {
  const geo = geometryOf(layer);
  const dt = layer.input(0).dtype;
  return { geo, lens: lensMatter(layer, geo), state: dt === "float64" ? "float64" : "float32" };
}

/** scratch pieces (byte offsets): hidden x2, cell, one row of gates, one of r (.) H or H R_h^T + Rb_h */
function scratch(p: DirectPlan) {
  const { geo: g } = p;
  const sb = dtype(p.state).bytes;
  const pad = (n: number) => Math.ceil(n / 16) * 16;
  const row = pad(g.batch * g.hidden * sb);
  const hA = 0, hB = row, c = 2 * row, gates = c + (g.kind === "LSTM" ? row : 0);
  const aux = gates + pad(g.gates * g.hidden * sb);
  return { hA, hB, c, gates, aux, bytes: aux + pad(g.hidden * sb) };
}

class Direct {
  private readonly m: binaryen.Module;
  private readonly fn: Fn;
  private readonly act: Activations;
  private readonly sb: number;
  private readonly at: ReturnType<typeof scratch>;
  /** the addresses of the current row: x, previous and next state, cell (i32 locals) */
  private readonly L: { x: Local; hp: Local; hn: Local; c: Local; acc: Local; pa: Local; pb: Local };

  constructor(private readonly ctx: KernelCtx, private readonly p: DirectPlan) {
    this.m = ctx.m;
    this.fn = ctx.fn;
    this.act = new Activations(ctx, p.state === "float64" ? "f64" : "f32", p.geo.clip);
    this.sb = dtype(p.state).bytes;
    this.at = scratch(p);
    const i32 = () => this.fn.local(binaryen.i32);
    this.L = { x: i32(), hp: i32(), hn: i32(), c: i32(), acc: this.fn.local(this.type), pa: i32(), pb: i32() };
  }

  private get type(): binaryen.Type {
    return this.p.state === "float64" ? binaryen.f64 : binaryen.f32;
  }

  private get F() {
    return this.act.F;
  }

  /** element i (an i32 expression) of tensor t, or of scratch piece `off` (in the state type) */
  private elem(t: TensorRef, i: Expr): Expr {
    return load(this.m, t.dtype, this.m.i32.mul(i, this.m.i32.const(dtype(t.dtype).bytes)), t.addr);
  }

  private scratchAt(off: number, i: Expr): Expr {
    return load(this.m, this.p.state, this.m.i32.mul(i, this.m.i32.const(this.sb)), this.ctx.scratchAddr + off);
  }

  private scratchPut(off: number, i: Expr, v: Expr): Expr {
    return store(this.m, this.p.state, this.m.i32.mul(i, this.m.i32.const(this.sb)), v, this.ctx.scratchAddr + off);
  }

  /** a state element at byte address base (local) + i */
  private stateAt(base: Local, i: Expr): Expr {
    return load(this.m, this.p.state, this.m.i32.add(base.get(), this.m.i32.mul(i, this.m.i32.const(this.sb))));
  }

  private statePut(base: Local, i: Expr, v: Expr): Expr {
    return store(this.m, this.p.state, this.m.i32.add(base.get(), this.m.i32.mul(i, this.m.i32.const(this.sb))), v);
  }

  /** acc += sum_k a[k] b[k] over n elements; a, b byte addresses (set into locals), of types ta, tb */
  private dot(a: Expr, ta: DTypeName, b: Expr, tb: DTypeName, n: number): Expr[] {
    const { m, fn, F, L } = this;
    const ab = dtype(ta).bytes, bb = dtype(tb).bytes;
    return [L.pa.set(a), L.pb.set(b), fn.loop(n, (k) => [L.acc.set(F.add(L.acc.get(),
      F.mul(load(m, ta, m.i32.add(L.pa.get(), m.i32.mul(k.get(), m.i32.const(ab)))), load(m, tb, m.i32.add(L.pb.get(), m.i32.mul(k.get(), m.i32.const(bb)))))))])];
  }

  /** byte address of row j of direction d of a [dirs, rows, K] weight */
  private weightRow(t: TensorRef, d: number, rows: number, j: Expr, K: number): Expr {
    const m = this.m;
    return m.i32.add(m.i32.const(t.addr), m.i32.mul(m.i32.add(m.i32.const(d * rows), j), m.i32.const(K * dtype(t.dtype).bytes)));
  }

  /**
   * gates[j] for j in [from, to): Wb[j] + Rb[j] (Rb left out when withRb is false) + x W_j^T,
   * plus h R_j^T when withR
   */
  private gateSums(d: number, from: number, to: number, withR: boolean, withRb: boolean): Expr {
    const { m, fn, F, L, ctx } = this;
    const g = this.p.geo, GH = g.gates * g.hidden;
    const W = ctx.input(1), R = ctx.input(2), B = ctx.inputs[3], x = ctx.input(0);
    return fn.loop(to, (j) => {
      const bias = B ? (withRb ? F.add(this.elem(B, m.i32.add(j.get(), m.i32.const(d * 2 * GH))), this.elem(B, m.i32.add(j.get(), m.i32.const(d * 2 * GH + GH))))
        : this.elem(B, m.i32.add(j.get(), m.i32.const(d * 2 * GH)))) : F.c(0);
      return [
        L.acc.set(bias),
        ...this.dot(L.x.get(), x.dtype, this.weightRow(W, d, GH, j.get(), g.input), W.dtype, g.input),
        ...(withR ? this.dot(L.hp.get(), this.p.state, this.weightRow(R, d, GH, j.get(), g.hidden), R.dtype, g.hidden) : []),
        this.scratchPut(this.at.gates, j.get(), L.acc.get()),
      ];
    }, { start: from });
  }

  row(st: Step, b: Local): Expr[] {
    const { m, L, ctx } = this;
    // this variant emits each direction's code on its own (no dirLoop): the direction is a number
    const d = st.d as number;
    const g = this.p.geo;
    const rowBytes = g.hidden * this.sb;
    const x = ctx.input(0);
    return [
      L.x.set(m.i32.add(m.i32.const(x.addr), m.i32.mul(xRow(this.fn, g, st.t.get(), b.get()), m.i32.const(g.input * dtype(x.dtype).bytes)))),
      L.hp.set(m.i32.add(st.hp.get(), m.i32.mul(b.get(), m.i32.const(rowBytes)))),
      L.hn.set(m.i32.add(st.hn.get(), m.i32.mul(b.get(), m.i32.const(rowBytes)))),
      L.c.set(m.i32.add(m.i32.const(ctx.scratchAddr + this.at.c), m.i32.mul(b.get(), m.i32.const(rowBytes)))),
      ...(g.kind === "RNN" ? this.rnn(d) : g.kind === "GRU" ? this.gru(d) : this.lstm(d)),
    ];
  }

  private gate(n: number, u: Local): Expr {
    return this.scratchAt(this.at.gates, this.m.i32.add(u.get(), this.m.i32.const(n * this.p.geo.hidden)));
  }

  private rnn(d: number): Expr[] {
    const g = this.p.geo;
    return [this.gateSums(d, 0, g.hidden, true, true), this.fn.loop(g.hidden, (u) => [this.statePut(this.L.hn, u.get(), this.act.scalar(g.activations[d][0], this.gate(0, u)))])];
  }

  private gru(d: number): Expr[] {
    const { m, fn, F, L, ctx } = this;
    const g = this.p.geo, H = g.hidden, GH = 3 * H;
    const [f, gg] = g.activations[d];
    const R = ctx.input(2), B = ctx.inputs[3];
    const [z, hh] = [fn.local(this.type), fn.local(this.type)];
    // (1 - z) h + z H_prev
    const blend = (u: Local) => [this.statePut(L.hn, u.get(), F.add(F.mul(F.sub(F.c(1), z.get()), hh.get()), F.mul(z.get(), this.stateAt(L.hp, u.get()))))];
    const code = [this.gateSums(d, 0, 2 * H, true, true), this.gateSums(d, 2 * H, 3 * H, false, !g.linearBeforeReset)];
    if (!g.linearBeforeReset) {
      return [...code,
        // z in place of its pre-activation, r (.) H_prev in aux
        fn.loop(H, (u) => [
          this.scratchPut(this.at.gates, u.get(), this.act.scalar(f, this.gate(0, u))),
          this.scratchPut(this.at.aux, u.get(), F.mul(this.act.scalar(f, this.gate(1, u)), this.stateAt(L.hp, u.get()))),
        ]),
        fn.loop(H, (u) => [
          L.acc.set(this.gate(2, u)),
          ...this.dot(m.i32.const(ctx.scratchAddr + this.at.aux), this.p.state, this.weightRow(R, d, GH, m.i32.add(u.get(), m.i32.const(2 * H)), H), R.dtype, H),
          z.set(this.gate(0, u)),
          hh.set(this.act.scalar(gg, L.acc.get())),
          ...blend(u),
        ])];
    }
    return [...code, fn.loop(H, (u) => [
      // H_prev R_h^T + Rb_h, times r
      L.acc.set(B ? this.elem(B, m.i32.add(u.get(), m.i32.const(d * 2 * GH + GH + 2 * H))) : F.c(0)),
      ...this.dot(L.hp.get(), this.p.state, this.weightRow(R, d, GH, m.i32.add(u.get(), m.i32.const(2 * H)), H), R.dtype, H),
      z.set(this.act.scalar(f, this.gate(0, u))),
      hh.set(this.act.scalar(gg, F.add(this.gate(2, u), F.mul(this.act.scalar(f, this.gate(1, u)), L.acc.get())))),
      ...blend(u),
    ])];
  }

  private lstm(d: number): Expr[] {
    const { m, fn, F, L, ctx } = this;
    const g = this.p.geo, H = g.hidden;
    const [f, gg, h] = g.activations[d];
    const P = ctx.inputs[7];
    const [cp, i, cn] = [fn.local(this.type), fn.local(this.type), fn.local(this.type)];
    // gates i o f c; peepholes i o f
    const peep = (n: number, c: Local, u: Local, x: Expr) => P ? F.add(x, F.mul(this.elem(P, m.i32.add(u.get(), m.i32.const((d * 3 + n) * H))), c.get())) : x;
    return [this.gateSums(d, 0, 4 * H, true, true), fn.loop(H, (u) => [
      cp.set(this.stateAt(L.c, u.get())),
      i.set(this.act.scalar(f, peep(0, cp, u, this.gate(0, u)))),
      cn.set(F.add(
        F.mul(g.inputForget ? F.sub(F.c(1), i.get()) : this.act.scalar(f, peep(2, cp, u, this.gate(2, u))), cp.get()),
        F.mul(i.get(), this.act.scalar(gg, this.gate(3, u))))),
      this.statePut(L.c, u.get(), cn.get()),
      // h(C) takes C unclipped, as onnxruntime does
      this.statePut(L.hn, u.get(), F.mul(this.act.scalar(f, peep(1, cn, u, this.gate(1, u))), this.act.scalar(h, cn.get(), false))),
    ])];
  }
}

function emit(ctx: KernelCtx, p: DirectPlan): void {
  const g = p.geo;
  const at = scratch(p);
  const base = ctx.scratchAddr;
  emitSequence(ctx, {
    geo: g, state: p.state, rowElems: g.hidden, lens: p.lens,
    bufs: { h: [base + at.hA, base + at.hB], c: g.kind === "LSTM" ? base + at.c : undefined },
  }, (stepCtx) => {
    const cell = new Direct(stepCtx, p);
    return (st) => [stepCtx.fn.loop(g.batch, (b) => {
      const body = stepCtx.fn.block(cell.row(st, b));
      return [st.active ? stepCtx.m.if(st.active(b.get()), body) : body];
    })];
  });
}

export const DIRECT = variant<DirectPlan>({
  name: "direct",
  plan,
  prepare: (_ctx, p) => ({ scratchBytes: scratch(p).bytes }),
  emit,
});
