// The CLI as a user runs it: compile with dumps and a report, inspect, run with --json.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { compareTensors } from "../compiler/driver/testdata.js";
import { onnx } from "../compiler/onnx/proto.js";
import { runOrt, tensor } from "./util/ort.js";
import { kiln } from "./util/cli.js";
import { fileCheck } from "./passes/check.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-cli-"));
const modelFile = path.join(tmp, "small.onnx");
fs.writeFileSync(modelFile, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,8]
const %w : float32[8,4] = dense<[${Array.from({ length: 32 }, (_, i) => ((i * 37) % 11) / 10 - 0.5).join(", ")}]>
const %b : float32[4] = dense<[0.1, -0.2, 0.3, -0.4]>
const %shape : int64[2] = dense<[4, 2]>
const %two : float32[] = dense<[2]>
const %three : float32[] = dense<[3]>
%six : float32[] = Mul(%two, %three) {name="const_mul"}
%m : float32[2,4] = MatMul(%x, %w) {name="mm"}
%a : float32[2,4] = Add(%m, %b) {name="bias"}
%i : float32[2,4] = Identity(%a) {name="id"}
%r : float32[2,4] = Relu(%i) {name="relu"}
%r2 : float32[2,4] = Relu(%i) {name="relu_twin"}
%s : float32[2,4] = Add(%r, %r2) {name="sum"}
%k : float32[2,4] = Mul(%s, %six) {name="scale"}
%y : float32[4,2] = Reshape(%k, %shape) {name="reshape"}
%unused : float32[2,4] = Neg(%a) {name="dead"}
output %y`)));

describe("kiln compile --dump-after=all", () => {
  it("writes text, dot and onnx dumps; each .onnx runs in onnxruntime with the original outputs", async () => {
    const dumps = path.join(tmp, "dumps");
    const report = path.join(tmp, "report.json");
    const r = kiln(["compile", modelFile, "-o", path.join(tmp, "small.wasm"), "--dump-after=all", "--dump-format", "text,dot,onnx", "--dump-dir", dumps, "--report", report]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const files = fs.readdirSync(dumps).sort();
    for (const ext of [".txt", ".dot", ".onnx"]) expect(files.filter((f) => f.endsWith(ext)).length).toBeGreaterThanOrEqual(4);
    expect(files).toContain("00-simplify.txt");
    expect(fs.readFileSync(path.join(dumps, files.find((f) => f.endsWith(".dot"))!), "utf8")).toMatch(/^digraph /);

    const x = tensor({ dims: [2, 8] }, 7);
    const want = (await runOrt(new Uint8Array(fs.readFileSync(modelFile)), { x })).y;
    for (const f of files.filter((f) => f.endsWith(".onnx"))) {
      const got = (await runOrt(new Uint8Array(fs.readFileSync(path.join(dumps, f))), { x })).y;
      expect(compareTensors(got, want, { rtol: 1e-3, atol: 1e-4 }).message ?? "ok", f).toBe("ok");
    }

    const rep = JSON.parse(fs.readFileSync(report, "utf8"));
    expect(rep.passes.map((p: { name: string }) => p.name)).toEqual([
      "simplify", "fuse-qdq", "fold-constants", "cse", "simplify", "dce", "layout-nhwc", "fuse-patterns", "fuse-dynamic-quant", "fuse-qdq-lut", "fuse-epilogue", "fuse-transposed-matmul", "fuse-attention", "fuse-elementwise", "dce",
      "select-kernels", "plan-memory",
    ]);
    expect(rep.nodes.before).toBe(10);
    expect(rep.nodes.after).toBeLessThan(rep.nodes.before);
    expect(rep.memory.arenaBytes).toBeLessThanOrEqual(rep.memory.naiveBytes);
    expect(rep.memory.arenaBytes).toBeGreaterThanOrEqual(rep.memory.lowerBoundBytes);
    expect(rep.code.artifactBytes).toBe(fs.statSync(path.join(tmp, "small.wasm")).size);
    // code alone, and the weights stored (each once) and placed (with the forms the module derives)
    expect(rep.code.wasmBytes).toBeLessThan(rep.code.artifactBytes);
    expect(rep.code.wasmBytes + rep.weights.storedBytes).toBeLessThanOrEqual(rep.code.artifactBytes);
    expect(rep.weights.placedBytes).toBe(rep.weights.storedBytes + rep.weights.derivedBytes);
    expect(rep.layers.length).toBeGreaterThan(0);
    expect(rep.layers.every((l: { kernel: string }) => typeof l.kernel === "string" && l.kernel.length > 0)).toBe(true);
  });
});

describe("kiln inspect", () => {
  it("prints the IR after a chosen pass, and pass timings", () => {
    const after = kiln(["inspect", modelFile, "--after", "simplify"]);
    expect(after.code).toBe(0);
    expect(after.stdout).not.toContain("Identity");
    expect(after.stdout).toContain("relu_twin");
    expect(after.stdout).not.toContain("const_mul"); // small constants fold during shape inference
    const all = kiln(["inspect", modelFile, "--time-passes"]);
    expect(all.stdout).not.toContain("relu_twin"); // merged by cse
    expect(all.stdout).not.toContain('"dead"');
    expect(all.stdout).toMatch(/pass\s+ms\s+nodes before\s+nodes after/);
    const o0 = kiln(["inspect", modelFile, "-O0"]);
    expect(o0.stdout).toContain("relu_twin");
  });

  it("rejects an unknown pass name", () => {
    const r = kiln(["inspect", modelFile, "--after", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown pass "nope"/);
  });
});

describe("kiln run --json", () => {
  it("prints outputs with dims and, with --data, the comparison", () => {
    const r = kiln(["run", "../shared/onnx/node/test_add_bcast/model.onnx", "--data", "../shared/onnx/node/test_add_bcast/test_data_set_0", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.outputs).toEqual([{ name: "sum", dims: [3, 4, 5], maxAbsErr: 0, ok: true }]);
    expect(typeof out.ms).toBe("number");
  });

  it("exits 1 when an output mismatches", () => {
    const data = path.join(tmp, "wrong_data");
    fs.mkdirSync(data, { recursive: true });
    const src = "../shared/onnx/node/test_add_bcast/test_data_set_0";
    fs.copyFileSync(path.join(src, "input_0.pb"), path.join(data, "input_0.pb"));
    fs.copyFileSync(path.join(src, "input_1.pb"), path.join(data, "input_1.pb"));
    fs.copyFileSync(path.join(src, "input_0.pb"), path.join(data, "output_0.pb"));
    const r = kiln(["run", "../shared/onnx/node/test_add_bcast/model.onnx", "--data", data, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).outputs[0].ok).toBe(false);
  });
});

describe("kiln test --json", () => {
  it("reports each case with exactly one status", () => {
    const r = kiln(["test", "../shared/onnx/node/test_relu", "../shared/onnx/node/test_equal_string", "--json"]);
    const out = JSON.parse(r.stdout);
    expect(out.total).toBe(2);
    expect(out.cases.map((c: { status: string }) => c.status)).toEqual(["passed", "unsupported"]);
    expect(out.cases[1].message).toMatch(/string/);
  });
});

describe("kiln test --atol/--rtol", () => {
  // test_quantizelinear with its expected uint8 output one step off in one element: a quantized
  // answer a user may accept, which only a tolerance they ask for lets pass
  const dir = path.join(tmp, "test_quantizelinear_one_step");
  const src = "../shared/onnx/node/test_quantizelinear";
  fs.mkdirSync(path.join(dir, "test_data_set_0"), { recursive: true });
  fs.copyFileSync(path.join(src, "model.onnx"), path.join(dir, "model.onnx"));
  for (const f of fs.readdirSync(path.join(src, "test_data_set_0")).filter((f) => f.startsWith("input_"))) {
    fs.copyFileSync(path.join(src, "test_data_set_0", f), path.join(dir, "test_data_set_0", f));
  }
  const out = onnx.TensorProto.decode(fs.readFileSync(path.join(src, "test_data_set_0/output_0.pb")));
  const raw = Uint8Array.from(out.rawData!);
  raw[1] += 1;
  out.rawData = raw;
  fs.writeFileSync(path.join(dir, "test_data_set_0/output_0.pb"), onnx.TensorProto.encode(out).finish());
  const status = (args: string[]) => {
    const r = kiln(["test", dir, "--json", ...args]);
    return [r.code, JSON.parse(r.stdout).cases[0].status];
  };

  it("judges integer outputs exactly by default, within --atol when asked", () => {
    expect(status([])).toEqual([1, "failed"]);
    expect(status(["--atol", "1"])).toEqual([0, "passed"]);
    expect(status(["--atol", "0.5"])).toEqual([1, "failed"]);
    expect(status(["--rtol", "0.5"])).toEqual([0, "passed"]);
  });

  it("refuses a tolerance that is not a non-negative number", () => {
    for (const v of ["-1", "abc", ""]) {
      const r = kiln(["test", dir, "--atol", v]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/--atol takes a non-negative number/)]);
    }
  });
});

describe("kiln opt", () => {
  const irFile = path.join(tmp, "in.txt");
  fs.writeFileSync(irFile, `kiln.graph opsets("" = 13)
