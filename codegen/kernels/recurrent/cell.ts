// The fused cell of the packed variants: per step, per panel of units, per active batch row, the
// recurrent GEMV H R^T over the panel (f32x4 accumulators, R packed in panels as layout.ts lays
// it out) starting from the step's row of the projection X W^T + b, then the gate
// activations and the state update of the panel's units on those registers, storing only the
// new state: no gate tensor is written to memory. (GRU without linear_before_reset keeps z and
// r (.) H of the step in scratch between its two passes.)
import binaryen from "binaryen";
import type { RecurrentGeometry } from "../../../compiler/ops/recurrent.js";
import type { Expr, Fn, Local } from "../../fn.js";
import { madd } from "../matmul/gemm-tile.js";
import type { KernelCtx } from "../kernel.js";
import { Activations } from "./activations.js";
import type { CellLayout, Segment } from "./layout.js";
import { dirTimes, xRow, type Step } from "./sequence.js";

/** Where the cell finds what it reads and writes (byte addresses). */
export interface CellAddrs {
  /** the projection X W^T + b, rows like X's, dirs * cols columns */
  gx: number;
  /** R's panels of segment s, direction 0; direction 1's follow (hidden * width floats on) */
  r: (s: number) => number;
  /** GRU with linear_before_reset: Rb_h, per direction, padded to hpad */
  rbh?: number;
  /** LSTM peepholes: P_i, P_o, P_f per direction, each padded to hpad */
  peep?: number;
  c?: number;
  /** GRU without linear_before_reset: z and r (.) H of the step */
  z?: number;
  rh?: number;
}

const ZERO = new Array<number>(16).fill(0);

export class CellEmitter {
  private readonly m: binaryen.Module;
  private readonly fn: Fn;
  private readonly act: Activations;
  private readonly L: { pr: Local; px: Local; pend: Local; pg: Local; so: Local; uo: Local; a: Local; acc: Local[] };

  constructor(private readonly ctx: KernelCtx, private readonly g: RecurrentGeometry, private readonly lay: CellLayout, private readonly at: CellAddrs) {
    this.m = ctx.m;
    this.fn = ctx.fn;
    this.act = new Activations(ctx, "f32", g.clip);
    const i32 = () => this.fn.local(binaryen.i32), v = () => this.fn.local(binaryen.v128);
    this.L = {
      pr: i32(), px: i32(), pend: i32(), pg: i32(), so: i32(), uo: i32(), a: v(),
      acc: Array.from({ length: 4 }, v),
    };
  }

  /** One step of every segment, for every active batch row. */
  step(st: Step): Expr[] {
    return this.lay.segments.map((s, k) => this.fn.loop(s.panels, (p) => [this.fn.trips(st.batch, (b) => {
      const body = this.fn.block(this.panel(st, k, s, p, b));
      return [st.active ? this.m.if(st.active(b.get()), body) : body];
    })]));
  }

  /** The GEMV and the update of panel p's units in batch row b. */
  private panel(st: Step, k: number, s: Segment, p: Local, b: Local): Expr[] {
    const { m, g, lay, L } = this;
    const nr = s.gates.length * s.units, V = nr / 4;
    const gru2 = g.kind === "GRU" && !g.linearBeforeReset;
    // GRU's h pass reads r (.) H; every other pass reads H
    const operand = gru2 && k === 1 ? m.i32.const(this.at.rh!) : st.hp.get();
    const fromGx = (v: number) => !(g.kind === "GRU" && g.linearBeforeReset && v >= 2 * (s.units / 4)); // lbr: H R_h^T alone, r multiplies it
    return [
      L.uo.set(m.i32.mul(p.get(), m.i32.const(s.units * 4))),
      L.so.set(m.i32.add(m.i32.mul(b.get(), m.i32.const(lay.hpad * 4)), L.uo.get())),
      L.pg.set(m.i32.add(m.i32.add(m.i32.mul(xRow(this.fn, g, st.t.get(), b.get()), m.i32.const(g.dirs * lay.cols * 4)), dirTimes(m, st.d, lay.cols * 4)),
        m.i32.mul(p.get(), m.i32.const(nr * 4)))),
      ...Array.from({ length: V }, (_, v) => L.acc[v].set(fromGx(v) ? this.gx(s, v) : m.v128.const(ZERO))),
      ...this.gemv(s, m.i32.add(m.i32.add(m.i32.const(this.at.r(k)), dirTimes(m, st.d, g.hidden * s.width * 4)), m.i32.mul(p.get(), m.i32.const(g.hidden * nr * 4))),
        m.i32.add(operand, m.i32.mul(b.get(), m.i32.const(lay.hpad * 4)))),
      ...Array.from({ length: s.units / 4 }, (_, q) => this.update(st, k, s, q)).flat(),
    ];
  }

  /** vector v of the panel's row of the projection (pg points at the row's direction and panel) */
  private gx(s: Segment, v: number): Expr {
    return this.m.v128.load(this.at.gx + 4 * s.col + 16 * v, 16, this.L.pg.get());
  }

