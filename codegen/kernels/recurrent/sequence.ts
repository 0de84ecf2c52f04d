// The time loop every recurrent kernel shares: the hidden (and cell) state of each direction in
// scratch, initialized from initial_h / initial_c or zero; per step (a wasm function of its own,
// called with the step and the direction), the variant's cell computes
// the next hidden state of every active batch row into the other of two buffers (the cell reads
// the whole previous state while it writes the next one); then each row's new state goes to Y,
// and rows past their sequence length keep their state (their Y rows stay zero). At the end the
// final states go to Y_h and Y_c. A batch row is active at time index t when t < its length: in
// reverse it starts at its own last step, as onnxruntime's reversal within each length does.
import binaryen from "binaryen";
import type { DTypeName } from "../../../runtime/dtypes.js";
import { dtype } from "../../../runtime/dtypes.js";
import type { RecurrentGeometry } from "../../../compiler/ops/recurrent.js";
import { Fn, type Expr, type Local, type Trips } from "../../fn.js";
import { convert, load, store } from "../../memory.js";
import type { KernelCtx, TensorRef } from "../kernel.js";

/** the state buffers of a direction in scratch (byte addresses), rows rowElems elements apart */
export interface StateBuffers {
  h: [number, number];
  c?: number;
}

export interface SequenceSpec {
  geo: RecurrentGeometry;
  /** the type states are kept and computed in: X's, or float32 for float16 */
  state: DTypeName;
  /** elements per batch row of a state buffer (hidden, or more when padded) */
  rowElems: number;
  bufs: StateBuffers;
  /** whether sequence_lens decides anything (absent, or known to be all full, it does not) */
  lens: boolean;
  /**
   * run the two directions of a bidirectional layer as a loop (the cell then sees the direction
   * as a local): one copy of the code instead of two, when the cell's code is the same for both
   */
  dirLoop?: boolean;
  /** symbolic dims: this run's sequence length (X and Y in the prefix form, [seq, ...]); else geo.seq */
  seq?: () => Expr;
  /** symbolic dims: this run's batch (the padded layout: rows at the bound's strides); else geo.batch */
  batch?: () => Expr;
}

/** A direction: known when the code is emitted, or a local of a loop over the two (0 forward, 1 reverse). */
export type Dir = number | Local;

/** d as an i32 expression, times `scale` */
export function dirTimes(m: binaryen.Module, d: Dir, scale: number): Expr {
  return typeof d === "number" ? m.i32.const(d * scale) : scale === 1 ? d.get() : m.i32.mul(d.get(), m.i32.const(scale));
}

/** What the cell of one step is given: the direction, the time index and the state buffers (locals, i32). */
export interface Step {
  d: Dir;
  t: Local;
  /** the previous hidden state and the one to write */
  hp: Local;
  hn: Local;
  /** whether batch row b runs at this step (undefined: every row does) */
  active?: (b: Expr) => Expr;
  /** the batch rows: this run's where the batch varies */
  batch: Trips;
}

/** The byte offset of element 0 of row (d, b) of a [dirs, batch, hidden] state tensor ([batch, dirs, hidden] in layout 1). */
export function stateRow(fn: Fn, g: RecurrentGeometry, d: Dir, b: Expr, bytes: number): Expr {
  const m = fn.m;
  return g.layout === 0
    ? m.i32.mul(m.i32.add(dirTimes(m, d, g.batch), b), m.i32.const(g.hidden * bytes))
    : m.i32.add(m.i32.mul(b, m.i32.const(g.dirs * g.hidden * bytes)), dirTimes(m, d, g.hidden * bytes));
}

/** The row index of (t, b) in X viewed as [rows, input] (and in anything laid out like X). */
export function xRow(fn: Fn, g: RecurrentGeometry, t: Expr, b: Expr): Expr {
  const m = fn.m;
  return g.layout === 0 ? m.i32.add(m.i32.mul(t, m.i32.const(g.batch)), b) : m.i32.add(m.i32.mul(b, m.i32.const(g.seq)), t);
}

/** The byte offset of Y's row (t, d, b). */
function yRow(fn: Fn, g: RecurrentGeometry, t: Expr, d: Dir, b: Expr, bytes: number): Expr {
  const m = fn.m;
  const H = m.i32.const(g.hidden * bytes);
  return g.layout === 0
    ? m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(t, m.i32.const(g.dirs)), dirTimes(m, d, 1)), m.i32.const(g.batch)), b), H)
    : m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(b, m.i32.const(g.seq)), t), m.i32.const(g.dirs)), dirTimes(m, d, 1)), H);
}

