// What a kernel is. A kernel family runs one or more operators and lists its variants by name
// (XNNPACK's discipline: winograd-f4x4, im2col-gemm, direct ...). Each variant has a pure plan()
// that says whether and how it runs a layer, seeing only shapes, dtypes, attributes and constant
// values (a LayerCtx: no addresses, no Binaryen module); then prepare() (packed constants,
// scratch) and emit() (wasm code into ctx.fn, reading ctx.inputs and writing ctx.outputs at their
// fixed offsets) work from that plan. The variant is chosen once per layer (kernels/select.ts).
import type binaryen from "binaryen";
import type { DTypeName } from "../../runtime/dtypes.js";
import { KilnError, listed } from "../../runtime/errors.js";
import { Attrs } from "../../compiler/ir/attrs.js";
import type { Node, Tensor } from "../../compiler/ir/graph.js";
import type { Fn, Trips } from "../fn.js";
import type { MathLib } from "../math.js";
import type { ThreadCtx } from "../threads.js";
import { formatDim, SYMBOLS_ADDR, type DimExpr, type SymbolInfo } from "../../runtime/dims.js";
import { INDEX_ERROR } from "../../runtime/manifest.js";
import { pinHint } from "../pin-hint.js";

/** A tensor as a plan sees it: what it is, not where it lives. */
export interface TensorInfo {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** element count */
  size: number;
  /** compile-time value, when the tensor is a constant */
  value?: Tensor;
}

/** A tensor placed in linear memory. */
export interface TensorRef extends TensorInfo {
  /** byte offset of element 0 in linear memory */
  addr: number;
}

/**
 * A constant computed straight into its place when the weights image (or memory) is written,
 * instead of into an array of its own first: for big regular constants (a splat weight's packed
 * or transformed form) one pass over memory instead of two. `write` fills exactly byteLength bytes
 * at any alignment, once per image written.
 */
export interface LazyConstant {
  readonly byteLength: number;
  write(into: Uint8Array): void;
  /**
   * Set when the constant is a function of one weight tensor alone (see derivedFrom): layers that
   * read the same tensor through the same recipe then share one copy in memory.
   */
  readonly source?: { tensor: Tensor; recipe: string };
  /**
   * Set with source when the recipe has a wasm form: code that computes the constant's exact bytes
   * in memory from the tensor's storage bytes. A compact artifact (codegen/derive.ts) then stores
   * the tensor once, as the model gives it, and the runtime derives this form as it places it.
   */
  readonly derive?: DeriveCode;
  /** the constant holds integers: no float NaN (whose bits a store need not keep) to look for */
  readonly integers?: boolean;
}

/**
 * Emits into `fn` the code that writes a derived constant's byteLength bytes at memory address
 * `dst` from its source tensor's bytes at `src` (its storage form, row-major), bit for bit what
 * the constant's `write` gives: the same float operations in the same order.
 */
export type DeriveCode = (fn: Fn, src: number, dst: number) => void;

/**
 * `c`, marked as `recipe` applied to `tensor` and nothing else. After CSE a graph holds one value
 * per distinct weight, so layers reading one value (tied weights; the light models' equal splat
 * filter banks) find the same Tensor object, and the module places the constant once for them all.
 * The recipe names the transform and every parameter that shapes its output.
 */
export function derivedFrom(c: LazyConstant, tensor: Tensor, recipe: string, derive?: DeriveCode): LazyConstant {
  return { ...c, source: { tensor, recipe: `${recipe}/${c.byteLength}` }, ...(derive ? { derive } : {}) };
}

/** A LazyConstant of n float32 values that `fill` computes (into memory when it is aligned). */
export function lazyFloat32(n: number, fill: (out: Float32Array) => void): LazyConstant {
  return {
    byteLength: n * 4,
    write(into) {
      if (into.byteOffset % 4 === 0) return fill(new Float32Array(into.buffer, into.byteOffset, n));
      const tmp = new Float32Array(n);
      fill(tmp);
      into.set(new Uint8Array(tmp.buffer));
    },
  };
}

