// The packed variants of RNN, GRU and LSTM (float32): the input projection X W^T + b of the whole
// sequence, every direction at once, as one packed GEMM (matmul/gemm-packed.ts, W packed in the
// cell's column order), then the time loop (sequence.ts) around the fused cell (cell.ts), which
// reads R packed in panels. "packed" packs W, R, B and P at compile time (prepare); with any of
// them known only at run time (an ONNX node test feeds them as inputs), "packed-runtime" packs
// them into scratch at the start of each run (runtime-pack.ts), in the same layout.
import { DEFAULT_TILE, emitPackedGemm } from "../matmul/gemm-packed.js";
import { variant, type KernelCtx, type KernelPrep, type LayerCtx } from "../kernel.js";
import { hasVectorForms } from "./activations.js";
import { CellEmitter, type CellAddrs } from "./cell.js";
import { cellLayout, columnSource, packedR, packedW, projectionBias, unitVectors } from "./layout.js";
import { geometryOf, lensMatter, weightBytes, type PackedPlan } from "./plan.js";
import { emitRuntimePacking, type PackedWeights } from "./runtime-pack.js";
import { emitSequence } from "./sequence.js";

/** W, R, B and P (whichever the node has) are float32; X too; `runtime` takes the layers where one is not a constant. */
function planFor(runtime: boolean) {
  return (layer: LayerCtx): PackedPlan | undefined => {
    const geo = geometryOf(layer);
    const weights = [1, 2, 3, 7].map((i) => layer.inputs[i]).filter((t) => t !== undefined);
    if (layer.input(0).dtype !== "float32" || weights.some((t) => t.dtype !== "float32")) return undefined;
    if (weights.every((t) => t.value !== undefined) === runtime) return undefined;
    if (geo.seq * geo.batch === 0 || geo.input === 0 || !hasVectorForms(geo.activations)) return undefined;
    return { geo, lay: cellLayout(geo), lens: lensMatter(layer, geo), bias: !!layer.inputs[3], peep: geo.kind === "LSTM" && !!layer.inputs[7], runtime };
  };
}

/**
 * Scratch: the projection, the state buffers (hidden x2, cell, GRU's z and r (.) H) and, packed at
 * run time, the weights. Every piece is a multiple of 16 bytes.
 */
function scratch(p: PackedPlan) {
  const { geo: g, lay } = p;
  const gx = g.seq * g.batch * g.dirs * lay.cols * 4;
  const row = g.batch * lay.hpad * 4;
  const gru2 = g.kind === "GRU" && !g.linearBeforeReset;
  const names = ["hA", "hB", ...(g.kind === "LSTM" ? ["c"] : []), ...(gru2 ? ["z", "rh"] : [])];
  const at: Record<string, number> = {};
  names.forEach((n, k) => { at[n] = gx + k * row; });
  const weights = gx + names.length * row;
  const wb = weightBytes(p);
  const packed = p.runtime ? wb.w + g.dirs * wb.r.reduce((a, b) => a + b, 0) + wb.bias + wb.rbh + wb.peep : 0;
  return { at, weights, bytes: weights + packed };
}

/** Where the packed weights are: compile-time constants (in prepare's order), or scratch from `base`. */
function weightAddrs(p: PackedPlan, constants: number[], base: number): PackedWeights {
  const wb = weightBytes(p);
  const nS = p.lay.segments.length;
  if (!p.runtime) {
    let next = 1 + nS;
    const take = (used: boolean) => (used ? constants[next++] : undefined);
    return { w: constants[0], r: (s) => constants[1 + s], bias: take(wb.bias > 0), rbh: take(wb.rbh > 0), peep: take(wb.peep > 0) };
  }
  let at = base;
  const take = (bytes: number) => { const a = at; at += bytes; return a; };
  const w = take(wb.w);
  const r = wb.r.map((b) => take(p.geo.dirs * b));
  return { w, r: (s) => r[s], bias: wb.bias ? take(wb.bias) : undefined, rbh: wb.rbh ? take(wb.rbh) : undefined, peep: wb.peep ? take(wb.peep) : undefined };
}

