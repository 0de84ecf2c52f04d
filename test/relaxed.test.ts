// Relaxed SIMD: the relaxed build emits f32x4.relaxed_madd and agrees with the baseline build
// within tolerance; the runtime and load() pick it only where the engine validates it; an AOT
// artifact carries it beside the baseline code, sharing one weights image. Node 20 validates
// relaxed SIMD only under --experimental-wasm-relaxed-simd: this file sets that V8 flag at run time
// (after checking the detector agrees with the engine before it is set).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as v8 from "node:v8";
import binaryen from "binaryen";
import { afterAll, describe, expect, it } from "vitest";
import { compile, load } from "../compiler/driver/api.js";
import { cacheStored, clearModuleCache } from "../compiler/driver/cache.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { parseGraph } from "../compiler/ir/parse.js";
import { exportModel } from "../compiler/onnx/export.js";
import type { Tensor } from "../compiler/ir/graph.js";
import { madd } from "../codegen/kernels/matmul/gemm-tile.js";
import { createSession } from "../runtime/session.js";
import { RELAXED_FEATURE, relaxedSimdSupported, resolveSimd } from "../runtime/simd.js";
import { appendCustomSection } from "../runtime/sections.js";
import { RELAXED_CODE_SECTION, WEIGHTS_SECTION } from "../runtime/manifest.js";
import { splitWeights } from "../runtime/weights.js";
import { conv, gemm } from "../bench/kernel-models.js";
import { runReference } from "../models/reference.js";
import { buildZooModel } from "../models/zoo.js";
import { kiln } from "./util/cli.js";
import { expectOutputsMatch, randomFeeds, removeTempDirs, tempDir } from "./util/models.js";

afterAll(removeTempDirs);

/** a relaxed module built by binaryen (independent of the runtime's hand-made probe) */
function relaxedModule(): Uint8Array {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
  const p = () => m.local.get(0, binaryen.v128);
  m.addFunction("f", binaryen.v128, binaryen.v128, [], madd(m, p(), p(), p(), true));
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

const engineValidatesRelaxed = () => WebAssembly.validate(relaxedModule() as Uint8Array<ArrayBuffer>);

const beforeFlag = { probe: relaxedSimdSupported(true), engine: engineValidatesRelaxed() };
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const afterFlag = { probe: relaxedSimdSupported(true), engine: engineValidatesRelaxed() };

/** how many f32x4.relaxed_madd the code of a module holds */
function relaxedMadds(code: Uint8Array): number {
  const m = binaryen.readBinary(code);
  try {
    return (m.emitText().match(/f32x4\.relaxed_madd/g) ?? []).length;
  } finally {
    m.dispose();
  }
}

const TOL = { rtol: 1e-4, atol: 1e-5 };
/**
 * one-node kernels on random weights: outputs of magnitude ~5 summed from hundreds of products, and
 * Winograd F(4x4,3x3) amplifies rounding differences; the Winograd kernel tests' own tolerance
 */
const KERNEL_TOL = { rtol: 1e-4, atol: 2e-4 };
const unsupported = () => false;
const supported = () => true;

function feedsFor(input: number[]): Record<string, Tensor> {
  return { X: { dtype: "float32", ...makeInput("random", "float32", input, 5) } };
}

async function runBoth(bytes: Uint8Array, feeds: Record<string, Tensor>) {
  const base = await load(bytes, { simd: "baseline", cache: false });
  const relaxed = await load(bytes, { simd: "relaxed", cache: false });
  return { base, relaxed, want: await base.run(feeds), got: await relaxed.run(feeds) };
}

describe("relaxed SIMD detection", () => {
  it("the hand-made probe agrees with the engine, with and without the V8 flag", () => {
    expect(beforeFlag.probe).toBe(beforeFlag.engine);
    expect(afterFlag.probe).toBe(afterFlag.engine);
    expect(afterFlag.probe, "Node 20 validates relaxed SIMD under --experimental-wasm-relaxed-simd").toBe(true);
  });

  it("resolves auto by the detector; relaxed where unsupported is a typed error", () => {
    expect(resolveSimd("auto", supported)).toBe("relaxed");
    expect(resolveSimd("auto", unsupported)).toBe("baseline");
    expect(resolveSimd("baseline", supported)).toBe("baseline");
    expect(resolveSimd("relaxed", supported)).toBe("relaxed");
    expect(() => resolveSimd("relaxed", unsupported)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_OP" }));
    expect(() => resolveSimd("fast" as never, supported)).toThrow(expect.objectContaining({ code: "BAD_OPTION" }));
  });
});

describe("relaxed kernels match the baseline kernels", () => {
  const cases = [
    gemm(48),
    conv("conv3x3_im2col", 14, 16, 24, 3),
    conv("conv3x3_wide", 28, 32, 32, 3),
    conv("conv1x1_pointwise", 14, 32, 16, 1),
    conv("dwconv3x3", 20, 8, 8, 3, true),
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const bytes = c.model();
      const feeds = feedsFor(c.input);
      const { want, got, relaxed } = await runBoth(bytes, feeds);
      const reference = await runReference(bytes, feeds);
      expectOutputsMatch(want, reference, KERNEL_TOL, `${c.name} baseline vs onnxruntime`);
      expectOutputsMatch(got, reference, KERNEL_TOL, `${c.name} relaxed vs onnxruntime`);
      expectOutputsMatch(got, want, KERNEL_TOL, `${c.name} relaxed vs baseline`);
      expect(relaxed.session!.manifest.features).toContain(RELAXED_FEATURE);
      const code = (await compile(bytes, { simd: "relaxed" })).wasm;
      expect(relaxedMadds(splitWeights(code).code), "relaxed_madd in the relaxed build").toBeGreaterThan(0);
      expect(relaxedMadds(splitWeights((await compile(bytes, { simd: "baseline" })).wasm).code), "none in the baseline build").toBe(0);
    }, 60_000);
  }
});