/** What a kernel asks for before code generation (see registerKernel's prepare). */
export interface KernelPrep {
  /** extra constant data (e.g. weights pre-packed into the kernel's layout), placed with the weights */
  constants?: (Uint8Array | LazyConstant)[];
  /** bytes of scratch memory the layer may use while it runs (shared by all layers, 16-aligned) */
  scratchBytes?: number;
  /**
   * inputs (by index) the layer no longer reads at run time, because prepare packed them into
   * `constants`: a constant no layer reads is left out of the weights image (less to load and copy)
   */
  unread?: number[];
}

/**
 * Work a fused kernel applies to each output value right before the anchor kernel (Conv, Gemm,
 * MatMul...) stores it: activation, residual add. `ptr() + offset` is the byte address the value
 * is stored at (a residual of the output's shape is read at the same element).
 */
export interface Epilogue {
  /** the folded constant bias along the output columns, for MatMul (which has no bias input; the others get it as their bias input) */
  bias?: TensorRef;
  vec(v: binaryen.ExpressionRef, ptr: () => binaryen.ExpressionRef, offset: number): binaryen.ExpressionRef;
  scalar(v: binaryen.ExpressionRef, ptr: () => binaryen.ExpressionRef, offset: number): binaryen.ExpressionRef;
}

/** A layer as plans see it: the node, its opset and its tensors (of type T: TensorInfo when planning, TensorRef in KernelCtx). */
export class LayerCtx<T extends TensorInfo = TensorInfo> {
  readonly attrs: Attrs;
  /**
   * some tensor of the layer has a symbolic dim (docs/ARCHITECTURE.md "Symbolic dims"): its
   * variant must have a symbolic form (kernels/select.ts); a fused kernel passes it to its anchor
   */
  varying = false;
  /** with `varying`: the tensors' dims as expressions of the symbols, where a plan depends on which dims vary (Einsum's packed labels) */
  varyingDims?: ReadonlyMap<string, readonly DimExpr[]>;
  constructor(
    readonly node: Node,
    readonly opset: number,
    readonly inputs: (T | undefined)[],
    readonly outputs: (T | undefined)[],
    /** the variants the user forced or forbade (KILN_KERNELS, --kernels) */
    readonly selection: KernelSelection = NO_SELECTION,
    /**
     * set when the layer is the anchor of a fused epilogue: the combined bias it will add along its
     * channel axis (fused/epilogue.ts), which some variants must be able to take
     */
    readonly fusedBias?: TensorInfo,
    /** the variant recorded for the layer (node.meta.kernel, see passes/select-kernels.ts): it is taken, or nothing */
    readonly recorded: string | undefined = node.meta?.kernel,
  ) {
    this.attrs = new Attrs(node);
  }

  input(i: number): T {
    const t = this.inputs[i];
    if (!t) throw new KilnError("INVALID_MODEL", `input ${i} is required`, this.context());
    return t;
  }

  output(i: number): T {
    const t = this.outputs[i];
    if (!t) throw new KilnError("INTERNAL", `output ${i} has no slot`, this.context());
    return t;
  }

  /** The compile-time value of input i (kernels may specialize on it). */
  constValue(i: number): Tensor | undefined {
    return this.inputs[i]?.value;
  }

  /** the opset errors name: the model's, where a rewrite raised the graph's (Graph.modelOpset) */
  shownOpset?: number;

  context() {
    const shapes = listed(this.inputs.map((t) => (t ? `${t.dtype}[${t.dims.join(",")}]` : "none")));
    return { node: this.node.name, op: this.node.op, domain: this.node.domain, opset: this.shownOpset ?? this.opset, shapes: `inputs ${shapes}` };
  }

  unsupported(message: string): never {
    throw new KilnError("UNSUPPORTED_OP", message, this.context());
  }
}