/** n elements from src (type from) to dst (type to): memory.copy when the types agree. dst and src are evaluated once. */
function copyElems(fn: Fn, dst: Expr, to: DTypeName, src: Expr, from: DTypeName, n: number): Expr {
  const m = fn.m;
  if (n === 0) return m.nop();
  if (to === from) return m.memory.copy(dst, src, m.i32.const(n * dtype(to).bytes));
  const [pd, ps] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const tb = dtype(to).bytes, sb = dtype(from).bytes;
  return fn.block([pd.set(dst), ps.set(src), fn.loop(n, (k) => [
    store(m, to, m.i32.add(pd.get(), m.i32.mul(k.get(), m.i32.const(tb))),
      convert(m, from, to, load(m, from, m.i32.add(ps.get(), m.i32.mul(k.get(), m.i32.const(sb)))))),
  ])]);
}

/** A variant's cell: given the step function's context (its fn), the code of one step. */
export type CellMaker = (stepCtx: KernelCtx) => (step: Step) => Expr[];

/** Emits the whole layer: for each direction, state setup, the step loop around the cell, the final states. */
export function emitSequence(ctx: KernelCtx, spec: SequenceSpec, cell: CellMaker): void {
  const { m, fn } = ctx;
  const y = ctx.outputs[0];
  // Y rows past their sequence's end stay zero
  if (y && spec.lens && y.size) fn.emit(m.memory.fill(m.i32.const(y.addr), m.i32.const(0), m.i32.const(y.size * dtype(y.dtype).bytes)));
  if (spec.dirLoop && spec.geo.dirs === 2) {
    fn.emit(fn.loop(2, (d) => direction(ctx, spec, d, cell)));
    return;
  }
  for (let d = 0; d < spec.geo.dirs; d++) fn.emit(...direction(ctx, spec, d, cell));
}

/** One direction's code. */
function direction(ctx: KernelCtx, spec: SequenceSpec, d: Dir, cell: CellMaker): Expr[] {
  const { m, fn } = ctx;
  const g = spec.geo;
  const [y, yh, yc] = [ctx.outputs[0], ctx.outputs[1], ctx.outputs[2]];
  const lens = spec.lens ? ctx.input(4) : undefined;
  const sb = dtype(spec.state).bytes, rowBytes = spec.rowElems * sb;
  const io = ctx.input(0).dtype;
  const ob = dtype(io).bytes;
  const len = (b: Expr) => m.i32.load(lens!.addr, 4, m.i32.shl(b, m.i32.const(2)));
  // buf: a fixed address, or a local holding one (an Expr is a number too, so the two are told apart by type)
  const stateAt = (buf: number | Local, b: Expr) => m.i32.add(typeof buf === "number" ? m.i32.const(buf) : buf.get(), m.i32.mul(b, m.i32.const(rowBytes)));
  const at = (t: TensorRef, off: Expr) => m.i32.add(m.i32.const(t.addr), off);
  const code: Expr[] = [];
  const rows: Trips = spec.batch ?? g.batch;
  const init = (src: TensorRef | undefined, buf: number) => fn.trips(rows, (b) => [src
    ? copyElems(fn, stateAt(buf, b.get()), spec.state, at(src, stateRow(fn, g, d, b.get(), ob)), io, g.hidden)
    : m.memory.fill(stateAt(buf, b.get()), m.i32.const(0), m.i32.const(rowBytes))]);
  code.push(init(ctx.inputs[5], spec.bufs.h[0]));
  if (spec.bufs.c !== undefined) code.push(init(ctx.inputs[6], spec.bufs.c));
  code.push(...stepLoop(ctx, spec, d, cell));
  // after step s the state is in h[(s + 1) % 2]: this run's parity where the length varies
  let final: number | Local = spec.bufs.h[g.seq % 2];
  if (spec.seq) {
    final = fn.local(binaryen.i32);
    code.push(final.set(m.select(m.i32.and(spec.seq(), m.i32.const(1)), m.i32.const(spec.bufs.h[1]), m.i32.const(spec.bufs.h[0]))));
  }
  // a sequence of length 0 (by sequence_lens, or an empty X) ends in a zero state, as in onnxruntime's LSTM and GRU
  const out = (dst: TensorRef | undefined, buf: number | Local) => dst && fn.trips(rows, (b) => {
    const zero = () => m.memory.fill(at(dst, stateRow(fn, g, d, b.get(), ob)), m.i32.const(0), m.i32.const(g.hidden * ob));
    if (g.seq === 0) return [zero()];
    const copy = copyElems(fn, at(dst, stateRow(fn, g, d, b.get(), ob)), io, stateAt(buf, b.get()), spec.state, g.hidden);
    const some = lens ? m.if(m.i32.gt_s(len(b.get()), m.i32.const(0)), copy, zero()) : copy;
    return [spec.seq ? m.if(m.i32.eqz(spec.seq()), zero(), some) : some];
  });
  const hOut = out(yh, final), cOut = spec.bufs.c !== undefined ? out(yc, spec.bufs.c) : undefined;
  if (hOut) code.push(hOut);
  if (cOut) code.push(cOut);
  return code;
}