describe("zoo models: relaxed build within tolerance of the baseline", () => {
  for (const name of ["mlp", "cnn", "mobilenet", "encoder"]) {
    it(name, async () => {
      const model = buildZooModel(name);
      const { want, got, base, relaxed } = await runBoth(model, randomFeeds(model));
      expect(base.session!.manifest.features).not.toContain(RELAXED_FEATURE);
      expect(relaxed.session!.manifest.features).toContain(RELAXED_FEATURE);
      expectOutputsMatch(got, want, TOL, name);
      expect(relaxedMadds(splitWeights((await compile(model, { simd: "relaxed" })).wasm).code), "relaxed_madd in the relaxed build").toBeGreaterThan(0);
    }, 120_000);
  }
});

describe("load() chooses the build", () => {
  const bytes = gemm(32).model();
  it("relaxed by default where the engine runs it, baseline where it does not", async () => {
    expect((await load(bytes)).session!.manifest.features).toContain(RELAXED_FEATURE);
    expect((await load(bytes, { relaxedSupported: unsupported })).session!.manifest.features).not.toContain(RELAXED_FEATURE);
  });
  it("asking for relaxed where the engine lacks it is a typed error", async () => {
    await expect(load(bytes, { simd: "relaxed", relaxedSupported: unsupported })).rejects.toMatchObject({ code: "UNSUPPORTED_OP" });
  });
  it("the in-process cache keeps the builds apart", async () => {
    const a = await load(bytes, { simd: "baseline" });
    const b = await load(bytes, { simd: "relaxed" });
    const c = await load(bytes, { simd: "baseline" });
    expect(a.session!.manifest.features).not.toContain(RELAXED_FEATURE);
    expect(b.session!.manifest.features).toContain(RELAXED_FEATURE);
    expect(c.session!.manifest.features).not.toContain(RELAXED_FEATURE);
  });
});