/** A layer while its code is generated: its tensors placed, a function to emit into, the module. */
export class KernelCtx extends LayerCtx<TensorRef> {
  /** set by fused kernels: applied by the anchor kernel to every value it stores */
  epilogue?: Epilogue;
  /** byte addresses of the constants the prepare step returned, in order (set before emit) */
  constantAddrs: number[] = [];
  /** byte address of this layer's scratch memory (set before emit when prepare asked for it) */
  scratchAddr = -1;
  /** what prepare returned */
  prep: KernelPrep = {};
  /**
   * set in a threaded module when the layer is big enough to split (docs/THREADS.md): a kernel
   * that can, gives each thread its share of its outermost independent loop (threads.ts
   * threadShare) and sets `split`; a kernel that does not leaves the layer to thread 0
   */
  threads?: ThreadCtx;
  /** set by the kernel when it split its work among ctx.threads */
  split = false;
  /** the layer's place in the module's layer table (manifest.layers), for what a kernel reports at run time (INDEX_ERROR) */
  layer = -1;

  /**
   * Reports an index out of range where the runtime finds it after the run (runtime/manifest.ts
   * INDEX_ERROR), unless one was reported already this run: the layer, `given` (an i64, as the
   * model gave it; saturated to i32) and `dim` (the axis's length, an i64). The kernel then goes
   * on inside its tensors (reads zeros, skips the update); the runtime throws BAD_INPUT.
   */
  badIndex(given: () => binaryen.ExpressionRef, dim: () => binaryen.ExpressionRef): binaryen.ExpressionRef {
    const m = this.m; // this binaryen's i64.const takes one bigint (codegen/memory.ts constant)
    if (this.layer < 0) throw new KilnError("INTERNAL", `${this.node.op} reports bad indices but its layer has no place in the table`, this.context());
    const sat = m.select(m.i64.gt_s(given(), m.i64.const(0x7fffffffn as unknown as number)), m.i32.const(0x7fffffff),
      m.select(m.i64.lt_s(given(), m.i64.const(-0x80000000n as unknown as number)), m.i32.const(-0x80000000), m.i32.wrap(given())));
    return m.if(m.i32.eqz(m.i32.load(INDEX_ERROR, 4, m.i32.const(0))), m.block(null, [
      m.i32.store(INDEX_ERROR + 4, 4, m.i32.const(0), sat),
      m.i32.store(INDEX_ERROR + 8, 4, m.i32.const(0), m.i32.wrap(dim())),
      m.i32.store(INDEX_ERROR, 4, m.i32.const(0), m.i32.const(this.layer + 1)),
    ]));
  }
  /**
   * set when some tensor of the layer has a symbolic dim (docs/ARCHITECTURE.md "Symbolic dims"):
   * their expressions by tensor name, and whether the kernel asked for a run-time extent (a fused
   * kernel passes the object on to the contexts it makes, so its anchor's use counts)
   */
  symbolic?: {
    dims: ReadonlyMap<string, readonly DimExpr[]>;
    /** the module's symbols and their bounds (indexed as in the expressions) */
    symbols: readonly SymbolInfo[];
    used: boolean;
    /** set by a kernel that reads tensors in the padded layout with any dim varying (runtimeDim), not only the prefix form */
    padded?: boolean;
  };
  /**
   * set when some input of the layer is a small integer value computed in the module from the dims
   * whose elements are polynomials of the symbols (Graph.symbolic.values: a Slice's starts), by
   * tensor name, with the module's symbols and bounds (read them with symbolValue)
   */
  symbolValues?: { values: ReadonlyMap<string, readonly DimExpr[]>; symbols: readonly SymbolInfo[] };
  /**
   * A kernel with a symbolic form: `count`, a static extent of tensor `t` (at the upper bounds) that
   * covers its varying dim as the outermost dim it spans (the rows of a row-major block from that
   * dim on), as the i32 expression of its value in this run; undefined when t's dims are all static.
   * Asking marks the layer's kernel as row-polymorphic (module.ts refuses a symbolic layer whose
   * kernel never asks). A fresh expression on every call.
   */
  runtimeExtent(t: TensorInfo, count: number): binaryen.ExpressionRef | undefined {
    const e = this.symbolic?.dims.get(t.name);
    const k = e ? e.findIndex((d) => typeof d !== "number") : -1;
    if (!e || k < 0) return undefined;
    // the prefix form: one varying dim, after dims of 1 (else rows past this run's lie in between)
    if (e.some((d, j) => j > k && typeof d !== "number") || t.dims.slice(0, k).some((d) => d !== 1)) {
      const sym = this.symbolic!.symbols;
      this.unsupported(`${this.node.op}'s kernel takes a symbolic dim only as a tensor's leading dim (after dims of 1) so far, and ${JSON.stringify(t.name)} is [${e.map((d) => formatDim(d, sym)).join(",")}]; ${pinHint(sym, e)}`);
    }
    if (count % t.dims[k]) throw new KilnError("INTERNAL", `run-time extent ${count} does not span dim ${k} of ${t.name} [${t.dims.join(",")}]`, this.context());
    this.symbolic!.used = true;
    return this.dimValue(e[k], count / t.dims[k]);
  }