/**
 * The steps: a function of their own, `(s, d)`, called once per step. Its own locals and two
 * parameters: the layer's function runs once per inference and stays baseline (Liftoff) code for
 * long, where a call passing all its locals (as Fn.outline does, ~100 of them here) cost ~1.5 us per
 * step of an LSTM of hidden 128, twice the cell's own update; the step function itself is called
 * often enough to be optimized within the first run.
 */
function stepLoop(ctx: KernelCtx, spec: SequenceSpec, d: Dir, cell: CellMaker): Expr[] {
  const { m } = ctx;
  const g = spec.geo;
  if (g.seq === 0) return [];
  const stepFn = new Fn(m, `${ctx.fn.name}$step${typeof d === "number" ? d : ""}`, [binaryen.i32, binaryen.i32]);
  const stepCtx = Object.create(ctx, { fn: { value: stepFn } }) as KernelCtx;
  const fn = stepFn, s = fn.param(0), sd: Dir = typeof d === "number" ? d : fn.param(1);
  const [y, lens] = [ctx.outputs[0], spec.lens ? ctx.input(4) : undefined];
  const rowBytes = spec.rowElems * dtype(spec.state).bytes;
  const io = ctx.input(0).dtype, ob = dtype(io).bytes;
  const stateAt = (buf: Local, b: Expr) => m.i32.add(buf.get(), m.i32.mul(b, m.i32.const(rowBytes)));
  const [t, hp, hn] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const active = lens ? (b: Expr) => m.i32.lt_s(t.get(), m.i32.load(lens.addr, 4, m.i32.shl(b, m.i32.const(2)))) : undefined;
  // the time index: S-1-s in reverse (the second direction of a bidirectional layer); S this
  // run's length where it varies (read from the symbols in memory: any function may)
  const back = () => m.i32.sub(spec.seq ? m.i32.sub(spec.seq(), m.i32.const(1)) : m.i32.const(g.seq - 1), s.get());
  const time = typeof sd === "number" ? (g.reverse[sd] ? back() : s.get()) : m.select(sd.get(), back(), s.get());
  const odd = () => m.i32.and(s.get(), m.i32.const(1));
  fn.emit(
    t.set(time),
    hp.set(m.select(odd(), m.i32.const(spec.bufs.h[1]), m.i32.const(spec.bufs.h[0]))),
    hn.set(m.select(odd(), m.i32.const(spec.bufs.h[0]), m.i32.const(spec.bufs.h[1]))),
    ...cell(stepCtx)({ d: sd, t, hp, hn, active, batch: spec.batch ?? g.batch }),
  );
  // each row's new state to Y; a row past its length keeps its state
  if (y || active) {
    fn.emit(fn.trips(spec.batch ?? g.batch, (b) => {
      const out = y ? copyElems(fn, m.i32.add(m.i32.const(y.addr), yRow(fn, g, t.get(), sd, b.get(), ob)), io, stateAt(hn, b.get()), spec.state, g.hidden) : m.nop();
      return [active ? m.if(active(b.get()), out, m.memory.copy(stateAt(hn, b.get()), stateAt(hp, b.get()), m.i32.const(rowBytes))) : out];
    }));
  }
  fn.finish();
  const call = (i: Local) => [m.call(fn.name, [i.get(), typeof d === "number" ? m.i32.const(d) : d.get()], binaryen.none)];
  return [spec.seq ? ctx.fn.loopDyn(m.i32.const(0), spec.seq(), call) : ctx.fn.loop(g.seq, call)];
}
