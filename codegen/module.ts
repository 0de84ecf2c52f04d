// Graph (typed, static shapes) -> one wasm module: each layer's kernel variant chosen and
// prepared, tensors placed in one linear memory (placement.ts), the weights image (weights-image.ts),
// a function per layer and `run` calling them in order, and the manifest in a custom section.
import binaryen from "binaryen";
import { KilnError } from "../runtime/errors.js";
import { FORMAT_VERSION, WEIGHTS_SECTION, type LayerInfo, type Manifest, type TensorSlot, type WeightSpan, type WeightsPlacement } from "../runtime/manifest.js";
import { RELAXED_FEATURE, type SimdLevel } from "../runtime/simd.js";
import type { WeightsWriter } from "../runtime/weights.js";
import { appendCustomSection } from "../runtime/sections.js";
import type { Graph, Node } from "../compiler/ir/graph.js";
import { Fn } from "./fn.js";
import { MathLib } from "./math.js";
import { addHalfHelpers } from "./math/half.js";
import { KernelCtx, type KernelPrep, type KernelSelection } from "./kernels/kernel.js";
import { kernelFamily } from "./kernels/index.js";
import { selectVariant, type KernelChoice } from "./kernels/select.js";
import { ALIGN, align, inPlaceOutputs, MemoryLayout, PAGE } from "./placement.js";
import { appendManifest } from "./artifact.js";
import { constantPiece, sealImage, tensorPiece, WeightsImage, type Piece } from "./weights-image.js";
import "./math/index.js";

export const KILN_VERSION = "0.1.0";

export interface GenerateOptions {
  /** run Binaryen's optimizer over the module (slower to compile, rarely faster to run: V8 optimizes too) */
  optimize?: boolean;
  /**
   * Where the weights go (see runtime/weights.ts): "section" (default) a trailing custom section
   * the runtime copies into memory with one set, so WebAssembly.compile only sees code;
   * "external" returned beside the module (the caller passes them to createSession);
   * "data" a classic active data segment.
   */
  weights?: WeightsPlacement;
  /**
   * run Binaryen's validator (default true). A caller that compiles the module at once may skip
   * it (tens of ms on big models): the engine validates anyway, see compileGenerated.
   */
  validate?: boolean;
  /**
   * "baseline" (default): SIMD128 only, runs on every wasm SIMD engine. "relaxed": the module also
   * has the RelaxedSIMD feature, and kernels read it from the module (matmul/gemm-tile.ts relaxedTarget)
   * to use f32x4.relaxed_madd in their multiply-add loops; only engines with relaxed SIMD run it.
   */
  simd?: SimdLevel;
  /**
   * kernels' prepare results by node name, filled by the first build of a graph and reused by the
   * next (the relaxed build of an AOT artifact: same graph, same addresses, and prepare does not
   * depend on the SIMD level), so weights are packed and transformed once
   */
  preps?: Map<string, KernelPrep>;
  /**
   * for a module run once (compile-time evaluation, compiler/driver/evaluate.ts): elementwise arithmetic
   * writes its output over a constant operand of the output's shape that nothing else reads, so the
   * memory holds that tensor once (folding BatchNormalization into ResNet-50's weights: 100 MB
   * less memory touched at JIT load). The constants are gone after the run.
   */
  inPlaceConstants?: boolean;
  /** variants forced or forbidden (kernels/kernel.ts KernelSelection); a node's recorded kernel (meta.kernel) wins */
  kernels?: KernelSelection;
  /**
   * the weights pieces' checksums by address, filled by a build that writes the image out
   * (weights "section" or "data") and given to a later "external" build of the same graph (the
   * relaxed build of an AOT artifact, which runs over the first build's image), whose manifest
   * then carries them too
   */
  checksums?: Map<number, number>;
}

export interface GeneratedModule {
  wasm: Uint8Array;
  manifest: Manifest;
  /** writes the weights image (manifest.memory.weightsBytes) at `at`, when options.weights is "external" */
  weights?: WeightsWriter;
}

