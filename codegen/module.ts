// Graph (typed, static shapes) -> one wasm module: a linear memory laid out as
// [reserved][weights][activations + inputs + outputs], a function per layer, `run` calling
// them in order, and the manifest in a custom section.
import binaryen from "binaryen";
import { dtype, sizeOf } from "../runtime/dtypes.js";
import { KilnError } from "../runtime/errors.js";
import { FORMAT_VERSION, MANIFEST_SECTION, type LayerInfo, type Manifest, type TensorSlot, type WeightRegion, type WeightSpan, type WeightsPlacement } from "../runtime/manifest.js";
import { RELAXED_FEATURE, type SimdLevel } from "../runtime/simd.js";
import type { WeightsWriter } from "../runtime/weights.js";
import { appendWeightsSection } from "../runtime/weights.js";
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { fillRepeated, isLazySplat, splatBytes, splatValue } from "../compiler/ir/splat.js";
import { tensorBytes } from "../compiler/ir/raw.js";
import { isDeferred } from "../compiler/ir/scaled.js";
import { Fn } from "./fn.js";
import { MathLib } from "./math.js";
import { addHalfHelpers } from "./math/half.js";
import { KernelCtx, kernelEntry, type KernelPrep, type LazyConstant, type TensorRef } from "./kernels/registry.js";
import "./kernels/index.js";
import "./math/index.js";

export const KILN_VERSION = "0.1.0";
const ALIGN = 16;
const RESERVED = 64;
const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE;

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
}