  /**
   * acc[v] += sum over k of x[k] * R[k][4v..4v+4) for the panel at r, x the state row at x; k
   * unrolled by 2 into the one set of accumulators. Measured on the LSTM of hidden 128 (A/B in one
   * process, 2-core EPYC, Node 20): a second set for odd k, to halve the add chain, was ~1.4x
   * slower (eight accumulators); unrolling by 4 ~1.3x slower, by 1 ~1.1x slower. The loop waits on
   * its add chain, so it multiplies and adds even in the relaxed build: f32x4.relaxed_madd (FMA,
   * a longer latency than the add) made the step ~1.2x slower.
   */
  private gemv(s: Segment, r: Expr, x: Expr): Expr[] {
    const { m, fn, L } = this;
    const H = this.g.hidden, nr = s.gates.length * s.units;
    const acc = L.acc.slice(0, nr / 4);
    const step = (u: number) => [
      L.a.set(m.v128.load32_splat(4 * u, 4, L.px.get())),
      ...acc.map((l, v) => l.set(madd(m, L.a.get(), m.v128.load(4 * nr * u + 16 * v, 16, L.pr.get()), l.get(), false))),
    ];
    const code: Expr[] = [L.pr.set(r), L.px.set(x)];
    if (H >= 2) {
      const label = fn.label("k");
      code.push(L.pend.set(m.i32.add(L.px.get(), m.i32.const(4 * (H - (H % 2))))),
        m.loop(label, fn.block([
          ...step(0), ...step(1),
          L.px.set(m.i32.add(L.px.get(), m.i32.const(8))),
          L.pr.set(m.i32.add(L.pr.get(), m.i32.const(8 * nr))),
          m.br(label, m.i32.lt_u(L.px.get(), L.pend.get())),
        ])));
    }
    if (H % 2) code.push(...step(0));
    return code;
  }

  /** The gates of quad q (4 units) of the panel are in acc; compute and store the new state. */
  private update(st: Step, k: number, s: Segment, q: number): Expr[] {
    const { m, g, L, act } = this;
    const V = act.V;
    // with the directions as a loop, both have the same activations (packed.ts)
    const acts = g.activations[typeof st.d === "number" ? st.d : 0];
    const a = (gate: number) => L.acc[s.gates.indexOf(gate) * (s.units / 4) + q].get();
    const ld = (addr: number, ptr: Local) => m.v128.load(addr + 16 * q, 16, ptr.get());
    // a vector of per-direction unit values (Rb_h, peepholes): k-th of `per` vectors of hpad units per direction
    const unitVec = (addr: number, per: number, k: number) =>
      m.v128.load(addr + (k * this.lay.hpad + 4 * q) * 4, 16, m.i32.add(L.uo.get(), dirTimes(m, st.d, per * this.lay.hpad * 4)));
    const st4 = (addr: number, ptr: Local, v: Expr) => m.v128.store(addr + 16 * q, 16, ptr.get(), v);
    const hnAt = (v: Expr) => m.v128.store(16 * q, 16, m.i32.add(st.hn.get(), L.so.get()), v);
    const hpAt = () => m.v128.load(16 * q, 16, m.i32.add(st.hp.get(), L.so.get()));
    const tmp = () => this.fn.local(binaryen.v128);
    const one = V.c(1);
    // (1 - z) h + z H_prev
    const blend = (z: Expr, h: Expr, zl = tmp()) => m.block(null, [zl.set(z), V.add(V.mul(V.sub(one, zl.get()), h), V.mul(zl.get(), hpAt()))], binaryen.v128);
    if (g.kind === "RNN") return [hnAt(act.vector(acts[0], a(0)))];
    if (g.kind === "GRU") {
      const [f, gg] = acts;
      if (g.linearBeforeReset) {
        const lin = this.at.rbh !== undefined ? V.add(a(2), unitVec(this.at.rbh, 1, 0)) : a(2);
        const h = act.vector(gg, V.add(this.gx(s, 2 * (s.units / 4) + q), V.mul(act.vector(f, a(1)), lin)));
        return [hnAt(blend(act.vector(f, a(0)), h))];
      }
      if (k === 0) {
        return [st4(this.at.z!, L.so, act.vector(f, a(0))), st4(this.at.rh!, L.so, V.mul(act.vector(f, a(1)), hpAt()))];
      }
      return [hnAt(blend(ld(this.at.z!, L.so), act.vector(gg, a(2))))];
    }
    // LSTM, gates i o f c
    const [f, gg, h] = acts;
    const [cp, i, cn] = [tmp(), tmp(), tmp()];
    const peep = (n: number, c: Local, x: Expr) => this.at.peep === undefined ? x
      : V.add(x, V.mul(unitVec(this.at.peep, 3, n), c.get()));
    return [
      cp.set(ld(this.at.c!, L.so)),
      i.set(act.vector(f, peep(0, cp, a(0)))),
      cn.set(V.add(
        V.mul(g.inputForget ? V.sub(one, i.get()) : act.vector(f, peep(2, cp, a(2))), cp.get()),
        V.mul(i.get(), act.vector(gg, a(3))))),
      st4(this.at.c!, L.so, cn.get()),
      // h(C) takes C unclipped, as onnxruntime does
      hnAt(V.mul(act.vector(f, peep(1, cn, a(1))), act.vector(h, cn.get(), false))),
    ];
  }
}