describe("the disk cache keeps the builds apart", () => {
  it("a baseline module on disk is not served to a relaxed load, nor the other way", async () => {
    const dir = tempDir("relaxed-disk");
    const bytes = gemm(24).model();
    const features = async (simd: "baseline" | "relaxed") => {
      clearModuleCache(); // only the disk can serve the load
      const m = await load(bytes, { simd, cacheDir: dir });
      await cacheStored();
      return m.session!.manifest.features;
    };
    expect(await features("baseline")).not.toContain(RELAXED_FEATURE);
    expect(await features("relaxed")).toContain(RELAXED_FEATURE);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".wasm"))).toHaveLength(2);
    expect(await features("baseline")).not.toContain(RELAXED_FEATURE);
    expect(await features("relaxed")).toContain(RELAXED_FEATURE);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".wasm"))).toHaveLength(2);
  });
});

describe("splitting an artifact", () => {
  const code = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const relaxed = Uint8Array.of(1, 2, 3), weights = Uint8Array.of(4, 5);
  it("peels the trailing weights, then the relaxed code before them; the code is the prefix", () => {
    const both = appendCustomSection(appendCustomSection(code, RELAXED_CODE_SECTION, relaxed), WEIGHTS_SECTION, weights);
    const split = splitWeights(both);
    expect(split.code).toEqual(code);
    expect(split.relaxed).toEqual(relaxed);
    expect(split.weights).toEqual(weights);
    expect(split.code.buffer).toBe(both.buffer); // a view, not a copy
  });
  it("takes only trailing kiln sections: anything after them keeps them in the code", () => {
    const buried = appendCustomSection(appendCustomSection(code, RELAXED_CODE_SECTION, relaxed), "other", weights);
    expect(splitWeights(buried)).toEqual({ code: buried, weights: undefined, relaxed: undefined });
    const noWeights = appendCustomSection(code, RELAXED_CODE_SECTION, relaxed);
    expect(splitWeights(noWeights).relaxed).toEqual(relaxed);
    expect(splitWeights(noWeights).weights).toBeUndefined();
  });
});