export interface GeneratedModule {
  wasm: Uint8Array;
  manifest: Manifest;
  /** writes the weights image (manifest.memory.weightsBytes) at `at`, when options.weights is "external" */
  weights?: WeightsWriter;
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * A piece of the weights image: bytes to copy, one element repeated `size` bytes long (a splat
 * constant, compiler/ir/splat.ts: the full array is never built), or a kernel's lazy constant.
 */
interface Piece {
  addr: number;
  size: number;
  bytes?: Uint8Array;
  unit?: Uint8Array;
  lazy?: LazyConstant;
}

function pieceOf(addr: number, t: Tensor): Piece {
  const one = isLazySplat(t) ? splatValue(t) : undefined;
  if (one) return { addr, size: sizeOf(t.dims) * one.BYTES_PER_ELEMENT, unit: splatBytes(one) };
  // a deferred constant (compiler/ir/scaled.ts) is computed when the image is written
  if (isDeferred(t)) {
    const size = sizeOf(t.dims) * 4;
    return { addr, size, lazy: { byteLength: size, write: (into) => into.set(tensorBytes(t)) } };
  }
  const bytes = tensorBytes(t);
  return { addr, size: bytes.length, bytes };
}

function writePiece(p: Piece, into: Uint8Array, at: number): void {
  if (p.unit) fillRepeated(into.subarray(at, at + p.size), p.unit);
  else if (p.lazy) p.lazy.write(into.subarray(at, at + p.size));
  else into.set(p.bytes!, at);
}

/**
 * The pieces a layer reads: those under any of its input tensors (its constants, and anything
 * that aliases one) and its kernel's own constants (packed weights, tables).
 */
function piecesRead(ctx: KernelCtx, pieces: readonly Piece[]): Piece[] {
  const spans = ctx.inputs.filter((t): t is TensorRef => !!t).map((t) => [t.addr, t.addr + t.size * dtype(t.dtype).bytes]);
  const own = new Set(ctx.constantAddrs);
  return pieces.filter((p) => p.size && (own.has(p.addr) || spans.some(([a, b]) => p.addr < b && a < p.addr + p.size)));
}

/** The memory ranges the pieces fill, neighbours (apart by alignment padding at most) merged. */
function regionsOf(pieces: readonly Piece[]): WeightRegion[] {
  const regions: WeightRegion[] = [];
  for (const p of [...pieces].filter((q) => q.size).sort((a, b) => a.addr - b.addr)) {
    const last = regions[regions.length - 1];
    if (last && p.addr <= last.offset + last.bytes + ALIGN) last.bytes = Math.max(last.bytes, p.addr + p.size - last.offset);
    else regions.push({ offset: p.addr, bytes: p.size });
  }
  return regions;
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

/** Elementwise ops whose kernels read each element before they write it, at the same index. */
const IN_PLACE_OPS = new Set(["Add", "Sub", "Mul", "Div"]);

/** [output, constant input it may overwrite]: see GenerateOptions.inPlaceConstants. */
function inPlaceOutputs(graph: Graph, order: Node[]): [string, string][] {
  const reads = new Map<string, number>();
  for (const n of order) for (const i of n.inputs) if (i) reads.set(i, (reads.get(i) ?? 0) + 1);
  const pairs: [string, string][] = [];
  const taken = new Set<string>();
  for (const n of order) {
    if (n.domain !== "" || !IN_PLACE_OPS.has(n.op) || !n.outputs[0]) continue;
    const out = graph.values.get(n.outputs[0])!;
    const over = n.inputs.find((i) => {
      const v = i ? graph.values.get(i) : undefined;
      return v?.const && !taken.has(i) && reads.get(i) === 1 && !graph.outputs.includes(i) && v.dtype === out.dtype && v.shape?.join() === out.shape?.join();
    });
    if (over) {
      taken.add(over);
      pairs.push([n.outputs[0], over]);
    }
  }
  return pairs;
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

function build(m: binaryen.Module, graph: Graph, options: GenerateOptions): GeneratedModule {
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt |
    binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt | binaryen.Features.MutableGlobals |
    (options.simd === "relaxed" ? binaryen.Features.RelaxedSIMD : 0));
  const order = graph.topoOrder().filter((n) => isRuntimeNode(graph, n));
  const slots = new Map<string, TensorRef>();
  let top = RESERVED;
  let arenaBase = -1;
  const place = (name: string): TensorRef => {
    let s = slots.get(name);
    if (s) return s;
    const v = graph.values.get(name)!;
    const dims = v.shape as number[];
    const planned = arenaBase >= 0 ? graph.memoryPlan?.offsets.get(name) : undefined;
    s = { name, dtype: v.dtype!, dims, size: sizeOf(dims), addr: planned !== undefined ? arenaBase + planned : top, value: v.const };
    if (planned === undefined) top = align(top + s.size * dtype(s.dtype).bytes);
    if (top > MAX_BYTES) {
      throw new KilnError("UNSUPPORTED_OP", `the model needs more than 4 GiB of memory (at value ${JSON.stringify(name)}); wasm32 memory cannot hold it`);
    }
    slots.set(name, s);
    return s;
  };

  // weights first: every constant a runtime node reads, and constant graph outputs
  const weightsOffset = top;
  const constNames = new Set<string>();
  for (const n of order) for (const i of n.inputs) if (i && graph.values.get(i)?.const) constNames.add(i);
  for (const o of graph.outputs) if (graph.values.get(o)?.const) constNames.add(o);
  for (const c of constNames) place(c);
  const weightsBytes = top - weightsOffset;
  const placement = options.weights ?? "section";
  // the weights image: model weights some layer reads at run time, then kernels' packed constants
  const pieces: Piece[] = [];
  const writeWeights: WeightsWriter = (into, at, only) => {
    const inside = (p: Piece) => !only || (p.addr >= only.offset && p.addr < only.offset + only.bytes);
    for (const p of pieces) if (p.size && inside(p)) writePiece(p, into, at(p.addr)); // empty tensors may sit past every region
  };

  if (options.inPlaceConstants) for (const [out, over] of inPlaceOutputs(graph, order)) slots.set(out, { ...slots.get(over)!, name: out, value: undefined });

  // then the planned activation arena (when plan-memory ran), then inputs, outputs and the rest
  arenaBase = top;
  top = align(top + (graph.memoryPlan?.arenaBytes ?? 0));
  for (const i of graph.inputs) place(i);
  for (const n of order) for (const o of n.outputs) if (o) place(o);
  for (const o of graph.outputs) place(o);

  // every kernel's prepare step, now that tensor addresses are known: packed constants, scratch
  const math = new MathLib(m);
  const wrapFailure = (ctx: KernelCtx, what: string, e: unknown): never => {
    if (e instanceof KilnError) throw e;
    throw new KilnError("INTERNAL", `kernel ${what} failed: ${(e as Error).message}`, ctx.context());
  };
  const jobs = order.map((n, k) => {
    const entry = kernelEntry(n.domain, n.op);
    const opset = graph.opset(n.domain);
    if (!entry) {
      throw new KilnError("UNSUPPORTED_OP", `no kernel for ${n.domain ? n.domain + "." : ""}${n.op}`, { node: n.name, op: n.op, domain: n.domain, opset });
    }
    const fn = new Fn(m, `layer_${k}`);
    const ctx = new KernelCtx(m, fn, n, opset,
      n.inputs.map((i) => (i ? place(i) : undefined)),
      n.outputs.map((o) => (o ? place(o) : undefined)), math);
    const shared = options.preps?.get(n.name);
    if (shared) ctx.prep = shared;
    else if (entry.prepare) {
      try {
        ctx.prep = entry.prepare(ctx);
      } catch (e) {
        wrapFailure(ctx, "prepare", e);
      }
      options.preps?.set(n.name, ctx.prep);
    }
    return { n, fn, ctx, entry };
  });
  const read = new Set(graph.outputs.filter((o) => constNames.has(o)));
  for (const { n, ctx } of jobs) n.inputs.forEach((i, k) => {
    if (constNames.has(i) && !ctx.prep.unread?.includes(k)) read.add(i);
  });
  for (const c of read) pieces.push(pieceOf(slots.get(c)!.addr, graph.values.get(c)!.const!));
  let scratchBytes = 0;
  // a constant derived from one tensor by one recipe (LazyConstant.source) is placed once
  const derived = new Map<Tensor, Map<string, number>>();
  for (const { ctx } of jobs) {
    for (const c of ctx.prep.constants ?? []) {
      const src = c instanceof Uint8Array ? undefined : c.source;
      const known = src && derived.get(src.tensor)?.get(src.recipe);
      if (known !== undefined) {
        ctx.constantAddrs.push(known);
        continue;
      }
      if (src) derived.set(src.tensor, (derived.get(src.tensor) ?? new Map()).set(src.recipe, top));
      ctx.constantAddrs.push(top);
      pieces.push(c instanceof Uint8Array ? { addr: top, size: c.length, bytes: c } : { addr: top, size: c.byteLength, lazy: c });
      top = align(top + c.byteLength);
    }
    scratchBytes = Math.max(scratchBytes, align(ctx.prep.scratchBytes ?? 0));
  }
  const regions = regionsOf(pieces);
  const segments: binaryen.MemorySegment[] = placement !== "data" ? [] : regions.map((r) => {
    const data = new Uint8Array(r.bytes);
    for (const p of pieces) if (p.size && p.addr >= r.offset && p.addr < r.offset + r.bytes) writePiece(p, data, p.addr - r.offset);
    return { offset: m.i32.const(r.offset), data, passive: false };
  });
  const scratchAddr = top;
  top += scratchBytes;
  for (const { ctx } of jobs) if (ctx.prep.scratchBytes) ctx.scratchAddr = scratchAddr;
  if (top > MAX_BYTES) throw new KilnError("UNSUPPORTED_OP", "the model needs more than 4 GiB of memory; wasm32 memory cannot hold it");
  const pages = Math.ceil(Math.max(top, PAGE) / PAGE);
  m.setMemory(pages, pages, "memory", segments);

  addHalfHelpers(m);
  const layers: LayerInfo[] = [];
  jobs.forEach(({ n, fn, ctx, entry }) => {
    const fname = fn.name;
    try {
      entry.emit(ctx);
    } catch (e) {
      wrapFailure(ctx, "emitter", e);
    }
    if (fn.empty) return; // nothing to run: an alias of its input
    fn.finish();
    m.addFunctionExport(fname, fname);
    layers.push({ name: n.name, op: n.op, fn: fname, weights: piecesRead(ctx, pieces).map((p) => [p.addr, p.size]) });
  });
  const claimed = new Set(layers.flatMap((l) => l.weights!.map(([addr]) => addr)));
  const unclaimed: WeightSpan[] = pieces.filter((p) => p.size && !claimed.has(p.addr)).map((p) => [p.addr, p.size]);

  const run = new Fn(m, "run");
  for (const l of layers) run.emit(m.call(l.fn, [], binaryen.none));
  run.finish();
  m.addFunctionExport("run", "run");


  const slot = (name: string): TensorSlot => {
    const s = slots.get(name)!;
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
    memory: { bytes: pages * PAGE, weightsOffset, weightsBytes, weights: placement, regions, unclaimed },
    features: options.simd === "relaxed" ? ["simd128", RELAXED_FEATURE] : ["simd128"],
  };
  m.addCustomSection(MANIFEST_SECTION, new TextEncoder().encode(JSON.stringify(manifest)));

  if (options.validate !== false && !m.validate()) throw new KilnError("INTERNAL", "generated wasm module failed validation");
  if (options.optimize) {
    binaryen.setOptimizeLevel(2);
    m.optimize();
  }
  const wasm = m.emitBinary();
  if (placement === "external") return { wasm, manifest, weights: writeWeights };
  if (placement === "section") return { wasm: appendWeightsSection(wasm, regions, writeWeights), manifest };
  return { wasm, manifest };
}
