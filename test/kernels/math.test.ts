// The math library against JavaScript's Math (and a many-term erf series) on a dense grid, a
// log-spaced sweep over the whole range, and edge values: f64 to ~1e-13, f32 to about an ulp,
// f32x4 versions to a few ulp.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { MathLib, type Precision } from "../../codegen/math.js";
import "../../codegen/math/index.js";

const N_MAX = 1 << 15;

/** Compile a module that maps in[i] -> f(in[i]) for n elements, in precision p or as f32x4. */
async function compile(name: string, kind: Precision | "v128"): Promise<(xs: number[]) => number[]> {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt);
  const bytes = kind === "f64" ? 8 : 4;
  const pages = Math.ceil((2 * N_MAX * bytes) / 65536);
  m.setMemory(pages, pages, "memory");
  const lib = new MathLib(m);
  const out = N_MAX * bytes;
  const i = 1;
  const addr = m.i32.mul(m.local.get(i, binaryen.i32), m.i32.const(bytes));
  const step = kind === "v128" ? 4 : 1;
  const body = kind === "v128"
    ? m.v128.store(out, 4, addr, lib.call4(name, m.v128.load(0, 4, addr)))
    : kind === "f64" ? m.f64.store(out, 8, addr, lib.call(name, "f64", m.f64.load(0, 8, addr)))
    : m.f32.store(out, 4, addr, lib.call(name, "f32", m.f32.load(0, 4, addr)));
  m.addFunction("run", binaryen.createType([binaryen.i32]), binaryen.none, [binaryen.i32], m.block(null, [
    m.local.set(i, m.i32.const(0)),
    m.loop("L", m.block(null, [
      body,
      m.local.set(i, m.i32.add(m.local.get(i, binaryen.i32), m.i32.const(step))),
      m.br("L", m.i32.lt_u(m.local.get(i, binaryen.i32), m.local.get(0, binaryen.i32))),
    ])),
  ]));
  m.addFunctionExport("run", "run");
  if (!m.validate()) throw new Error(`invalid module for ${name}`);
  const { instance } = await WebAssembly.instantiate(m.emitBinary() as Uint8Array<ArrayBuffer>);
  m.dispose();
  const mem = (instance.exports.memory as WebAssembly.Memory).buffer;
  const run = instance.exports.run as (n: number) => void;
  const Arr = kind === "f64" ? Float64Array : Float32Array;
  return (xs) => {
    const res: number[] = [];
    for (let s = 0; s < xs.length; s += N_MAX) {
      const chunk = xs.slice(s, s + N_MAX);
      new Arr(mem, 0, chunk.length).set(chunk);
      run(Math.ceil(chunk.length / step) * step);
      res.push(...new Arr(mem, out, chunk.length));
    }
    return res;
  };
}

/** erf by its power series (x < 3) or continued fraction, with far more terms than the library */
function erfRef(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    let term = a, sum = a;
    for (let n = 1; n < 300; n++) { term *= (2 * a * a) / (2 * n + 1); sum += term; }
    r = (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
  } else {
    let f = a;
    for (let k = 4000; k >= 1; k--) f = a + k / 2 / f;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  }
  return Math.sign(x) * r;
}

const REF: Record<string, (x: number) => number> = {
  exp: Math.exp, expm1: Math.expm1, log: Math.log, log1p: Math.log1p,
  sin: Math.sin, cos: Math.cos, tan: Math.tan, asin: Math.asin, acos: Math.acos, atan: Math.atan,
  sinh: Math.sinh, cosh: Math.cosh, tanh: Math.tanh, asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)), erf: erfRef,
};

function points(limit = Infinity): number[] {
  const xs = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -0.5, 2, 709.78, 709.79, 710, -745.1, -746, 88.72, 88.73, -87.3,
    -103.9, 89, 1e-300, -1e-300, 5e-324, 1e-310, 1e-40, 1e-45, 22, 22.5, 2 ** 28, 2.5, 2.4999, 6, 5.9999, 0.55, 1 - 2 ** -40,
    -1 + 2 ** -40, 1 + 2 ** -40];
  for (let x = -30; x <= 30; x += 0.0073) xs.push(x);
  for (let e = -320; e <= 308; e += 0.37) xs.push(10 ** e, -(10 ** e));
  return xs.filter((x) => !(Math.abs(x) > limit));
}