/**
 * Compile a module generate() made without validation: the engine's complaint is a kiln bug, typed
 * INTERNAL. Synchronously where the engine allows it: the async compile hands the work to V8's
 * background threads, which at JIT load are busy tiering up binaryen.js's own wasm, and the answer
 * comes late (light ResNet-50: ~40 ms idle waiting for its 0.3 MB module; a 20 KB folding module
 * 80-260 ms on a busy machine). A browser's main thread refuses big synchronous compiles: async then.
 */
export async function compileGenerated(wasm: Uint8Array): Promise<WebAssembly.Module> {
  const failed = (e: unknown) => new KilnError("INTERNAL", `generated wasm module failed validation: ${(e as Error).message}`);
  try {
    return new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    if (e instanceof WebAssembly.CompileError) throw failed(e);
  }
  try {
    return await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw failed(e);
  }
}

/** True when a node still has work to do at run time (some output is not a compile-time constant). */
export function isRuntimeNode(graph: Graph, n: Node): boolean {
  return n.outputs.some((o) => o && !graph.values.get(o)?.const);
}

export function generate(graph: Graph, options: GenerateOptions = {}): GeneratedModule {
  const m = new binaryen.Module();
  try {
    return build(m, graph, options);
  } finally {
    m.dispose();
  }
}

interface Job {
  node: Node;
  fn: Fn;
  ctx: KernelCtx;
  choice: KernelChoice;
}

function build(m: binaryen.Module, graph: Graph, options: GenerateOptions): GeneratedModule {
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
    binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt | binaryen.Features.MutableGlobals |
    (options.simd === "relaxed" ? binaryen.Features.RelaxedSIMD : 0));
  const order = graph.topoOrder().filter((n) => isRuntimeNode(graph, n));
  const layout = new MemoryLayout(graph);
  const weights = layout.placeWeights(order);
  if (options.inPlaceConstants) for (const [out, over] of inPlaceOutputs(graph, order)) layout.alias(out, over);
  layout.placeActivations(order);

  // each layer's kernel variant, and its prepare step now that tensor addresses are known
  const math = new MathLib(m);
  const jobs = order.map((n, k) => prepareLayer(m, graph, n, k, layout, math, options));

  // the weights image: model weights some layer reads at run time, then kernels' packed constants
  const image = new WeightsImage(ALIGN);
  const read = new Set(graph.outputs.filter((o) => weights.names.has(o)));
  for (const { node, ctx } of jobs) node.inputs.forEach((i, k) => {
    if (weights.names.has(i) && !ctx.prep.unread?.includes(k)) read.add(i);
  });
  for (const c of read) image.add(tensorPiece(layout.slots.get(c)!.addr, graph.values.get(c)!.const!));
  let scratchBytes = 0;
  for (const { ctx } of jobs) {
    for (const c of ctx.prep.constants ?? []) {
      const { addr, fresh } = layout.placeConstant(c);
      ctx.constantAddrs.push(addr);
      if (fresh) image.add(constantPiece(addr, c));
    }
    scratchBytes = Math.max(scratchBytes, align(ctx.prep.scratchBytes ?? 0));
  }
  const placement = options.weights ?? "section";
  const regions = image.regions();
  // an image written out gets a checksum per piece, which the runtime checks as it places the piece;
  // "external" weights are written from the tensors by this process, unless a sealed build gave its checksums
  const sealed = placement === "external" ? undefined : sealImage(regions, image.write, image.pieces);
  if (sealed) for (const [addr, sum] of sealed.checksums) options.checksums?.set(addr, sum);
  const checksums = sealed?.checksums ?? options.checksums;
  const span = (p: Piece): WeightSpan => (checksums ? [p.addr, p.size, checksums.get(p.addr)!] : [p.addr, p.size]);
  let at = 0;
  const segments: binaryen.MemorySegment[] = placement !== "data" ? [] : regions.map((r) => ({ offset: m.i32.const(r.offset), data: sealed!.image.subarray(at, (at += r.bytes)), passive: false }));
  const scratchAddr = layout.reserveScratch(scratchBytes);
  for (const { ctx } of jobs) if (ctx.prep.scratchBytes) ctx.scratchAddr = scratchAddr;
  const pages = layout.pages();
  m.setMemory(pages, pages, "memory", segments);

  addHalfHelpers(m);
  const layers: LayerInfo[] = [];
  for (const { node, fn, ctx, choice } of jobs) {
    try {
      choice.variant.emit(ctx, choice.plan);
    } catch (e) {
      wrapFailure(ctx, "emitter", e);
    }
    if (fn.empty) continue; // nothing to run: an alias of its input
    fn.finish();
    m.addFunctionExport(fn.name, fn.name);
    layers.push({ name: node.name, op: node.op, fn: fn.name, kernel: choice.name, weights: image.readBy(ctx.inputs, ctx.constantAddrs).map(span) });
  }
  const claimed = new Set(layers.flatMap((l) => l.weights!.map(([addr]) => addr)));
  const unclaimed: WeightSpan[] = image.pieces.filter((p) => p.size && !claimed.has(p.addr)).map(span);

  const run = new Fn(m, "run");
  for (const l of layers) run.emit(m.call(l.fn, [], binaryen.none));
  run.finish();
  m.addFunctionExport("run", "run");

  const slot = (name: string): TensorSlot => {
    const s = layout.slots.get(name)!;
    return { name, dtype: s.dtype, dims: s.dims, offset: s.addr };
  };
  const manifest: Manifest = {
    format: FORMAT_VERSION,
    kiln: KILN_VERSION,
    inputs: graph.inputs.map(slot),
    outputs: graph.outputs.map(slot),
    frozen: graph.frozenInputs.map(({ name, value: t }) =>
      ({ name, dtype: t.dtype, dims: [...t.dims], values: Array.from(t.data as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? x.toString() : x)) })),
    layers,
    memory: { bytes: pages * PAGE, weightsOffset: weights.offset, weightsBytes: weights.bytes, weights: placement, regions, unclaimed },
    features: options.simd === "relaxed" ? ["simd128", RELAXED_FEATURE] : ["simd128"],
  };

  if (options.validate !== false && !m.validate()) throw new KilnError("INTERNAL", "generated wasm module failed validation");
  if (options.optimize) {
    binaryen.setOptimizeLevel(2);
    m.optimize();
  }
  const wasm = appendManifest(m.emitBinary(), manifest);
  if (placement === "external") return { wasm, manifest, weights: image.write };
  if (placement === "section") return { wasm: appendCustomSection(wasm, WEIGHTS_SECTION, sealed!.image), manifest };
  return { wasm, manifest };
}

