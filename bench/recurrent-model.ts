// A one-layer RNN, GRU or LSTM model with seeded weights (W, R, B constants; X the graph input),
// for timing the recurrent kernels against onnxruntime with `kiln bench`:
//
//   node dist/bench/recurrent-model.js lstm.onnx [--op LSTM] [--hidden 128] [--input 64] [--seq 100] [--batch 1] [--direction forward]
//   node bin/kiln.js bench lstm.onnx --vs ort-web --threads 1
import * as fs from "node:fs";
import { Graph, type Attr } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { rng } from "../compiler/driver/cli/inputs.js";
import { isRecurrent } from "../compiler/ops/recurrent.js";
import { sizeOf } from "../runtime/dtypes.js";

export interface RecurrentModel {
  op: string;
  hidden: number;
  input: number;
  seq: number;
  batch: number;
  direction: "forward" | "reverse" | "bidirectional";
}

const GATES: Record<string, number> = { RNN: 1, GRU: 3, LSTM: 4 };

/** The model's bytes: X [seq, batch, input] in, Y and Y_h (and Y_c) out; weights uniform in +-1/sqrt(hidden), as PyTorch draws them. */
export function recurrentModel(o: RecurrentModel): Uint8Array {
  const g = new Graph();
  g.opsets.set("", 17);
  const dirs = o.direction === "bidirectional" ? 2 : 1;
  const G = GATES[o.op], H = o.hidden;
  const r = rng(11);
  const bound = 1 / Math.sqrt(H);
  const constant = (name: string, dims: number[]) => Object.assign(g.value(name), {
    dtype: "float32", shape: dims, const: { dtype: "float32", dims, data: Float32Array.from({ length: sizeOf(dims) }, () => (r() * 2 - 1) * bound) },
  });
  Object.assign(g.value("X"), { dtype: "float32", shape: [o.seq, o.batch, o.input] });
  constant("W", [dirs, G * H, o.input]);
  constant("R", [dirs, G * H, H]);
  constant("B", [dirs, 2 * G * H]);
  g.inputs = ["X"];
  const outputs = o.op === "LSTM" ? ["Y", "Y_h", "Y_c"] : ["Y", "Y_h"];
  const attrs: Record<string, Attr> = { hidden_size: { type: "int", value: H }, direction: { type: "string", value: o.direction } };
  g.addNode({ name: o.op.toLowerCase(), op: o.op, domain: "", inputs: ["X", "W", "R", "B"], outputs, attrs });
  g.outputs = outputs;
  return exportModel(g, { valueInfo: false, producer: "kiln-bench" });
}

function main(argv: string[]): void {
  const out = argv[0];
  const flag = (name: string, def: string) => {
    const k = argv.indexOf(`--${name}`);
    return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : def;
  };
  const op = flag("op", "LSTM").toUpperCase();
  const direction = flag("direction", "forward");
  if (!out || !isRecurrent(op) || !["forward", "reverse", "bidirectional"].includes(direction)) {
    console.error("usage: node dist/bench/recurrent-model.js OUT.onnx [--op RNN|GRU|LSTM] [--hidden N] [--input N] [--seq N] [--batch N] [--direction forward|reverse|bidirectional]");
    process.exit(2);
  }
  const num = (name: string, def: number) => Number(flag(name, String(def)));
  const m: RecurrentModel = { op, hidden: num("hidden", 128), input: num("input", 64), seq: num("seq", 100), batch: num("batch", 1), direction: direction as RecurrentModel["direction"] };
  fs.writeFileSync(out, recurrentModel(m));
  console.log(`${out}: ${op} hidden ${m.hidden}, input ${m.input}, seq ${m.seq}, batch ${m.batch}, ${m.direction}`);
}

if (process.argv[1]?.endsWith("recurrent-model.js")) main(process.argv.slice(2));
