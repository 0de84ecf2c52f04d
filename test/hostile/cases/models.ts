// Damaged and malformed models: truncated, random, flipped, structurally wrong (cycles,
// dangling values), odd opsets and hostile tensor dims. Each is written as model.onnx and run
// through compile(); a few through `kiln run` too (the CLI prints every KilnError the same way,
// and each of its runs costs a process start).
import * as path from "node:path";
import { compile } from "../../../compiler/driver/api.js";
import { onnx } from "../../../compiler/onnx/proto.js";
import type { KilnErrorCode } from "../../../runtime/errors.js";
import { ADD, edit, onnxOf, rng, write, type Expected, type HostileCase } from "../case.js";

/** A case whose model.onnx holds `bytes`, run by compile() and, with `cli`, by `kiln run`. */
function model(name: string, bytes: () => Uint8Array, code: Expected, message?: RegExp, cli = false): HostileCase {
  return {
    name,
    make: (dir) => void write(dir, "model.onnx", bytes()),
    cli: cli ? ["run", "model.onnx"] : undefined,
    api: (dir) => compile(path.join(dir, "model.onnx")),
    code,
    message,
  };
}

const fromIr = (name: string, text: string, code: KilnErrorCode, message?: RegExp, cli = false) => model(name, () => onnxOf(text), code, message, cli);
const edited = (name: string, change: Parameters<typeof edit>[1], code: KilnErrorCode, message?: RegExp, cli = false) => model(name, () => edit(ADD, change), code, message, cli);

