// Fn.outline: a loop body as a function of its own (so V8 optimizes it after its first calls,
// within a kernel's first run). The body reads the caller's locals through params of the same index.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { Fn } from "../codegen/fn.js";

/** out[i] = scale * i + offset for i < n, with scale and offset locals set before the loop */
function build(opts: { outline: boolean; extraLocals?: number }): { bytes: Uint8Array; text: string } {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
  m.setMemory(1, 1, "memory");
  const fn = new Fn(m, "run");
  for (let k = 0; k < (opts.extraLocals ?? 0); k++) fn.local(binaryen.f32);
  const scale = fn.local(binaryen.f32);
  const offset = fn.local(binaryen.f32);
  const tmp = fn.local(binaryen.f32);
  fn.emit(scale.set(m.f32.const(1.5)), offset.set(m.f32.const(-2)), tmp.set(m.f32.const(7)));
  fn.emit(fn.loop(10, (i) => [
    tmp.set(m.f32.add(m.f32.mul(scale.get(), m.f32.convert_s.i32(i.get())), offset.get())),
    m.f32.store(0, 4, m.i32.mul(i.get(), m.i32.const(4)), tmp.get()),
  ], { outline: opts.outline }));
  // the body's write to tmp stays in the outlined function: the caller still has 7 here
  fn.emit(m.f32.store(40, 4, m.i32.const(0), tmp.get()));
  fn.finish();
  m.addFunctionExport("run", "run");
  expect(m.validate()).toBeTruthy();
  const text = m.emitText();
  const bytes = m.emitBinary();
  m.dispose();
  return { bytes, text };
}

async function run(bytes: Uint8Array): Promise<number[]> {
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
  (instance.exports.run as () => void)();
  return [...new Float32Array((instance.exports.memory as WebAssembly.Memory).buffer, 0, 11)];
}

describe("Fn.outline", () => {
  const want = Array.from({ length: 10 }, (_, i) => 1.5 * i - 2);

  it("a loop body outlined reads the caller's locals and computes what the inline body does", async () => {
    const inline = build({ outline: false });
    const outlined = build({ outline: true });
    expect(inline.text).not.toContain("$part");
    expect(outlined.text).toContain("(func $run$part0");
    expect((await run(inline.bytes)).slice(0, 10)).toEqual(want);
    expect((await run(outlined.bytes)).slice(0, 10)).toEqual(want);
  });

  it("locals the outlined body writes do not come back to the caller", async () => {
    expect((await run(build({ outline: false }).bytes))[10]).toBe(1.5 * 9 - 2);
    expect((await run(build({ outline: true }).bytes))[10]).toBe(7);
  });

  it("stays inline past 256 locals (a call would move them all)", async () => {
    const big = build({ outline: true, extraLocals: 300 });
    expect(big.text).not.toContain("$part");
    expect((await run(big.bytes)).slice(0, 10)).toEqual(want);
  });

  it("a packed GEMM layer runs its panels through an outlined function", async () => {
    const { emitPackedGemm } = await import("../codegen/kernels/matmul/gemm-packed.js");
    const m = new binaryen.Module();
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128);
    m.setMemory(1, 1, "memory");
    const fn = new Fn(m, "layer");
    fn.emit(...emitPackedGemm({ fn }, { M: 8, N: 64, K: 16, packedB: 0, a: { addr: 8192, rs: 16 }, c: { addr: 16384, rs: 64 } }));
    fn.finish();
    expect(m.validate()).toBeTruthy();
    expect(m.emitText()).toContain("(func $layer$part0");
    m.dispose();
  });
});