function prepare(ctx: KernelCtx, p: PackedPlan): KernelPrep {
  const { geo: g, lay } = p;
  const scratchBytes = scratch(p).bytes;
  if (p.runtime) {
    // the runtime packing's map from gate column to the ONNX row of one direction (-1: padding)
    const table = Int32Array.from({ length: lay.cols }, (_, c) => columnSource(lay, g.hidden, c));
    return { constants: [new Uint8Array(table.buffer)], scratchBytes };
  }
  const constants: KernelPrep["constants"] & {} = [packedW(g, lay, ctx.input(1).value!)];
  lay.segments.forEach((s) => constants.push(packedR(g, lay, ctx.input(2).value!, s)));
  const GH = g.gates * g.hidden;
  if (p.bias) constants.push(projectionBias(g, lay, ctx.input(3).value!));
  if (p.bias && g.linearBeforeReset) constants.push(unitVectors(g, lay, ctx.input(3).value!.data as Float32Array, 2 * GH, [GH + 2 * g.hidden]));
  if (p.peep) constants.push(unitVectors(g, lay, ctx.input(7).value!.data as Float32Array, 3 * g.hidden, [0, g.hidden, 2 * g.hidden]));
  return { constants, scratchBytes, unread: [1, 2, 3, 7].filter((i) => ctx.inputs[i]) };
}

function emit(ctx: KernelCtx, p: PackedPlan): void {
  const { geo: g, lay } = p;
  const { at, weights } = scratch(p);
  const base = ctx.scratchAddr;
  const wa = weightAddrs(p, ctx.constantAddrs, base + weights);
  if (p.runtime) ctx.fn.emit(...emitRuntimePacking(ctx, p, ctx.constantAddrs[0], wa));
  const M = g.seq * g.batch, N = g.dirs * lay.cols, K = g.input;
  // symbolic dims (layout 0, the default): a varying sequence length and batch (X [seq, batch,
  // input], Y [seq, dirs, batch, hidden], the states [dirs, batch, hidden]: the padded layout, rows
  // at the bound's strides): the projection over this run's steps (each with the bound's batch
  // rows), this run's steps and batch rows; other varying dims are refused after emission
  const x = ctx.input(0);
  const varying = (k: number) => (g.layout === 0 ? ctx.runtimeDim(x, k) : undefined) !== undefined;
  const seq = varying(0) ? () => ctx.runtimeDim(x, 0)! : undefined;
  const batch = varying(1) ? () => ctx.runtimeDim(x, 1)! : undefined;
  if (seq || batch) {
    // every other tensor's varying dims are the same symbols: asked, so the layer answers for them
    [...ctx.inputs.slice(4), ...ctx.outputs].forEach((t) => t && t.dims.forEach((_, k) => ctx.runtimeDim(t, k)));
  }
  ctx.fn.emit(...emitPackedGemm(ctx, {
    M, N, K,
    rows: seq && (() => ctx.m.i32.mul(ctx.runtimeDim(x, 0)!, ctx.m.i32.const(g.batch))),
    a: { addr: ctx.input(0).addr, rs: K },
    packedB: wa.w,
    bias: wa.bias,
    c: { addr: base, rs: N },
    // one row (batch 1, one step) reads each weight once: a single sweep per panel
    tile: M < DEFAULT_TILE.mr ? { kc: Math.max(1, K) } : undefined,
  }));
  const local = (name: string) => (at[name] === undefined ? undefined : base + at[name]);
  const addrs: CellAddrs = { gx: base, r: wa.r, rbh: wa.rbh, peep: wa.peep, c: local("c"), z: local("z"), rh: local("rh") };

  // the two directions as one loop when their code is the same (their activations agree): half the code
  const dirLoop = JSON.stringify(g.activations[0]) === JSON.stringify(g.activations[g.dirs - 1]);
  emitSequence(ctx, {
    geo: g, state: "float32", rowElems: lay.hpad, lens: p.lens, dirLoop, seq, batch,
    bufs: { h: [base + at.hA, base + at.hB], c: local("c") },
  }, (stepCtx) => {
    const cell = new CellEmitter(stepCtx, g, lay, addrs);
    return (st) => cell.step(st);
  });
}

export const PACKED = variant<PackedPlan>({ name: "packed", plan: planFor(false), prepare, emit });
export const PACKED_RUNTIME = variant<PackedPlan>({ name: "packed-runtime", plan: planFor(true), prepare, emit });