describe("AOT artifact of a model whose code is the same in both builds", () => {
  it("carries one build (no multiply-add loop asked which SIMD it targets), which every engine runs", async () => {
    const model = exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[3,5]
%y : float32[3,5] = Relu(%x) {name="relu"}
%z : float32[3,5] = Neg(%y) {name="neg"}
output %z`));
    const auto = (await compile(model)).wasm;
    expect(splitWeights(auto).relaxed).toBeUndefined();
    expect(auto).toEqual((await compile(model, { simd: "baseline" })).wasm);
    const session = await createSession(auto, { relaxedSupported: supported });
    expect(session.manifest.features).toEqual(["simd128"]);
    const x = Float32Array.from({ length: 15 }, (_, i) => i - 7);
    expect(Array.from((await session.run({ x })).z.data as Float32Array)).toEqual(Array.from(x, (v) => -Math.max(v, 0)));
  });
});

describe("AOT artifact with the embedded relaxed build", () => {
  const model = buildZooModel("cnn");
  const feeds = randomFeeds(model);
  const plain = (f: Record<string, Tensor>) => Object.fromEntries(Object.entries(f).map(([k, t]) => [k, { data: t.data, dims: t.dims }]));

  it("runs through the runtime alone, either build, one weights image", async () => {
    const auto = (await compile(model)).wasm;
    const baseline = (await compile(model, { simd: "baseline" })).wasm;
    const split = splitWeights(auto);
    expect(split.relaxed, "kiln.code.relaxed section").toBeDefined();
    expect(splitWeights(baseline).relaxed).toBeUndefined();
    expect(relaxedMadds(split.relaxed!)).toBeGreaterThan(0);
    expect(relaxedMadds(split.code)).toBe(0);
    // the baseline artifact plus the relaxed code (and its section header), no second weights image
    const header = 1 + 2 + 1 + "kiln.code.relaxed".length; // id, size (2-byte LEB here), name length, name
    expect(auto.length).toBeLessThanOrEqual(baseline.length + split.relaxed!.length + header + 1);
    expect(split.weights!.length).toBe(splitWeights(baseline).weights!.length);

    const onPlain = await createSession(auto, { relaxedSupported: unsupported });
    const onRelaxed = await createSession(auto, { relaxedSupported: supported });
    expect(onPlain.manifest.features).not.toContain(RELAXED_FEATURE);
    expect(onRelaxed.manifest.features).toContain(RELAXED_FEATURE);
    expect((await createSession(auto, { simd: "baseline", relaxedSupported: supported })).manifest.features).not.toContain(RELAXED_FEATURE);
    await expect(createSession(auto, { simd: "relaxed", relaxedSupported: unsupported })).rejects.toMatchObject({ code: "UNSUPPORTED_OP" });
    // relaxed asked of an artifact without a relaxed build: it runs its SIMD128 build and says so once
    const warned: string[] = [];
    await createSession(auto, { simd: "relaxed", relaxedSupported: supported, warn: (w) => warned.push(w) });
    expect(warned).toEqual([]);
    const onBaseline = await createSession(baseline, { simd: "relaxed", relaxedSupported: supported, warn: (w) => warned.push(w) });
    expect(onBaseline.manifest.features).not.toContain(RELAXED_FEATURE);
    expect(warned).toEqual(["kiln: this artifact has no relaxed-SIMD build: running SIMD128"]);

    const want = await (await load(model, { simd: "baseline" })).run(plain(feeds));
    expectOutputsMatch(await onPlain.run(plain(feeds)), want, { rtol: 0, atol: 0 }, "baseline build of the artifact");
    expectOutputsMatch(await onRelaxed.run(plain(feeds)), want, TOL, "relaxed build of the artifact");
  }, 60_000);
});

/** whether a plain `node` child (no V8 flags) validates relaxed SIMD */
function childHasRelaxed(): boolean {
  const source = `process.stdout.write(String(WebAssembly.validate(new Uint8Array([${Array.from(relaxedModule()).join(",")}]))))`;
  return spawnSync(process.execPath, ["-e", source], { encoding: "utf8" }).stdout === "true";
}

describe("kiln compile --simd (CLI in a child process: no V8 flag, so no relaxed SIMD on Node 20)", () => {
  const dir = tempDir("relaxed-cli");
  const model = path.join(dir, "cnn.onnx");
  fs.writeFileSync(model, buildZooModel("cnn"));
  const compileTo = (simd: string | undefined) => {
    const out = path.join(dir, `cnn-${simd ?? "default"}.wasm`);
    const r = kiln(["compile", model, "-o", out, ...(simd ? ["--simd", simd] : []), "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    return out;
  };

  it("embeds the relaxed build by default, not with --simd baseline; both run where relaxed SIMD does not", () => {
    const auto = compileTo(undefined);
    const baseline = compileTo("baseline");
    expect(splitWeights(new Uint8Array(fs.readFileSync(auto))).relaxed).toBeDefined();
    expect(splitWeights(new Uint8Array(fs.readFileSync(baseline))).relaxed).toBeUndefined();
    const runs = [auto, baseline].map((f) => kiln(["run", f, "--json"]));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(runs[0].stdout).outputs).toEqual(JSON.parse(runs[1].stdout).outputs);
  }, 60_000);

  it("a relaxed-only artifact fails with a typed error that says what to do (runs where the engine has relaxed SIMD)", () => {
    const r = kiln(["run", compileTo("relaxed")]);
    if (childHasRelaxed()) {
      expect(r.code, r.stderr).toBe(0); // Node 22+: relaxed SIMD without a flag
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/UNSUPPORTED_OP: .*relaxed SIMD only.*--simd auto or baseline/);
    }
  }, 60_000);

  it("rejects an unknown --simd", () => {
    const r = kiln(["compile", model, "-o", path.join(dir, "x.wasm"), "--simd", "fast"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--simd takes auto, baseline, relaxed/);
  });
});
