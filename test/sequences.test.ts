// Sequences and optionals, resolved at compile time: the sequence ops on a model of our own (its
// results are data movement, so the expected values are exact and written out), the runtime's
// sequence and optional feeds and results and their errors, load() compiling per layout, and
// Scan-8 (batch axis, directions) against onnxruntime-node.
import { describe, expect, it } from "vitest";
import { compileOnnx } from "../compiler/driver/compile.js";
import { load } from "../compiler/driver/api.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { parseGraph } from "../compiler/ir/parse.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { exportModel } from "../compiler/onnx/export.js";
import { onnx } from "../compiler/onnx/proto.js";
import { createSession, type Session } from "../runtime/session.js";
import { appendManifest } from "../codegen/artifact.js";
import { MANIFEST_CHECKSUM_SECTION, MANIFEST_SECTION, type Manifest } from "../runtime/manifest.js";
import { sections, withoutSections } from "../runtime/sections.js";
import { runOrt } from "./util/ort.js";

const F = onnx.TensorProto.DataType.FLOAT;
const seqType = (elem: number) => ({ sequenceType: { elemType: { tensorType: { elemType: elem } } } });
const optType = (inner: object) => ({ optionalType: { elemType: inner } });
const tensorType = (elem: number, dims: number[]) => ({ tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } });
const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/**
 * xs: a sequence of float tensors [2, k]; t: float[2, 1]; maybe: an optional float[2, 1].
 *   withT  = SequenceInsert(xs, t, 1)            (t second)
 *   cat    = ConcatFromSequence(withT, axis=1)   [2, sum k]
 *   cols   = SplitToSequence(cat, axis=1, keepdims=0): one [2] per column
 *   rest   = SequenceErase(cols, 0)              (the first column gone)
 *   n      = SequenceLength(rest)
 *   first  = SequenceAt(rest, -1)                (the last column)
 *   has    = OptionalHasElement(maybe)
 *   none   = Optional(type=...) : an optional holding nothing
 */
function sequenceModel(): Uint8Array {
  const node = (opType: string, input: string[], output: string[], attribute: object[] = []) => ({ opType, input, output, attribute, name: output[0] });
  const graph = {
    name: "seq",
    input: [
      { name: "xs", type: seqType(F) },
      { name: "t", type: tensorType(F, [2, 1]) },
      { name: "maybe", type: optType(tensorType(F, [2, 1])) },
    ],
    output: [
      { name: "withT", type: seqType(F) },
      { name: "cat", type: tensorType(F, []) },
      { name: "rest", type: seqType(F) },
      { name: "n", type: tensorType(onnx.TensorProto.DataType.INT64, []) },
      { name: "last", type: tensorType(F, []) },
      { name: "has", type: tensorType(onnx.TensorProto.DataType.BOOL, []) },
      { name: "none", type: optType(tensorType(F, [])) },
    ],
    initializer: [{ name: "one", dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [1] }, { name: "minus1", dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [-1] }, { name: "zero", dataType: onnx.TensorProto.DataType.INT64, dims: [], int64Data: [0] }],
    node: [
      node("SequenceInsert", ["xs", "t", "one"], ["withT"]),
      node("ConcatFromSequence", ["withT"], ["cat"], [int("axis", 1)]),
      node("SplitToSequence", ["cat"], ["cols"], [int("axis", 1), int("keepdims", 0)]),
      node("SequenceErase", ["cols", "zero"], ["rest"]),
      node("SequenceLength", ["rest"], ["n"]),
      node("SequenceAt", ["rest", "minus1"], ["last"]),
      node("OptionalHasElement", ["maybe"], ["has"]),
      node("Optional", [], ["none"], [{ name: "type", type: onnx.AttributeProto.AttributeType.TYPE_PROTO, tp: tensorType(F, []) }]),
    ],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject({ irVersion: 8, opsetImport: [{ domain: "", version: 18 }], graph })).finish();
}

const f32 = (dims: number[], values: number[]) => ({ data: Float32Array.from(values), dims });
const XS = [f32([2, 2], [1, 2, 3, 4]), f32([2, 1], [5, 6])];
const T = f32([2, 1], [7, 8]);

async function compiled(layouts: Record<string, null | number[][]>, shapes: Record<string, number[]> = {}): Promise<Session> {
  return createSession((await compileOnnx(sequenceModel(), { layouts, shapes })).wasm);
}

const values = (t: { data: ArrayLike<number | bigint | boolean> } | null | undefined) => (t ? Array.from(t.data as ArrayLike<number>, Number) : t);

