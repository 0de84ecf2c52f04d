// How the fused cell (recurrent/cell.ts) lays out gates: hidden units in panels of U, and inside
// a panel the gates of those U units side by side (LSTM: i o f c of 4 units = 16 columns), so one
// pass of the recurrent GEMV over a panel leaves in registers every gate of its units, and the
// state update of those units runs right there. W and R are packed at compile time with their
// rows put in this column order (zero rows pad the last panel): the input projection's GEMM then
// writes X W^T already in the cell's order, and R's panels are the GEMV's operand.
//
// GRU without linear_before_reset needs r (.) H before its h gate's product, so it has two
// segments: z and r of 8 units per panel, then h alone, 16 units per panel, in a second pass.
import type { RecurrentGeometry } from "../../../compiler/ops/recurrent.js";
import type { Tensor } from "../../../compiler/ir/graph.js";
import { packB, packedBytes } from "../matmul/gemm-pack.js";
import { derivedFrom, lazyFloat32, type LazyConstant } from "../kernel.js";

export interface Segment {
  /** the ONNX gate indices this segment computes, in panel order */
  gates: number[];
  /** hidden units per panel: 4 f32x4 accumulators at most (U * gates <= 16) */
  units: number;
  panels: number;
  /** first column of the segment in a direction's row of gate columns */
  col: number;
  /** columns: panels * gates * units */
  width: number;
}

export interface CellLayout {
  segments: Segment[];
  /** gate columns per direction */
  cols: number;
  /** state rows are padded to this many units (a multiple of every segment's units) */
  hpad: number;
}

export function cellLayout(g: RecurrentGeometry): CellLayout {
  const groups = g.kind === "GRU" && !g.linearBeforeReset ? [[0, 1], [2]] : [Array.from({ length: g.gates }, (_, k) => k)];
  let col = 0;
  const segments = groups.map((gates) => {
    const units = 4 * Math.floor(4 / gates.length);
    const panels = Math.ceil(g.hidden / units);
    const s = { gates, units, panels, col, width: panels * gates.length * units };
    col += s.width;
    return s;
  });
  return { segments, cols: col, hpad: Math.ceil(g.hidden / 16) * 16 };
}

/** The ONNX row (gate * hidden + unit, in one direction's W or R) behind a gate column, or -1 for padding. */
export function columnSource(lay: CellLayout, hidden: number, col: number): number {
  const s = lay.segments.find((x) => col >= x.col && col < x.col + x.width)!;
  const c = col - s.col, G = s.gates.length;
  const p = Math.floor(c / (G * s.units)), r = c % (G * s.units);
  const unit = p * s.units + (r % s.units);
  return unit < hidden ? s.gates[Math.floor(r / s.units)] * hidden + unit : -1;
}

/** rows of a [dirs, rows, K] tensor (or of one direction's part) put in `cols` order, zero rows where cols says -1 */
function permuteRows(src: ArrayLike<number>, K: number, cols: number[], srcBase = 0): Float32Array {
  const out = new Float32Array(cols.length * K);
  cols.forEach((row, j) => {
    if (row < 0) return;
    for (let k = 0; k < K; k++) out[j * K + k] = src[srcBase + row * K + k];
  });
  return out;
}

const recipeOf = (g: RecurrentGeometry, lay: CellLayout) => `${g.kind} ${lay.segments.map((s) => `${s.gates.join("")}x${s.units}`).join("+")} H${g.hidden}`;

/**
 * W of every direction as the projection GEMM's B (gemm-pack.ts packB of W^T): columns
 * dirs * cols, direction after direction, each in the cell's order.
 */
export function packedW(g: RecurrentGeometry, lay: CellLayout, w: Tensor): LazyConstant {
  const N = g.dirs * lay.cols, K = g.input;
  return derivedFrom(lazyFloat32(packedBytes(K, N) / 4, (out) => {
    const cols: number[] = [];
    for (let d = 0; d < g.dirs; d++) for (let c = 0; c < lay.cols; c++) { const r = columnSource(lay, g.hidden, c); cols.push(r < 0 ? -1 : d * g.gates * g.hidden + r); }
    out.set(new Float32Array(packB(permuteRows(w.data as Float32Array, K, cols), K, N, true).buffer));
  }), w, `recurrentW ${recipeOf(g, lay)} dirs${g.dirs}`);
}

/**
 * R's segment s as panels of gates * units columns, K-major (packB with that panel width), every
 * direction's panels one after the other (direction d's at d * hidden * width floats).
 */
export function packedR(g: RecurrentGeometry, lay: CellLayout, r: Tensor, s: Segment): LazyConstant {
  const nr = s.gates.length * s.units, K = g.hidden, one = packedBytes(K, s.width, nr) / 4;
  return derivedFrom(lazyFloat32(g.dirs * one, (out) => {
    const cols = Array.from({ length: s.width }, (_, c) => columnSource(lay, g.hidden, s.col + c));
    for (let d = 0; d < g.dirs; d++) {
      out.set(new Float32Array(packB(permuteRows(r.data as Float32Array, K, cols, d * g.gates * g.hidden * K), K, s.width, true, nr).buffer), d * one);
    }
  }), r, `recurrentR ${recipeOf(g, lay)} dirs${g.dirs} s${s.col}`);
}

/**
 * The bias the projection GEMM adds per column: Wb + Rb, except for GRU's h gate with
 * linear_before_reset, where Rb_h belongs inside r (.) (...) and the cell adds it (cellBias).
 */
export function projectionBias(g: RecurrentGeometry, lay: CellLayout, b: Tensor): Uint8Array {
  const GH = g.gates * g.hidden;
  const v = b.data as Float32Array;
  const out = new Float32Array(g.dirs * lay.cols);
  for (let d = 0; d < g.dirs; d++) {
    for (let c = 0; c < lay.cols; c++) {
      const row = columnSource(lay, g.hidden, c);
      if (row < 0) continue;
      const rb = g.linearBeforeReset && row >= 2 * g.hidden ? 0 : v[d * 2 * GH + GH + row];
      out[d * lay.cols + c] = v[d * 2 * GH + row] + rb;
    }
  }
  return new Uint8Array(out.buffer);
}

/** Per direction, `count` vectors of hidden values from `src` (rows of the given ONNX offsets), each padded to hpad. */
export function unitVectors(g: RecurrentGeometry, lay: CellLayout, src: Float32Array, perDir: number, offsets: number[]): Uint8Array {
  const out = new Float32Array(g.dirs * offsets.length * lay.hpad);
  for (let d = 0; d < g.dirs; d++) {
    offsets.forEach((o, k) => {
      out.set(src.subarray(d * perDir + o, d * perDir + o + g.hidden), (d * offsets.length + k) * lay.hpad);
    });
  }
  return new Uint8Array(out.buffer);
}
