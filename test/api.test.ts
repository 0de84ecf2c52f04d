// The public API: JIT load of static and dynamic models, specialization on shape-deciding input
// values, AOT artifacts through load and through the runtime alone.
import { describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import { createSession } from "../runtime/session.js";
import { KilnError } from "../runtime/errors.js";

const reshapeByInput = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[6]
input %shape : int64[2]
%y : float32[?,?] = Reshape(%x, %shape) {name="r"}
output %y`.replace("float32[?,?]", "float32")));

const dynamicAdd = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[N,3]
const %b : float32[3] = dense<[1, 2, 3]>
%y : float32[N,3] = Add(%x, %b) {name="add"}
output %y`));

const x6 = Float32Array.from([0, 1, 2, 3, 4, 5]);

describe("load (JIT)", () => {
  it("compiles a model with dynamic dims per fed shape", async () => {
    const m = await load(dynamicAdd);
    expect(m.inputs).toEqual([{ name: "x", dtype: "float32", dims: ["N", 3] }]);
    const a = await m.run({ x: { data: Float32Array.of(0, 0, 0), dims: [1, 3] } });
    expect(Array.from(a.y.data as Float32Array)).toEqual([1, 2, 3]);
    const b = await m.run({ x: { data: new Float32Array(6), dims: [2, 3] } });
    expect(b.y.dims).toEqual([2, 3]);
    expect(Array.from(b.y.data as Float32Array)).toEqual([1, 2, 3, 1, 2, 3]);
  });

  it("binds dynamic dims from options.shapes at load time", async () => {
    const m = await load(dynamicAdd, { shapes: { x: [2, 3] } });
    expect(m.session?.inputs[0].dims).toEqual([2, 3]);
  });

  it("specializes on an input whose value decides a shape, once per value", async () => {
    const m = await load(reshapeByInput);
    const a = await m.run({ x: x6, shape: BigInt64Array.of(2n, 3n) });
    expect(a.y.dims).toEqual([2, 3]);
    const b = await m.run({ x: x6, shape: BigInt64Array.of(3n, -1n) });
    expect(b.y.dims).toEqual([3, 2]);
    expect(Array.from(b.y.data as Float32Array)).toEqual(Array.from(x6));
  });

  it("an AOT module compiled with a frozen input refuses other values", async () => {
    const { wasm, manifest } = await compile(reshapeByInput, { freeze: { shape: { dtype: "int64", dims: [2], data: BigInt64Array.of(2n, 3n) } } });
    expect(manifest.frozen).toEqual([{ name: "shape", dtype: "int64", dims: [2], values: ["2", "3"] }]);
    const s = await createSession(wasm);
    expect((await s.run({ x: x6 })).y.dims).toEqual([2, 3]);
    expect((await s.run({ x: x6, shape: BigInt64Array.of(2n, 3n) })).y.dims).toEqual([2, 3]);
    await expect(s.run({ x: x6, shape: BigInt64Array.of(3n, 2n) })).rejects.toThrow(/compiled in as \[2,3\]/);
  });

  it("compile() without the value says what to freeze", async () => {
    const e = await compile(reshapeByInput).catch((err) => err);
    expect(e).toBeInstanceOf(KilnError);
    expect(e.code).toBe("UNSUPPORTED_OP");
    expect(e.context.needsValue).toEqual(["shape"]);
  });

  it("load accepts a compiled .wasm and runs it without compiling", async () => {
    const { wasm } = await compile(dynamicAdd, { shapes: { x: [1, 3] } });
    const m = await load(wasm);
    expect(m.inputs).toEqual([{ name: "x", dtype: "float32", dims: [1, 3] }]);
    expect(Array.from((await m.run({ x: Float32Array.of(1, 1, 1) })).y.data as Float32Array)).toEqual([2, 3, 4]);
  });
});