  /**
   * The trips of a loop over `count` outer items of tensor t (images, or planes of an image's
   * channels: `count` spans t's leading dims through the varying one, as runtimeExtent's): this
   * run's count where t's leading dim is symbolic (a batch: refused where another dim varies),
   * else the number. For Fn.trips, Fn.nest and splitNest.
   */
  outerCount(t: TensorInfo, count: number): Trips {
    const e = this.symbolic?.dims.get(t.name);
    // static, or a dim past the leading one varies: the kernel has no form for it (refused after emission)
    if (!e || typeof e[0] === "number") return count;
    this.runtimeExtent(t, count); // refuses other varying dims; marks the layer
    return () => this.runtimeExtent(t, count)!;
  }

  /**
   * A kernel that reads the padded layout (strides of the upper bounds) with symbolic dims anywhere:
   * dim k of t in this run (an i32 expression), or undefined when that dim is static. Marks the
   * layer as handled in full: the kernel answers for every symbolic dim of every tensor it reads.
   */
  runtimeDim(t: TensorInfo, k: number): binaryen.ExpressionRef | undefined {
    const d = this.symbolic?.dims.get(t.name)?.[k];
    if (d === undefined || typeof d === "number") return undefined;
    this.symbolic!.used = this.symbolic!.padded = true;
    return this.dimValue(d, 1);
  }

  /** How a refusal over t's symbolic dims (dim k's alone, when given) says which dims to pin: "pin it with --shape seq=N (API: ...)". */
  pinHintOf(t: TensorInfo, k?: number): string {
    const e = this.symbolic?.dims.get(t.name) ?? [];
    return pinHint(this.symbolic?.symbols ?? [], k === undefined ? e : [e[k]]);
  }

  /** Marks the layer as handled in full in the padded layout, for a kernel that reads no dim (a copy of the whole slot). */
  readsPadded(): void {
    if (this.symbolic) this.symbolic.used = this.symbolic.padded = true;
  }

  /** A polynomial of the symbols (an element of symbolValues) as its i32 value in this run. */
  symbolValue(e: DimExpr): binaryen.ExpressionRef {
    return typeof e === "number" ? this.m.i32.const(e) : this.dimValue(e, 1);
  }

  /** factor * the dim expression's value in this run (the symbols at SYMBOLS_ADDR) */
  private dimValue(e: DimExpr, factor: number): binaryen.ExpressionRef {
    const m = this.m;
    const sym = (i: number) => m.i32.load(SYMBOLS_ADDR + 4 * i, 4, m.i32.const(0));
    const terms = (e as number[][]).map(([c, ...idx]) => idx.reduce((a, i) => m.i32.mul(a, sym(i)), m.i32.const(c * factor)));
    return terms.reduce((a, b) => m.i32.add(a, b));
  }
  /** the threads to split this layer's work among (and the layer marked split), or undefined: one thread */
  splitAmong(): ThreadCtx | undefined {
    if (this.threads) this.split = true;
    return this.threads;
  }
  constructor(
    readonly m: binaryen.Module,
    readonly fn: Fn,
    node: Node,
    opset: number,
    inputs: (TensorRef | undefined)[],
    outputs: (TensorRef | undefined)[],
    readonly math: MathLib,
    selection?: KernelSelection,
    fusedBias?: TensorInfo,
    recorded?: string,
  ) {
    super(node, opset, inputs, outputs, selection, fusedBias, recorded ?? node.meta?.kernel);
  }
}

/**
 * One way to run a layer. plan() is pure (LayerCtx only) and returns undefined when the variant
 * cannot run the layer or, unless `forced`, when the variant's own heuristics say another does it
 * better; `forced` (the user asked for this variant) keeps the legality checks only.
 */