/** ADD with some bits flipped, at seeded places: each flip lands in structure, names or weights. */
function flipped(seed: number, flips: number): Uint8Array {
  const r = rng(seed);
  const b = Uint8Array.from(ADD);
  for (let k = 0; k < flips; k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
  return b;
}

const IF_MODEL = `kiln.graph opsets("" = 13)
input %c : bool[]
input %x : float32[2]
%y : float32[2] = If[else_branch=graph, then_branch=graph](%c) {name="if"}
  graph else_branch {
    %e : float32[2] = Neg(%x) {name="neg"}
    output %e
  }
  graph then_branch {
    output %x
  }
output %y`;

export const MODEL_CASES: HostileCase[] = [
  model("empty-file", () => new Uint8Array(), "INVALID_MODEL", /no graph/, true),
  model("text-file", () => new TextEncoder().encode("this is not a model\n"), "INVALID_MODEL", /not a valid ONNX model/, true),
  ...[1, 7, 0.5, -3].map((cut) => model(`truncated-at-${cut}`, () => ADD.slice(0, cut < 1 ? (cut < 0 ? ADD.length + cut : Math.floor(ADD.length * cut)) : cut), "INVALID_MODEL", undefined, cut === 0.5)),
  ...[1, 2, 3, 4].map((seed) => model(`random-bytes-${seed}`, () => {
    const r = rng(seed);
    return Uint8Array.from({ length: 300 }, () => Math.floor(r() * 256));
  }, "INVALID_MODEL", /not a valid ONNX model/)),
  // a flip may leave a valid model (a weight changed), or break it in any way: never untyped
  ...Array.from({ length: 40 }, (_, seed) => model(`flipped-bits-${seed}`, () => flipped(seed, 1 + (seed % 4)), "typed", undefined, seed % 20 === 0)),
  // add reads what a Relu of its own output makes
  edited("cycle", (m) => {
    m.graph!.node![0].input = ["loop", "w"];
    m.graph!.node!.push({ name: "back", opType: "Relu", input: ["y"], output: ["loop"] });
  }, "INVALID_MODEL", /cycle through nodes "add", "back"/, true),
  fromIr("dangling-value", `kiln.graph opsets("" = 13)
input %x : float32[2]
%y : float32[2] = Add(%x, %ghost) {name="add"}
output %y`, "INVALID_MODEL", /"ghost" of node "add" is not a graph input/),
  edited("value-produced-twice", (m) => void m.graph!.node!.push({ name: "again", opType: "Relu", input: ["x"], output: ["y"] }), "INVALID_MODEL", /produced by both/),
  // ONNX names each value once; kiln read the initializer and ignored the node (onnx.checker refuses both)
  edited("node-writes-an-initializer", (m) => void m.graph!.node!.push({ name: "shadow", opType: "Relu", input: ["x"], output: ["w"] }), "INVALID_MODEL", /node "shadow" \(Relu\) writes "w", which is also an initializer/),
  edited("node-writes-a-graph-input", (m) => void m.graph!.node!.push({ name: "shadow", opType: "Relu", input: ["w"], output: ["x"] }), "INVALID_MODEL", /node "shadow" \(Relu\) writes "x", which is also a graph input/),
  edited("initializer-named-twice", (m) => void m.graph!.initializer!.push({ ...m.graph!.initializer![0] }), "INVALID_MODEL", /two initializers named "w"/),
  edited("output-not-produced", (m) => void (m.graph!.output![0].name = "nothing"), "INVALID_MODEL", /"nothing" is not produced/),
  edited("too-few-inputs", (m) => void (m.graph!.node![0].input = ["x"]), "INVALID_MODEL", /Add takes 2 inputs, this node has 1/),
  edited("required-input-empty", (m) => void (m.graph!.node![0].input = ["", "w"]), "INVALID_MODEL", /input 0 is required but absent/),
  fromIr("unknown-operator", `kiln.graph opsets("" = 13)
input %x : float32[2]
%y : float32[2] = NoSuchOp(%x) {name="mystery"}
output %y`, "UNSUPPORTED_OP", /operator NoSuchOp is not supported/, true),
  model("attribute-of-wrong-type", () => edit(onnxOf(`kiln.graph opsets("" = 13)
input %x : float32[1,1,4,4]
const %w : float32[1,1,3,3] = splat<1>
%y : float32[1,1,2,2] = Conv(%x, %w) {name="conv"}
output %y`), (m) => void (m.graph!.node![0].attribute = [{ name: "strides", type: onnx.AttributeProto.AttributeType.FLOAT, f: 2 }])), "INVALID_MODEL", /strides should be ints/),
  // control flow: a branch without its graph, one reading a value nothing defines, a loop too long to unroll
  model("if-branch-without-graph", () => edit(onnxOf(IF_MODEL), (m) => void (m.graph!.node![0].attribute![0].g = null)), "INVALID_MODEL", /graph attribute without a graph/),
  fromIr("if-branch-reads-nothing", IF_MODEL.replace("Neg(%x)", "Neg(%ghost)"), "INVALID_MODEL", /subgraph of If node "if".*"ghost"/),
  fromIr("loop-of-a-billion", `kiln.graph opsets("" = 13)
input %x : float32[1]
const %trip : int64[] = dense<[1000000000]>
%y : float32[1] = Loop[body=graph](%trip, _, %x) {name="loop"}
  graph body {
    input %i : int64[]
    input %c : bool[]
    input %v : float32[1]
    %v2 : float32[1] = Neg(%v) {name="neg"}
    output %c
    output %v2
  }
output %y`, "UNSUPPORTED_OP", /it runs 1000000000 iterations; kiln unrolls loops of at most 1024/),
  edited("opset-999", (m) => void (m.opsetImport![0].version = 999), "UNSUPPORTED_OP", /imports ai.onnx opset 999, newer than kiln knows \(ai.onnx opsets 1 to \d+\)/, true),
  edited("opset-negative", (m) => void (m.opsetImport![0].version = -1), "INVALID_MODEL", /ai.onnx opset -1; opset versions are integers from 1/),
  edited("opset-zero", (m) => void (m.opsetImport![0].version = 0), "INVALID_MODEL", /opset 0/),
  edited("opset-imported-twice", (m) => void m.opsetImport!.push({ domain: "", version: 17 }), "INVALID_MODEL", /imports ai.onnx twice, as opsets 13 and 17/),
  // a newer opset of a domain no node uses is harmless
  model("opset-newer-of-unused-domain", () => edit(ADD, (m) => void m.opsetImport!.push({ domain: "ai.onnx.ml", version: 99 })), "ok"),
  edited("initializer-dims-1e9-by-1e9", (m) => {
    const w = m.graph!.initializer![0];
    w.dims = [1e9, 1e9];
    w.rawData = new Uint8Array();
  }, "INVALID_MODEL", /tensor "w" has 0 elements, expected 1000000000000000000 for float32\[1000000000,1000000000\]/, true),
  edited("initializer-raw-data-short", (m) => void (m.graph!.initializer![0].rawData = new Uint8Array(3)), "INVALID_MODEL", /tensor "w" has 3 bytes of data, expected 8/),
  edited("initializer-negative-dims", (m) => void (m.graph!.initializer![0].dims = [-2]), "INVALID_MODEL", /invalid dims \[-2\]/),
  edited("initializer-of-string-type", (m) => {
    const w = m.graph!.initializer![0];
    Object.assign(w, { dataType: onnx.TensorProto.DataType.STRING, rawData: new Uint8Array(), stringData: [new Uint8Array([65]), new Uint8Array([66])] });
  }, "UNSUPPORTED_OP", /input "w" has type string/),
  edited("initializer-of-unknown-type", (m) => void (m.graph!.initializer![0].dataType = 999), "UNSUPPORTED_OP", /type#999/),
  fromIr("input-4e12-elements", `kiln.graph opsets("" = 13)
input %x : float32[2000000,2000000]
%y : float32[2000000,2000000] = Relu(%x) {name="relu"}
output %y`, "UNSUPPORTED_OP", /more than 4 GiB/),
];
