// Bad input gets a typed KilnError naming what is wrong, from the API and from the CLI.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compile, load } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { encodeTensor } from "../compiler/onnx/tensor.js";
import { onnx } from "../compiler/onnx/proto.js";
import { KilnError } from "../runtime/errors.js";
import { createSession } from "../runtime/session.js";
import { kiln } from "./util/cli.js";

const addModel = () => exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[2,3]
const %w : float32[3] = dense<[1, 2, 3]>
%y : float32[2,3] = Add(%x, %w) {name="add"}
output %y`));

async function codeOf(p: Promise<unknown>): Promise<KilnError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return e as KilnError;
  }
  throw new Error("expected a KilnError");
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-errors-"));

describe("malformed models", () => {
  it("a truncated file is INVALID_MODEL", async () => {
    const bytes = addModel();
    for (const cut of [1, 7, Math.floor(bytes.length / 2), bytes.length - 3]) {
      const e = await codeOf(compile(bytes.slice(0, cut)));
      expect(e.code).toBe("INVALID_MODEL");
      expect(e.message).toMatch(/truncated|not a valid ONNX|dangling|not a graph input|not produced/);
    }
  });

  it("random bytes are INVALID_MODEL, not a crash", async () => {
    const junk = new Uint8Array(300).map((_, i) => (i * 7919) & 0xff);
    expect((await codeOf(compile(junk))).code).toBe("INVALID_MODEL");
  });

  it("an unknown operator is UNSUPPORTED_OP naming node, op, domain and opset", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13, "com.example" = 2)
input %x : float32[2]
%y : float32[2] = com.example::FrobnicateV2(%x) {name="frob_7"}
output %y`);
    const e = await codeOf(compile(exportModel(g)));
    expect(e.code).toBe("UNSUPPORTED_OP");
    expect(e.message).toContain("frob_7");
    expect(e.message).toContain("com.example.FrobnicateV2");
    expect(e.context).toMatchObject({ node: "frob_7", op: "FrobnicateV2", domain: "com.example", opset: 2 });
  });

  it("an error names the model's opset, not the one a fusion raised the graph to (Gelu needs 20)", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 17)