export interface KernelVariant<P = unknown> {
  readonly name: string;
  plan(layer: LayerCtx, forced: boolean): P | undefined;
  /** constants to place (pre-packed weights) and scratch to reserve; runs before any code is emitted */
  prepare?(ctx: KernelCtx, plan: P): KernelPrep;
  emit(ctx: KernelCtx, plan: P): void;
  /** the name reported for a plan, when it is not the variant's own (a fused epilogue reports its anchor's) */
  describe?(plan: P): string;
  /**
   * the variant emits for compile-time dims only: it has no symbolic form, so a layer with a
   * varying dim takes another variant of its family that can run it, its heuristics off
   * (codegen/kernels/select.ts); only where none can is it refused in this one
   */
  readonly staticShapes?: boolean;
  /**
   * the variant's plan depends on which dims vary (LayerCtx.varyingDims: Einsum's packed labels):
   * a layer recorded with it at the bounds is planned again once they are known (capabilities.ts
   * rerecordVarying), and takes another variant where it no longer plans
   */
  readonly plansByVarying?: boolean;
}

/** Type a variant's plan through its methods (a staticShapes one is recorded in STATIC_SHAPE_VARIANTS). */
export function variant<P>(v: KernelVariant<P>): KernelVariant<P> {
  if (v.staticShapes) STATIC_SHAPE_VARIANTS.add(v.name);
  return v;
}
/** The kernels of one or more operators: its variants, tried in order. */
export interface KernelFamily {
  /** the family's name, e.g. "conv" */
  readonly name: string;
  readonly domain: string;
  readonly ops: readonly string[];
  readonly variants: readonly KernelVariant<any>[];
}

/**
 * The variants a user forces or forbids, by name or by name prefix up to a dash ("winograd" is
 * winograd-f4x4 and winograd-f2x2; "conv/direct" names one family's): KILN_KERNELS=-winograd,
 * kiln compile --kernels=-winograd. Forced variants are tried first, with their heuristics off.
 */
export interface KernelSelection {
  readonly force: readonly string[];
  readonly forbid: readonly string[];
}

export const NO_SELECTION: KernelSelection = { force: [], forbid: [] };

/** Whether a selection pattern names the variant. */
export function matchesVariant(pattern: string, family: string, name: string): boolean {
  const [fam, v] = pattern.includes("/") ? pattern.split("/", 2) : [undefined, pattern];
  if (fam !== undefined && fam !== family) return false;
  return name === v || name.startsWith(`${v}-`);
}

/** Collects a family file's kernels; the file exports `families`, listed in kernels/index.ts. */
export class KernelTable {
  readonly families: KernelFamily[] = [];

  /** A family with named variants. */
  family(name: string, ops: string | readonly string[], variants: readonly KernelVariant<any>[], domain = ""): void {
    this.families.push({ name, domain, ops: typeof ops === "string" ? [ops] : ops, variants });
  }

  /** An op (or ops) with one kernel: a family of one variant, "default", that takes every layer. */
  add(ops: string | readonly string[], emit: (ctx: KernelCtx) => void, opts: { domain?: string; prepare?: (ctx: KernelCtx) => KernelPrep } = {}): void {
    const names = typeof ops === "string" ? [ops] : ops;
    this.family(names[0], names, [simpleVariant(emit, opts.prepare)], opts.domain);
  }
}

/**
 * The names of the staticShapes variants, of every family: a recorded name is checked against
 * them (kernels/select.ts), also where a fused kernel records its anchor's variant under its own
 * family (fused/epilogue.ts describe)
 */
export const STATIC_SHAPE_VARIANTS = new Set<string>();

/** A variant that takes every layer of its op: plan is {}. */
export function simpleVariant(emit: (ctx: KernelCtx) => void, prepare?: (ctx: KernelCtx) => KernelPrep, name = "default", staticShapes?: true): KernelVariant<object> {
  return variant({ name, plan: () => ({}), emit: (ctx) => emit(ctx), prepare: prepare && ((ctx) => prepare(ctx)), staticShapes });
}

