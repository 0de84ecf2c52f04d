// Issue 14, done-criterion 2: the quantized models onnxruntime's tools make (models/quantize) agree
// with onnxruntime-node's plain run (graph optimizations off) about as closely as onnxruntime's own
// optimized run does, by max abs and relative L2 error, on inputs never calibrated on.
//
// Why means over six inputs and not each input alone: a deep QDQ graph amplifies single rounding
// flips. On MobileNetV2, input seed 103, the first 8-bit value kiln and the plain run disagree on
// (stage2.block2.expand, one element of 451584) is a near-tie, exactly (acc + bias) * sx * sw / sy =
// 70.500002, which kiln rounds to 71 as the exact value does and the plain run's float accumulation
// to 70; that one step grows to 15 output steps of the softmax. onnxruntime's optimized run is
// ahead on some inputs and behind on others (seeds 101-103 kiln is further from the plain run, 104-106
// onnxruntime's optimized run is), so a per-input bar is a coin toss; the means are not.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { load } from "../compiler/driver/api.js";
import { QUANT_SOURCES, TEST_SEEDS, quantInput } from "../models/quantize/sources.js";
import { quantizedModel } from "../models/quantize/refill.js";

// compile plus six runs per model and two onnxruntime sessions per input, on 2 shared cores (ResNet-50: ~2 min)
const TIMEOUT = 480_000;

interface Err { maxAbs: number; relL2: number }

function errorOf(got: ArrayLike<number>, want: ArrayLike<number>): Err {
  let maxAbs = 0, num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += want[i] * want[i];
  }
  return { maxAbs, relL2: Math.sqrt(num / Math.max(den, 1e-30)) };
}

async function ortRun(bytes: Uint8Array, level: "disabled" | "all", feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}

/**
 * kiln's error may reach onnxruntime's optimized run's, plus a hair for float32 summation order
 * where both are (near) zero: a model whose optimized run is bit-identical to the plain one still
 * leaves kiln its float epilogues' last-bit differences.
 */
const SLACK: Err = { maxAbs: 1e-5, relL2: 1e-6 };
/** kiln's mean error at most this times onnxruntime's optimized run's (measured: at most 1.35x) */
const FACTOR = 1.5;
const SEEDS = [...TEST_SEEDS, 104, 105, 106];

const mean = (xs: Err[], k: keyof Err) => xs.reduce((a, e) => a + e[k], 0) / xs.length;

describe("quantized models agree with onnxruntime-node's plain run as closely as its optimized run", () => {
  for (const s of QUANT_SOURCES) {
    for (const form of s.forms) {
      it(`${s.name}.${form}`, async () => {
        const bytes = await quantizedModel(s.name, form);
        const model = await load(bytes, { shapes: { [s.input]: s.shape } });
        const kiln = new Map<string, Err[]>(), ortOpt = new Map<string, Err[]>();
        for (const seed of SEEDS) {
          const x = quantInput(s.shape, seed);
          const feeds = { [s.input]: new ort.Tensor("float32", x, s.shape) };
          const plain = await ortRun(bytes, "disabled", feeds);
          const optimized = await ortRun(bytes, "all", feeds);
          const got = await model.run({ [s.input]: { data: x, dims: s.shape } });
          for (const [name, want] of Object.entries(plain)) {
            if (!kiln.has(name)) { kiln.set(name, []); ortOpt.set(name, []); }
            kiln.get(name)!.push(errorOf(got[name].data as Float32Array, want));
            ortOpt.get(name)!.push(errorOf(optimized[name], want));
          }
        }
        for (const [name, errs] of kiln) {
          const o = ortOpt.get(name)!;
          const what = `${s.name}.${form} output ${name} over input seeds ${SEEDS.join(",")}: kiln ${JSON.stringify(errs)}, onnxruntime optimized ${JSON.stringify(o)}`;
          const fig = (xs: Err[]) => `max abs ${mean(xs, "maxAbs").toExponential(2)}, rel L2 ${mean(xs, "relL2").toExponential(2)}`;
          console.log(`${s.name}.${form} ${name}: mean over ${SEEDS.length} inputs, kiln ${fig(errs)}; onnxruntime optimized ${fig(o)}`);
          for (const k of ["maxAbs", "relL2"] as const) {
            expect(mean(errs, k), `${k}: ${what}`).toBeLessThanOrEqual(FACTOR * mean(o, k) + SLACK[k]);
          }
        }
      }, TIMEOUT);
    }
  }
});