input %x : float32[4,5]
input %r : float32[1,1,H,8]
const %sqrt2 : float32[] = dense<[1.4142135]>
const %one : float32[] = dense<[1]>
const %half : float32[] = dense<[0.5]>
%d : float32[4,5] = Div(%x, %sqrt2) {name="div"}
%e : float32[4,5] = Erf(%d) {name="erf"}
%a : float32[4,5] = Add(%e, %one) {name="add"}
%h : float32[4,5] = Mul(%x, %half) {name="half"}
%y : float32[4,5] = Mul(%h, %a) {name="gelu"}
%z : float32[1,1,H,8] = AveragePool[kernel_shape=[3,3], pads=[1,1,1,1]](%r) {name="pool"}
output %y
output %z`);
    // an average not counting its pads over a varying height has no symbolic form (its windows at
    // the run's edge take fewer taps): refused in code generation, after the raise
    const e = await codeOf(compile(exportModel(g), { shapes: { H: [4, 8] } }));
    expect(e.code).toBe("UNSUPPORTED_OP");
    expect(e.message).toContain("AveragePool opset 17");
    expect(e.context).toMatchObject({ node: "pool", op: "AveragePool", opset: 17 });
    // the graph was raised: pinned, it compiles with a Gelu layer (opset 20)
    const pinned = await compile(exportModel(g), { shapes: { H: 8 } });
    expect(pinned.manifest.layers.map((l) => l.op)).toContain("Gelu");
  });

  it("a type kiln does not compute is refused by load(), not at the first run (an int32 input's value cannot help)", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)
input %a : int32[2,2]
%y : int32[] = Det(%a) {name="det"}
output %y`);
    const e = await codeOf(load(exportModel(g), { cache: false }));
    expect(e.code).toBe("UNSUPPORTED_OP");
    expect(e.message).toMatch(/input 0 has type int32; kiln supports float32.* \[node "det", Det opset 13/);
  });

  it("a dangling value is INVALID_MODEL", async () => {
    const g = parseGraph(`input %x : float32[2]\n%y : float32[2] = Add(%x, %ghost) {name="a"}\noutput %y`);
    const e = await codeOf(compile(exportModel(g)));
    expect(e.code).toBe("INVALID_MODEL");
    expect(e.message).toContain("ghost");
  });

  it("shapes that do not broadcast are SHAPE_MISMATCH naming the shapes", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[2,3]\ninput %z : float32[4]\n%y : float32[2,3] = Add(%x, %z) {name="bad_add"}\noutput %y`);
    const e = await codeOf(compile(exportModel(g)));
    expect(e.code).toBe("SHAPE_MISMATCH");
    expect(e.message).toContain("bad_add");
    expect(e.message).toContain("[2,3]");
    expect(e.message).toContain("[4]");
  });

  it("external data outside the model's folder is refused", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[2]\nconst %w : float32[2] = dense<[1, 2]>\n%y : float32[2] = Add(%x, %w) {name="a"}\noutput %y`);
    const model = onnx.ModelProto.decode(exportModel(g));
    const w = model.graph!.initializer![0];
    w.rawData = new Uint8Array();
    w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    w.externalData = [{ key: "location", value: "../../etc/passwd" }];
    const file = path.join(tmp, "ext.onnx");
    fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
    const e = await codeOf(compile(file));
    expect(e.code).toBe("INVALID_MODEL");
    expect(e.message).toMatch(/outside the model's folder/);
  });

  it("external data beside the model is read", async () => {
    const g = parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[2]\nconst %w : float32[2] = dense<[1, 2]>\n%y : float32[2] = Add(%x, %w) {name="a"}\noutput %y`);
    const model = onnx.ModelProto.decode(exportModel(g));
    const w = model.graph!.initializer![0];
    const raw = encodeTensor("w", { dtype: "float32", dims: [2], data: Float32Array.of(10, 20) }).rawData!;
    fs.writeFileSync(path.join(tmp, "weights.bin"), Buffer.concat([Buffer.alloc(8), Buffer.from(raw)]));
    w.rawData = new Uint8Array();
    w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    w.externalData = [{ key: "location", value: "weights.bin" }, { key: "offset", value: "8" }, { key: "length", value: "8" }];
    const file = path.join(tmp, "ext-ok.onnx");
    fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
    const m = await load(file);
    const out = await m.run({ x: Float32Array.of(1, 1) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([11, 21]);
  });
});

describe("bad inputs at run time", () => {
  it("wrong dims, dtype, element count, names are BAD_INPUT", async () => {
    const m = await load(addModel());
    expect((await codeOf(m.run({ x: { data: new Float32Array(6), dims: [3, 2] } }))).message).toMatch(/dims \[3,2\].*float32\[2,3\]/);
    expect((await codeOf(m.run({ x: new Int32Array(6) }))).message).toMatch(/must be float32/);
    expect((await codeOf(m.run({ x: new Float32Array(5) }))).code).toBe("BAD_INPUT");
    expect((await codeOf(m.run({}))).message).toMatch(/missing input "x"/);
    expect((await codeOf(m.run({ x: new Float32Array(6), y: new Float32Array(1) }))).message).toMatch(/unknown input "y"/);
  });

  it("the runtime refuses a wasm module that kiln did not make", async () => {
    const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    expect((await codeOf(createSession(empty))).code).toBe("INVALID_ARTIFACT");
    expect((await codeOf(createSession(new Uint8Array([0, 0x61, 0x73, 0x6d, 9])))).code).toBe("INVALID_ARTIFACT");
  });
});

describe("the CLI prints one clear line and exits non-zero", () => {
  it("truncated model", () => {
    const file = path.join(tmp, "trunc.onnx");
    fs.writeFileSync(file, addModel().slice(0, 20));
    const r = kiln(["compile", file, "-o", path.join(tmp, "t.wasm")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^kiln: INVALID_MODEL: /);
  });

  it("unknown op", () => {
    const file = path.join(tmp, "unknown.onnx");
    fs.writeFileSync(file, exportModel(parseGraph(`kiln.graph opsets("" = 13)\ninput %x : float32[2]\n%y : float32[2] = NoSuchOp(%x) {name="mystery"}\noutput %y`)));
    const r = kiln(["run", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: UNSUPPORTED_OP: operator NoSuchOp is not supported by kiln \[node "mystery", NoSuchOp opset 13\]/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const verbose = kiln(["run", file, "--verbose"]);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it("wrong input shape to kiln run of a .wasm", () => {
    const model = path.join(tmp, "add.onnx");
    const wasm = path.join(tmp, "add.wasm");
    fs.writeFileSync(model, addModel());
    expect(kiln(["compile", model, "-o", wasm]).code).toBe(0);
    const input = path.join(tmp, "wrong.pb");
    fs.writeFileSync(input, onnx.TensorProto.encode(encodeTensor("x", { dtype: "float32", dims: [3, 2], data: new Float32Array(6) })).finish());
    const r = kiln(["run", wasm, `--input`, `x=${input}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: BAD_INPUT: input "x" has dims \[3,2\] but the model was compiled for float32\[2,3\]/);
  });

  it("usage errors exit 2 with usage", () => {
    const r = kiln(["compile"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage:/);
  });
});