interface Check { rel: number; abs: number }

function compare(name: string, xs: number[], got: number[], want: (x: number) => number, tol: Check): void {
  const bad: string[] = [];
  xs.forEach((x, k) => {
    const w = want(x);
    const g = got[k];
    if (Number.isNaN(w) ? Number.isNaN(g) : g === w || Math.abs(g - w) <= tol.rel * Math.abs(w) + tol.abs) return;
    if (bad.length < 5) bad.push(`${name}(${x}) = ${g}, want ${w}`);
  });
  expect(bad).toEqual([]);
}

describe("scalar math library", () => {
  for (const [name, ref] of Object.entries(REF)) {
    it(`${name} f64`, async () => {
      const xs = points();
      compare(name, xs, (await compile(name, "f64"))(xs), ref, { rel: 1e-13, abs: 1e-300 });
    });
    it(`${name} f32`, async () => {
      const xs = [...new Set(points().map(Math.fround))];
      // the f32 result is the f64 one rounded once: within an ulp of the rounded reference
      compare(name, xs, (await compile(name, "f32"))(xs), (x) => Math.fround(ref(x)), { rel: 1.2e-7, abs: 1.5e-45 });
    });
  }
  it("erf at known values", async () => {
    const known: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
      [3, 0.9999779095030014], [-0.1, -0.1124629160182849], [4, 0.9999999845827421]];
    const got = (await compile("erf", "f64"))(known.map(([x]) => x));
    known.forEach(([, want], k) => expect(got[k]).toBeCloseTo(want, 14));
  });
});

describe("trig arguments beyond Cody-Waite (Payne-Hanek)", () => {
  it("sin, cos, tan of huge |x| match JavaScript's", async () => {
    const xs = [2 ** 19 + 0.5, 1e6, 1e7, -3e9, 1e12, 1e15, 1e22, 1e20, 3.4e38, -1e100, 1.7e308, 2 ** 1023, 5.319372648326541e+255,
      6381956970095103 * 2 ** 797]; // the last is within 2^-60 of a multiple of pi/2
    for (let e = 19; e < 1024; e += 0.77) xs.push(1.234567 * 2 ** e, -(2 ** e) * 1.9);
    for (const name of ["sin", "cos", "tan"]) compare(name, xs, (await compile(name, "f64"))(xs), REF[name], { rel: 1e-13, abs: 1e-300 });
  });
});

describe("f32x4 math library", () => {
  const VECTOR: Record<string, Check> = {
    exp: { rel: 4e-7, abs: 1e-37 },
    expm1: { rel: 4e-7, abs: 1e-37 },
    log: { rel: 3e-7, abs: 0 },
    log1p: { rel: 4e-7, abs: 0 },
    sin: { rel: 5e-7, abs: 1e-30 },
    cos: { rel: 5e-7, abs: 1e-30 },
    tan: { rel: 5e-7, abs: 1e-30 },
    sigmoid: { rel: 6e-7, abs: 1e-37 },
    tanh: { rel: 6e-7, abs: 1e-37 },
    erf: { rel: 4e-7, abs: 1.5e-44 }, // relative, down to tiny x
  };
  for (const [name, tol] of Object.entries(VECTOR)) {
    it(`${name}4`, async () => {
      const wide = Array.from({ length: 32000 }, (_, i) => -6000 + i * 0.375); // where vector trig reduces itself
      const xs = [...new Set([...points(), ...wide].map(Math.fround))];
      const ref = REF[name];
      compare(`${name}4`, xs, (await compile(name, "v128"))(xs), (x) => Math.fround(ref(x)), tol);
    });
  }
});
