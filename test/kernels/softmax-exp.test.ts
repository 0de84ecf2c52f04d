// The attention softmax's 2^y (codegen/kernels/attention/softmax-exp.ts) on a sweep of its range,
// against 2 ** y: relative error within its stated bound wherever 2^y is a normal float, exactly 0
// at and under the floor and for -inf, 1 at 0, NaN kept; in the baseline build and the relaxed one
// (its polynomial by f32x4.relaxed_madd; Node 20 validates that under the V8 flag set here).
import * as v8 from "node:v8";
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { Fn } from "../../codegen/fn.js";
import { EXP2_FLOOR, SOFTMAX_EXP2_REL_ERROR, softmaxExp2 } from "../../codegen/kernels/attention/softmax-exp.js";

/** a module whose run(n) maps n floats at 0 through 2^y in place, four at a time */
async function expModule(relaxed: boolean): Promise<{ memory: WebAssembly.Memory; run: (n: number) => void }> {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | (relaxed ? binaryen.Features.RelaxedSIMD : 0));
  m.setMemory(256, 256, "memory");
  const fn = new Fn(m, "run", [binaryen.i32]);
  const exp = softmaxExp2(m, fn);
  const n = fn.param(0);
  fn.emit(fn.loopDyn(m.i32.const(0), m.i32.shr_u(n.get(), m.i32.const(2)), (i) => {
    const at = () => m.i32.shl(i.get(), m.i32.const(4));
    return [m.v128.store(0, 16, at(), exp(m.v128.load(0, 16, at())))];
  }));
  fn.finish();
  m.addFunctionExport("run", "run");
  expect(m.validate()).toBeTruthy();
  expect(m.emitText().includes("relaxed_madd")).toBe(relaxed);
  m.optimize();
  const bytes = m.emitBinary();
  m.dispose();
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
  return { memory: instance.exports.memory as WebAssembly.Memory, run: instance.exports.run as (n: number) => void };
}

async function expOf(xs: Float32Array, relaxed = false): Promise<Float32Array> {
  const { memory, run } = await expModule(relaxed);
  const n = Math.ceil(xs.length / 4) * 4;
  new Float32Array(memory.buffer, 0, xs.length).set(xs);
  run(n);
  return new Float32Array(memory.buffer, 0, xs.length).slice();
}

v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

describe.each([["baseline", false], ["relaxed", true]])("softmaxExp2, %s build", (_, relaxed) => {
  it("is within its relative error bound on [-126, 0] (a sweep of 2 million points and floats near 0)", async () => {
    const xs = new Float32Array(2_000_000 + 4096);
    for (let i = 0; i < 2_000_000; i++) xs[i] = -126 + (126 * i) / 1_999_999;
    // small arguments, exponent by exponent below 0 (f = y: the polynomial's own error)
    const bits = new Uint32Array(xs.buffer, 4 * 2_000_000, 4096);
    for (let i = 0; i < 4096; i++) bits[i] = 0x80000000 | (i * 0x3ec00);
    const got = await expOf(xs, relaxed);
    let worst = 0, at = 0;
    for (let i = 0; i < xs.length; i++) {
      const want = 2 ** xs[i];
      const rel = Math.abs(got[i] - want) / want;
      if (!(rel <= worst)) [worst, at] = [rel, xs[i]];
    }
    expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(SOFTMAX_EXP2_REL_ERROR);
    // and no better than it needs to be by much: the bound is a bound, not a guess
    expect(worst).toBeGreaterThan(SOFTMAX_EXP2_REL_ERROR / 10);
  });

  it("gives 0 at and under its floor and for -inf, under 1.2e-38 between, 1 at 0, NaN for NaN", async () => {
    const xs = Float32Array.from([EXP2_FLOOR, EXP2_FLOOR - 0.5, -1000, -Infinity, -126.6, -126.2, 0, -0, NaN, -3.4e38]);
    const got = await expOf(xs, relaxed);
    expect([...got.slice(0, 4)]).toEqual([0, 0, 0, 0]);
    for (const v of got.slice(4, 6)) expect(v >= 0 && v < 1.2e-38).toBe(true);
    expect([got[6], got[7]]).toEqual([1, 1]);
    expect(Number.isNaN(got[8])).toBe(true);
    expect(got[9]).toBe(0);
  });
});
