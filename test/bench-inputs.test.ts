// kiln bench on the user's own inputs: --input name=kind|file.pb, --data DIR and integer ranges
// per input (random integers were 0..9 for every integer input, which onnxruntime refused as a
// BERT's token_type_ids, whose vocabulary is 2, and the bench ended in "internal error").
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { onnx } from "../compiler/onnx/proto.js";
import { encodeTensor } from "../compiler/onnx/tensor.js";
import { parseInputChoices, parseIntRanges } from "../bench/cli.js";
import { feedSpecs, feedsOf } from "../bench/measure.js";
import { kiln } from "./util/cli.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-bench-inputs-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// a BERT's token-type embedding: two rows, indexed by an int64 input
const model = path.join(tmp, "types.onnx");
fs.writeFileSync(model, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %token_type_ids : int64[1,8]
input %x : float32[1,8,4]
const %emb : float32[2,4] = dense<[0.1, 0.2, 0.3, 0.4, -0.5, -0.6, -0.7, -0.8]>
%e : float32[1,8,4] = Gather(%emb, %token_type_ids) {name="type_embedding"}
%y : float32[1,8,4] = Add(%x, %e) {name="add"}
output %y`)));

function writeTensor(file: string, name: string, t: { dtype: "int64" | "float32"; dims: number[]; data: BigInt64Array | Float32Array }) {
  fs.writeFileSync(file, onnx.TensorProto.encode(onnx.TensorProto.create(encodeTensor(name, t as never))).finish());
}

const bench = (...extra: string[]) => kiln(["bench", model, "--vs", "ort-node", "--runs", "5", "--load-runs", "0", "--json", ...extra]);

describe("kiln bench inputs", () => {
  it("random integers in the range given per input, which onnxruntime takes", () => {
    const r = bench("--int-range", "token_type_ids=0..1");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).kiln.ok).toBe(true);
  }, 120_000);

  it("without a range, onnxruntime's refusal is BAD_INPUT saying which input and how to fix it", () => {
    const r = bench();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kiln: BAD_INPUT: .*indices element out of data bounds.*; kiln bench made the integer input token_type_ids at random in 0\.\.9: give the range each takes \(--int-range token_type_ids=0\.\.1\) or real inputs/);
  }, 120_000);

  it("tensor files by name (--input name=file.pb) and a test-data folder (--data DIR)", () => {
    const dir = path.join(tmp, "test_data_set_0");
    fs.mkdirSync(dir);
    writeTensor(path.join(dir, "input_0.pb"), "token_type_ids", { dtype: "int64", dims: [1, 8], data: BigInt64Array.from([0, 0, 0, 1, 1, 1, 0, 1].map(BigInt)) });
    writeTensor(path.join(dir, "input_1.pb"), "x", { dtype: "float32", dims: [1, 8, 4], data: Float32Array.from({ length: 32 }, (_, i) => i / 32) });
    const r = bench("--data", dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const byName = bench("--input", `token_type_ids=${path.join(dir, "input_0.pb")}`, "--input", "x=ones");
    expect(byName.stderr).toBe("");
    expect(byName.code).toBe(0);
  }, 240_000);

  it("names a misspelled input, a bad range, a missing file", () => {
    expect(bench("--int-range", "token_types=0..1").stderr).toMatch(/the model has no input "token_types" \(inputs: token_type_ids, x\)/);
    expect(bench("--int-range", "token_type_ids=3..1").stderr).toMatch(/--int-range takes LO\.\.HI or name=LO\.\.HI with LO <= HI/);
    expect(bench("--input", "x=nowhere.pb").stderr).toMatch(/BAD_INPUT: tensor file "nowhere\.pb" does not exist/);
    expect(bench("--input", "sideways").stderr).toMatch(/--input takes random or arange \(every input\), or name=/);
  });
});

describe("feed specs", () => {
  it("apply ranges per input or to every integer input, kinds and files by name", async () => {
    expect(parseIntRanges(["0..1", "a=-3..3"])).toEqual(new Map([["*", [0, 1]], ["a", [-3, 3]]]));
    expect(parseInputChoices(["arange", "b=ones"])).toEqual({ kind: "arange", byName: new Map([["b", "ones"]]) });
    const inputs = [{ name: "ids", dtype: "int64" as const, dims: [64] }, { name: "mask", dtype: "int32" as const, dims: [64] }];
    const specs = feedSpecs(inputs, {}, "random", 1, { intRanges: new Map([["ids", [5, 6] as [number, number]], ["*", [0, 1] as [number, number]]]) });
    const feeds = await feedsOf(specs);
    expect(new Set(Array.from(feeds.ids.data as BigInt64Array, Number))).toEqual(new Set([5, 6]));
    expect(new Set(Array.from(feeds.mask.data as Int32Array))).toEqual(new Set([0, 1]));
    // a spec goes to a child process as JSON and makes the same tensor there
    expect(await feedsOf(JSON.parse(JSON.stringify(specs)))).toEqual(feeds);
  });
});
