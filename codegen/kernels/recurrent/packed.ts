// The "packed" variant of RNN, GRU and LSTM (float32, W and R compile-time constants): the input
// projection X W^T + b of the whole sequence, every direction at once, as one packed GEMM
// (matmul/gemm-packed.ts, W packed at compile time in the cell's column order), then the time
// loop (sequence.ts) around the fused cell (cell.ts), which reads R packed at compile time.
import type { RecurrentGeometry } from "../../../compiler/ops/recurrent.js";
import { DEFAULT_TILE, emitPackedGemm } from "../matmul/gemm-packed.js";
import { variant, type KernelCtx, type KernelPrep, type LayerCtx } from "../kernel.js";
import { hasVectorForms } from "./activations.js";
import { CellEmitter } from "./cell.js";
import { cellLayout, packedR, packedW, projectionBias, unitVectors, type CellLayout } from "./layout.js";
import { geometryOf, lensMatter } from "./plan.js";
import { emitSequence } from "./sequence.js";

export interface PackedPlan {
  geo: RecurrentGeometry;
  lay: CellLayout;
  lens: boolean;
  bias: boolean;
  peep: boolean;
}

function plan(layer: LayerCtx): PackedPlan | undefined {
  const geo = geometryOf(layer);
  const f32Const = (i: number) => layer.inputs[i] === undefined || (layer.inputs[i]!.dtype === "float32" && layer.inputs[i]!.value !== undefined);
  if (layer.input(0).dtype !== "float32" || !layer.input(1).value || !layer.input(2).value || !f32Const(3) || !f32Const(7)) return undefined;
  if (geo.seq * geo.batch === 0 || geo.input === 0 || !hasVectorForms(geo.activations)) return undefined;
  return { geo, lay: cellLayout(geo), lens: lensMatter(layer, geo), bias: !!layer.inputs[3], peep: geo.kind === "LSTM" && !!layer.inputs[7] };
}

/** Where each constant prepare returns sits in ctx.constantAddrs. */
function slots(p: PackedPlan) {
  const nR = p.geo.dirs * p.lay.segments.length;
  let next = 1 + nR;
  const take = (used: boolean) => (used ? next++ : -1);
  const bias = take(p.bias);
  const rbh = take(p.bias && p.geo.linearBeforeReset);
  const peep = take(p.peep);
  return { w: 0, r: (d: number, s: number) => 1 + d * p.lay.segments.length + s, bias, rbh, peep };
}

/** Scratch: the projection, then the state buffers (hidden x2, cell, GRU's z and r (.) H), 16-aligned pieces. */
function scratch(p: PackedPlan) {
  const { geo: g, lay } = p;
  const gx = g.seq * g.batch * g.dirs * lay.cols * 4;
  const row = g.batch * lay.hpad * 4;
  const gru2 = g.kind === "GRU" && !g.linearBeforeReset;
  const names = ["hA", "hB", ...(g.kind === "LSTM" ? ["c"] : []), ...(gru2 ? ["z", "rh"] : [])];
  const at: Record<string, number> = {};
  names.forEach((n, k) => { at[n] = gx + k * row; });
  return { at, bytes: gx + names.length * row };
}

function prepare(ctx: KernelCtx, p: PackedPlan): KernelPrep {
  const { geo: g, lay } = p;
  const constants: KernelPrep["constants"] & {} = [packedW(g, lay, ctx.input(1).value!)];
  for (let d = 0; d < g.dirs; d++) lay.segments.forEach((s) => constants.push(packedR(g, lay, ctx.input(2).value!, d, s)));
  const GH = g.gates * g.hidden;
  if (p.bias) constants.push(projectionBias(g, lay, ctx.input(3).value!));
  if (p.bias && g.linearBeforeReset) constants.push(unitVectors(g, lay, ctx.input(3).value!.data as Float32Array, 2 * GH, [GH + 2 * g.hidden]));
  if (p.peep) constants.push(unitVectors(g, lay, ctx.input(7).value!.data as Float32Array, 3 * g.hidden, [0, g.hidden, 2 * g.hidden]));
  return { constants, scratchBytes: scratch(p).bytes, unread: [1, 2, 3, 7].filter((i) => ctx.inputs[i]) };
}

function emit(ctx: KernelCtx, p: PackedPlan): void {
  const { geo: g, lay } = p;
  const addr = ctx.constantAddrs, slot = slots(p);
  const { at } = scratch(p);
  const base = ctx.scratchAddr;
  const M = g.seq * g.batch, N = g.dirs * lay.cols, K = g.input;
  ctx.fn.emit(...emitPackedGemm(ctx, {
    M, N, K,
    a: { addr: ctx.input(0).addr, rs: K },
    packedB: addr[slot.w],
    bias: slot.bias >= 0 ? addr[slot.bias] : undefined,
    c: { addr: base, rs: N },
    // one row (batch 1, one step) reads each weight once: a single sweep per panel
    tile: M < DEFAULT_TILE.mr ? { kc: Math.max(1, K) } : undefined,
  }));
  const cell = new CellEmitter(ctx, g, lay, {
    gx: base,
    r: (d, s) => addr[slot.r(d, s)],
    rbh: slot.rbh >= 0 ? addr[slot.rbh] : undefined,
    peep: slot.peep >= 0 ? addr[slot.peep] : undefined,
    c: at.c === undefined ? undefined : base + at.c,
    z: at.z === undefined ? undefined : base + at.z,
    rh: at.rh === undefined ? undefined : base + at.rh,
  });
  emitSequence(ctx, {
    geo: g, state: "float32", rowElems: lay.hpad, lens: p.lens,
    bufs: { h: [base + at.hA, base + at.hB], c: at.c === undefined ? undefined : base + at.c },
  }, (st) => cell.step(st));
}

export const PACKED = variant<PackedPlan>({ name: "packed", plan, prepare, emit });