const wrapFailure = (ctx: KernelCtx, what: string, e: unknown): never => {
  if (e instanceof KilnError) throw e;
  throw new KilnError("INTERNAL", `kernel ${what} failed: ${(e as Error).message}`, ctx.context());
};

/** A layer's kernel variant (chosen once, here), its context, and what its prepare step asks for. */
function prepareLayer(m: binaryen.Module, graph: Graph, n: Node, k: number, layout: MemoryLayout, math: MathLib, options: GenerateOptions): Job {
  const opset = graph.opset(n.domain);
  const family = kernelFamily(n);
  if (!family) {
    throw new KilnError("UNSUPPORTED_OP", `no kernel for ${n.domain ? n.domain + "." : ""}${n.op}`, { node: n.name, op: n.op, domain: n.domain, opset });
  }
  const fn = new Fn(m, `layer_${k}`);
  const ctx = new KernelCtx(m, fn, n, opset,
    n.inputs.map((i) => (i ? layout.place(i) : undefined)),
    n.outputs.map((o) => (o ? layout.place(o) : undefined)), math, options.kernels);
  let choice: KernelChoice;
  try {
    choice = selectVariant(family, ctx);
  } catch (e) {
    return wrapFailure(ctx, "selection", e);
  }
  const shared = options.preps?.get(n.name);
  if (shared) ctx.prep = shared;
  else if (choice.variant.prepare) {
    try {
      ctx.prep = choice.variant.prepare(ctx, choice.plan);
    } catch (e) {
      wrapFailure(ctx, "prepare", e);
    }
    options.preps?.set(n.name, ctx.prep);
  }
  return { node: n, fn, ctx, choice };
}