input %x : float32[1,8,6,6]
const %w : float32[8,8,3,3] = splat<0.5>
%i : float32[1,8,6,6] = Identity(%x) {name="id"}
%c : float32[1,8,6,6] = Conv[pads=[1, 1, 1, 1]](%i, %w) {name="conv"}
%r : float32[1,8,6,6] = Relu(%c) {name="relu"}
%dead : float32[1,8,6,6] = Neg(%c) {name="dead"}
output %r
`);

  it("runs the named passes on IR text and prints IR text, with statistics under --time-passes", () => {
    const r = kiln(["opt", irFile, "--passes", "simplify,dce,fuse-epilogue,select-kernels", "--time-passes"]);
    expect(r.stderr).toMatch(/simplify .* rewrites=1 identity=1/);
    expect(r.stderr).toMatch(/dce .* removed=1/);
    expect(r.stderr).toMatch(/fuse-epilogue .* groups=1 nodes=2/);
    expect(r.code).toBe(0);
    fileCheck(r.stdout, `
CHECK: input %x
CHECK-NOT: Identity
CHECK-NOT: Neg
CHECK: kiln.fused::Conv_Relu(%x, %w)
CHECK-SAME: kernel="winograd-f2x2"
CHECK: output %r`);
  });

  it("takes pass options, writes -o, and reads its own output back", () => {
    const out = path.join(tmp, "out.txt");
    const r = kiln(["opt", irFile, "--passes", "simplify{rules=identity},select-kernels{kernels=-winograd}", "-o", out]);
    expect(r.code).toBe(0);
    fileCheck(fs.readFileSync(out, "utf8"), `
