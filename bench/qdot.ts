// `node dist/bench/qdot.js [--rounds 21]`: is a relaxed-SIMD integer GEMM worth having on this
// engine? Times the int8 GEMM's inner step (quant/qgemm.ts kLoop: per step one 4-byte A splat and
// four B vectors loaded, two rows x four vectors of products) in three forms, interleaved:
//   i16      i32x4.dot_i16x8_s + i32x4.add (what kiln runs): 8 multiply-adds an instruction
//   rdot     i32x4.relaxed_dot_i8x16_i7x16_add_s: 16, its accumulate fused
//   rdot16   i16x8.relaxed_dot_i8x16_i7x16_s + i32x4.extadd_pairwise_i16x8_s + i32x4.add: 16
// The relaxed forms are defined only while one operand is 7-bit (its lanes in 0..127): an int8
// weight or activation minus its zero point spans 9 bits, so an exact int8 x int8 product needs
// the 8-bit operand split in two 7-bit parts (XNNPACK and MLAS probe the engine's out-of-range
// behaviour at run time instead): two relaxed instructions per 16 multiply-adds, 8 an instruction,
// which this prints as "exact". Prints G multiply-adds/s of each (median over rounds).
import binaryen from "binaryen";
import { runIfMain } from "../models/cli.js";
import { measureInterleaved } from "./gemm-packed.js";
import { relaxedSimdAvailable } from "./peak.js";

type Form = "i16" | "rdot" | "rdot16";
const MR = 2, V = 4, STEPS = 4096;

/** one export run(passes): passes x STEPS k-steps over 64 KB of operands, MR x V accumulators */
function buildLoop(form: Form): Uint8Array {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
  m.setMemory(2, 2, "memory");
  const api = binaryen as unknown as Record<string, number> & { _BinaryenSIMDTernary(mod: number, op: number, a: number, b: number, c: number): number; _BinaryenBinary(mod: number, op: number, a: number, b: number): number };
  const ptr = (m as unknown as { ptr: number }).ptr;
  const v128 = binaryen.v128, i32 = binaryen.i32;
  // locals: 0 passes, 1 step, 2 pass, then accumulators, B vectors, A
  const acc = (r: number, v: number) => 3 + r * V + v, bv = (v: number) => 3 + MR * V + v, A = 3 + MR * V + V;
  const locals = [i32, i32, ...new Array(MR * V + V + 1).fill(v128)];
  const get = (l: number) => m.local.get(l, v128);
  const addr = () => m.i32.shl(m.i32.and(m.local.get(1, i32), m.i32.const(511)), m.i32.const(7));
  const step: number[] = [];
  for (let v = 0; v < V; v++) step.push(m.local.set(bv(v), m.v128.load(16 + 16 * v, 16, addr())));
  for (let r = 0; r < MR; r++) {
    step.push(m.local.set(A, m.v128.load32_splat(4 * r, 4, addr())));
    for (let v = 0; v < V; v++) {
      const a = get(A), b = get(bv(v)), c = get(acc(r, v));
      const e = form === "i16" ? m.i32x4.add(c, m.i32x4.dot_i16x8_s(a, b))
        : form === "rdot" ? api._BinaryenSIMDTernary(ptr, api.RelaxedDotI8x16I7x16AddSToVecI32x4, a, b, c)
          : m.i32x4.add(c, m.i32x4.extadd_pairwise_i16x8_s(api._BinaryenBinary(ptr, api.RelaxedDotI8x16I7x16SToVecI16x8, a, b)));
      step.push(m.local.set(acc(r, v), e));
    }
  }
  step.push(m.local.set(1, m.i32.add(m.local.get(1, i32), m.i32.const(1))));
  const inner = m.loop("k", m.block(null, [...step, m.br("k", m.i32.lt_u(m.local.get(1, i32), m.i32.const(STEPS)))]));
  const outer = m.loop("p", m.block(null, [m.local.set(1, m.i32.const(0)), inner,
    m.local.set(2, m.i32.add(m.local.get(2, i32), m.i32.const(1))), m.br("p", m.i32.lt_u(m.local.get(2, i32), m.local.get(0, i32)))]));
  // the sum is stored, so no accumulator is dead code
  let sum = get(acc(0, 0));
  for (let k = 1; k < MR * V; k++) sum = m.i32x4.add(sum, get(acc(Math.floor(k / V), k % V)));
  m.addFunction("run", binaryen.createType([i32]), binaryen.none, locals, m.block(null, [outer, m.v128.store(0, 16, m.i32.const(0), sum)]));
  m.addFunctionExport("run", "run");
  if (!m.validate()) throw new Error("qdot: invalid module");
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf("--rounds"), rounds = i >= 0 ? Number(argv[i + 1]) : 21;
  if (!relaxedSimdAvailable()) { console.error("qdot: this engine has no relaxed SIMD"); return 1; }
  const passes = 40;
  const items = [];
  for (const form of ["i16", "rdot", "rdot16"] as Form[]) {
    const { instance } = await WebAssembly.instantiate(buildLoop(form) as Uint8Array<ArrayBuffer>);
    // bytes 0..63: in 0..63 as i8 and as i7 lanes, and small as i16 lanes: every form is defined
    new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer).forEach((_, j, a) => { a[j] = (j * 7) & 63; });
    const run = instance.exports.run as (p: number) => void;
    const macs = (form === "i16" ? 8 : 16) * MR * V * STEPS * passes;
    // measureInterleaved counts flops: 2 per multiply-add
    items.push({ name: form, flops: 2 * macs, run: () => run(passes) });
  }
  const res = measureInterleaved(items, rounds);
  const base = res[0].gflops;
  for (const r of res) {
    const exact = r.name === "i16" ? r.gflops : r.gflops / 2;
    console.log(`${r.name.padEnd(7)} ${(r.gflops / 2).toFixed(2).padStart(6)} G multiply-adds/s with a 7-bit operand, ${(exact / 2).toFixed(2).padStart(6)} exact int8 (${(exact / base).toFixed(2)}x i16)`);
  }
  return 0;
}

runIfMain(import.meta.url, main);