describe("sequences and optionals", () => {
  it("resolves the sequence ops at compile time, taking and giving sequences and optionals", async () => {
    const session = await compiled({ xs: [[2, 2], [2, 1]] }, { maybe: [2, 1] });
    const got = await session.runValues({ xs: XS, t: T, maybe: T });
    // cat = [[1, 2, 7, 5], [3, 4, 8, 6]]: xs[0], then t, then xs[1] along axis 1
    expect(values(got.cat as Tensor)).toEqual([1, 2, 7, 5, 3, 4, 8, 6]);
    expect((got.withT as Tensor[]).map(values)).toEqual([[1, 2, 3, 4], [7, 8], [5, 6]]);
    expect((got.rest as Tensor[]).map((t) => [t.dims, values(t)])).toEqual([[[2], [2, 4]], [[2], [7, 8]], [[2], [5, 6]]]);
    expect(values(got.n as Tensor)).toEqual([3]);
    expect(values(got.last as Tensor)).toEqual([5, 6]);
    expect(values(got.has as Tensor)).toEqual([1]);
    expect(got.none).toBeNull();
    // run() gives the slots: a sequence's elements under name[k], an empty optional not at all
    expect(session.manifest.containers?.outputs).toEqual([{ name: "withT", items: ["withT[0]", "withT[1]", "withT[2]"] }, { name: "rest", items: ["rest[0]", "rest[1]", "rest[2]"] }, { name: "none", items: null }]);
    expect(Object.keys(await session.run({ xs: XS, t: T, maybe: T })).sort()).toEqual(["cat", "has", "last", "n", "rest[0]", "rest[1]", "rest[2]", "withT[0]", "withT[1]", "withT[2]"]);
  });

  it("compiles an optional input empty when its layout says null, and refuses a value for it then", async () => {
    const session = await compiled({ xs: [[2, 2], [2, 1]], maybe: null });
    expect(values((await session.runValues({ xs: XS, t: T, maybe: null })).has as Tensor)).toEqual([0]);
    expect(values((await session.runValues({ xs: XS, t: T })).has as Tensor)).toEqual([0]);
    await expect(session.run({ xs: XS, t: T, maybe: T })).rejects.toThrow(/BAD_INPUT: input "maybe" was compiled as an empty optional: feed it null/);
  });

  it("checks sequence feeds against the layout compiled for, naming the input and element", async () => {
    const session = await compiled({ xs: [[2, 2], [2, 1]] }, { maybe: [2, 1] });
    const run = (xs: unknown, t: unknown = T) => session.run({ xs: xs as never, t: t as never, maybe: T });
    await expect(run([XS[0]])).rejects.toThrow(/BAD_INPUT: input "xs" is a sequence compiled for 2 tensors, fed 1/);
    await expect(run([XS[0], f32([2, 2], [1, 2, 3, 4])])).rejects.toThrow(/BAD_INPUT: input "xs\[1\]" has dims \[2,2\] but the model was compiled for float32\[2,1\]/);
    await expect(run([XS[0], { data: Int32Array.of(5, 6), dims: [2, 1] }])).rejects.toThrow(/BAD_INPUT: input "xs\[1\]" must be float32/);
    await expect(run(XS[0])).rejects.toThrow(/BAD_INPUT: input "xs" is a sequence compiled for 2 tensors, fed none/);
    await expect(run(null)).rejects.toThrow(/BAD_INPUT: input "xs" is a sequence compiled for 2 tensors, fed none/);
    await expect(run(XS, null)).rejects.toThrow(/BAD_INPUT: input "t" is null; pass a typed array or \{ data, dims \}/);
    await expect(run([])).rejects.toThrow(/BAD_INPUT: input "xs" is a sequence compiled for 2 tensors, fed 0/);
    await expect(run(XS, [])).rejects.toThrow(/BAD_INPUT: input "t" is a plain array/);
    await expect(run([XS[0], "x"])).rejects.toThrow(/BAD_INPUT: input "xs\[1\]" is the string "x"/);
    await expect(session.run({ t: T, maybe: T })).rejects.toThrow(/BAD_INPUT: missing input "xs\[0\]"/);
  });

  it("refuses to compile a sequence input without its layout, or a layout for another input (typed)", async () => {
    await expect(compileOnnx(sequenceModel(), { shapes: { maybe: [2, 1] } })).rejects.toThrow(/SHAPE_MISMATCH: input "xs" is a sequence; kiln compiles for its length and its elements' dims/);
    await expect(compileOnnx(sequenceModel(), { layouts: { t: [[2, 1]] } })).rejects.toThrow(/BAD_INPUT: layouts names "t", which is not a graph input of sequence or optional type/);
    await expect(compileOnnx(sequenceModel(), { layouts: { xs: null } })).rejects.toThrow(/BAD_INPUT: input "xs" is a sequence, not an optional/);
    await expect(compileOnnx(sequenceModel(), { layouts: { xs: [[2, -1]] } as never })).rejects.toThrow(/BAD_OPTION/);
  });

  it("refuses a manifest whose containers name slots the module does not have (INVALID_ARTIFACT)", async () => {
    const { wasm } = await compileOnnx(sequenceModel(), { layouts: { xs: [[2, 2], [2, 1]] }, shapes: { maybe: [2, 1] } });
    const edit = (change: (m: Manifest) => void) => {
      const s = sections(wasm).find((x) => x.name === MANIFEST_SECTION)!;
      const m = JSON.parse(new TextDecoder().decode(wasm.subarray(s.payload, s.end))) as Manifest;
      change(m);
      return appendManifest(withoutSections(wasm, [MANIFEST_SECTION, MANIFEST_CHECKSUM_SECTION]), m);
    };
    await expect(createSession(edit(() => {}))).resolves.toBeDefined();
    await expect(createSession(edit((m) => { m.containers!.inputs[0].items = ["xs[0]", "nope"]; }))).rejects.toThrow(/INVALID_ARTIFACT: .*containers\.inputs names slots it has not/);
    await expect(createSession(edit((m) => { m.containers!.outputs[0].items = ["cat", "cat"]; }))).rejects.toThrow(/INVALID_ARTIFACT: .*containers\.outputs names slots it has not/);
    await expect(createSession(edit((m) => { m.containers = 3 as never; }))).rejects.toThrow(/INVALID_ARTIFACT: .*containers\.inputs names slots it has not/);
  });

  it("load() compiles one module per sequence layout from the feeds", async () => {
    const model = await load(sequenceModel());
    const a = await model.runValues({ xs: XS, t: T, maybe: T });
    expect(values(a.cat as Tensor)).toEqual([1, 2, 7, 5, 3, 4, 8, 6]);
    const b = await model.runValues({ xs: [XS[1]], t: T, maybe: null });
    expect(values(b.cat as Tensor)).toEqual([5, 7, 6, 8]);
    expect(values(b.has as Tensor)).toEqual([0]);
    expect((b.rest as Tensor[]).map(values)).toEqual([[7, 8]]);
  });

  it("refuses a sequence position known only at run time, naming the node", async () => {
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.fromObject({
      irVersion: 8, opsetImport: [{ domain: "", version: 18 }],
      graph: {
        name: "at", input: [{ name: "xs", type: seqType(F) }, { name: "i", type: tensorType(onnx.TensorProto.DataType.INT64, []) }], output: [{ name: "y", type: tensorType(F, []) }],
        node: [{ opType: "SequenceAt", name: "at", input: ["xs", "i"], output: ["y"] }],
      },
    })).finish();
    await expect(compileOnnx(bytes, { layouts: { xs: [[2]] } })).rejects.toThrow(/UNSUPPORTED_OP: input 1 \("i"\) decides an output shape but is only known at run time.*\[node "at", SequenceAt/s);
    // load() freezes the position to the fed value and compiles for it
    const model = await load(bytes);
    const got = await model.run({ xs: [f32([2], [1, 2]), f32([2], [3, 4])], i: { data: BigInt64Array.of(-1n), dims: [] } });
    expect(values(got.y)).toEqual([3, 4]);
  });
});

describe("Scan-8: batch axis, directions, sequence_lens", () => {
  const modelOf = (text: string) => exportModel(parseGraph(`kiln.graph opsets("" = 8)\n` + text));
  const floats = (dims: number[], seed: number): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    return { dtype: "float32", dims, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + seed) * 2) };
  };
  const scan = (lens: string) => `
input %s0 : float32[3,2]
input %xs : float32[3,4,2]
input %ys : float32[3,4,2]
${lens}
%s : float32[3,2], %o : float32[3,4,2] = Scan[body=graph, num_scan_inputs=2, directions=[0, 1]](${lens ? "%lens" : "_"}, %s0, %xs, %ys) {name="scan8"}
  graph body {
    input %acc : float32[2]
    input %x : float32[2]
    input %y : float32[2]
    %p : float32[2] = Mul(%x, %y) {name="mul"}
    %a2 : float32[2] = Add(%acc, %p) {name="add"}
    %e : float32[2] = Sub(%a2, %y) {name="sub"}
    output %a2
    output %e
  }
output %s
output %o`;

  it("scans each batch row (one scan input reversed) and stacks the rows, as onnxruntime does", async () => {
    const feeds = { s0: floats([3, 2], 1), xs: floats([3, 4, 2], 2), ys: floats([3, 4, 2], 3) };
    for (const text of [scan(""), scan("const %lens : int64[3] = dense<[4, 4, 4]>")]) {
      const bytes = modelOf(text);
      const want = await runOrt(bytes, feeds);
      for (const level of [0, 2] as const) {
        const got = await (await load(bytes, { level })).run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: t.data, dims: t.dims }])));
        for (const [name, w] of Object.entries(want)) expect(compareTensors(got[name], w, { rtol: 1e-5, atol: 1e-6 }).message ?? "ok", `${name} -O${level}`).toBe("ok");
      }
    }
  });

  it("refuses rows shorter than the sequence, naming the node", async () => {
    const bytes = modelOf(scan("const %lens : int64[3] = dense<[4, 2, 4]>"));
    await expect(compileOnnx(bytes)).rejects.toThrow(/UNSUPPORTED_OP: sequence_lens \[4,2,4\] has rows shorter than the sequence \(4\).*\[node "scan8", Scan/s);
  });
});