CHECK: Conv
CHECK-SAME: kernel="im2col-gemm"
CHECK: Neg`);
    expect(kiln(["opt", out, "--passes", "dce"]).stdout).not.toContain("Neg");
  });

  it("reads a real model's IR back when kiln inspect prints it with --all-constants", () => {
    // 96 weights: past the printer's dense limit, so plain inspect prints a digest opt cannot read
    const weights = Array.from({ length: 96 }, (_, i) => ((i * 29) % 13) / 8 - 0.75);
    const big = path.join(tmp, "big.onnx");
    fs.writeFileSync(big, exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,8]
const %w : float32[8,12] = dense<[${weights.join(", ")}]>
%m : float32[2,12] = MatMul(%x, %w) {name="mm"}
%r : float32[2,12] = Relu(%m) {name="relu"}
output %r`)));
    const digest = kiln(["inspect", big, "-O0"]);
    expect(digest.stdout).toMatch(/const %w : float32\[8,12\] = opaque<96 elements/);
    const full = path.join(tmp, "big.txt");
    const dump = kiln(["inspect", big, "-O0", "--all-constants"]);
    expect(dump.code).toBe(0);
    fs.writeFileSync(full, dump.stdout);
    const r = kiln(["opt", full, "--passes", "fuse-epilogue,select-kernels"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    fileCheck(r.stdout, `
CHECK: const %w : float32[8,12] = dense<[${weights.join(", ")}]>
CHECK: MatMul_Relu(%x, %w)`);
  });

  it("refuses an unknown pass, option or kernel variant with a usage error naming the valid ones", () => {
    const pass = kiln(["opt", irFile, "--passes", "fuse"]);
    expect([pass.code, pass.stderr]).toEqual([2, expect.stringMatching(/unknown pass "fuse"; passes are .*fuse-epilogue/)]);
    const opt = kiln(["opt", irFile, "--passes", "dce{aggressive=true}"]);
    expect([opt.code, opt.stderr]).toEqual([2, expect.stringMatching(/BAD_OPTION: pass dce has no option "aggressive" \(it takes none\)/)]);
    const variant = kiln(["opt", irFile, "--passes", "select-kernels{kernels=-winogrd}"]);
    expect([variant.code, variant.stderr]).toEqual([2, expect.stringMatching(/no kernel variant is named "winogrd"/)]);
  });
});
