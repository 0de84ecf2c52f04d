// Kernel emitters, one per operator (several operators may share one family emitter). An emitter
// appends wasm code to ctx.fn that reads ctx.inputs and writes ctx.outputs at their fixed offsets.
import type binaryen from "binaryen";
import type { DTypeName } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import { Attrs } from "../../compiler/ir/attrs.js";
import type { Node, Tensor } from "../../compiler/ir/graph.js";
import type { Fn } from "../fn.js";
import type { MathLib } from "../math.js";

export interface TensorRef {
  name: string;
  dtype: DTypeName;
  dims: number[];
  /** element count */
  size: number;
  /** byte offset of element 0 in linear memory */
  addr: number;
  /** compile-time value, when the tensor is a constant */
  value?: Tensor;
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
}

/**
 * `c`, marked as `recipe` applied to `tensor` and nothing else. After CSE a graph holds one value
 * per distinct weight, so layers reading one value (tied weights; the light models' equal splat
 * filter banks) find the same Tensor object, and the module places the constant once for them all.
 * The recipe names the transform and every parameter that shapes its output.
 */
export function derivedFrom(c: LazyConstant, tensor: Tensor, recipe: string): LazyConstant {
  return { ...c, source: { tensor, recipe: `${recipe}/${c.byteLength}` } };
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

export class KernelCtx {
  readonly attrs: Attrs;
  /** set by fused kernels: applied by the anchor kernel to every value it stores */
  epilogue?: Epilogue;
  /** byte addresses of the constants the prepare step returned, in order (set before emit) */
  constantAddrs: number[] = [];
  /** byte address of this layer's scratch memory (set before emit when prepare asked for it) */
  scratchAddr = -1;
  /** what prepare returned */
  prep: KernelPrep = {};
  constructor(
    readonly m: binaryen.Module,
    readonly fn: Fn,
    readonly node: Node,
    readonly opset: number,
    readonly inputs: (TensorRef | undefined)[],
    readonly outputs: (TensorRef | undefined)[],
    readonly math: MathLib,
  ) {
    this.attrs = new Attrs(node);
  }

  input(i: number): TensorRef {
    const t = this.inputs[i];
    if (!t) throw new KilnError("INVALID_MODEL", `input ${i} is required`, this.context());
    return t;
  }

  output(i: number): TensorRef {
    const t = this.outputs[i];
    if (!t) throw new KilnError("INTERNAL", `output ${i} has no slot`, this.context());
    return t;
  }

  /** The compile-time value of input i (kernels may specialize on it). */
  constValue(i: number): Tensor | undefined {
    return this.inputs[i]?.value;
  }

  context() {
    const shapes = this.inputs.map((t) => (t ? `${t.dtype}[${t.dims.join(",")}]` : "none")).join(", ");
    return { node: this.node.name, op: this.node.op, domain: this.node.domain, opset: this.opset, shapes: `inputs ${shapes}` };
  }

  unsupported(message: string): never {
    throw new KilnError("UNSUPPORTED_OP", message, this.context());
  }
}

export type Emitter = (ctx: KernelCtx) => void;
/**
 * Runs before any code is generated, when every tensor's address is known: returns constant data
 * to place in memory (pre-packed weights) and scratch needs. Must not emit code.
 */
export type Preparer = (ctx: KernelCtx) => KernelPrep;

export interface KernelEntry {
  emit: Emitter;
  prepare?: Preparer;
}

const emitters = new Map<string, KernelEntry>();
const domainEmitters = new Map<string, KernelEntry>();
const key = (domain: string, op: string) => `${domain === "ai.onnx" ? "" : domain}::${op}`;

export function registerKernel(op: string | string[], emit: Emitter, opts: { domain?: string; prepare?: Preparer } = {}): void {
  for (const o of Array.isArray(op) ? op : [op]) emitters.set(key(opts.domain ?? "", o), { emit, prepare: opts.prepare });
}

/** A kernel for every op of a domain that has no kernel of its own (fused nodes: domain kiln.fused). */
export function registerDomainKernel(domain: string, emit: Emitter, opts: { prepare?: Preparer } = {}): void {
  domainEmitters.set(domain, { emit, prepare: opts.prepare });
}

/**
 * Emit a path whose prepare placed constants and reserved scratch: layoutOf recomputes the layout
 * prepare chose. False when the layer does not take the path or prepare left it nothing, so the
 * caller tries another path.
 */
export function emitPrepared<L>(ctx: KernelCtx, layoutOf: (ctx: KernelCtx) => L | undefined, emit: (ctx: KernelCtx, lay: L) => void): boolean {
  if (ctx.scratchAddr < 0 || !ctx.constantAddrs.length) return false;
  const lay = layoutOf(ctx);
  if (!lay) return false;
  emit(ctx, lay);
  return true;
}

export function kernelEntry(domain: string, op: string): KernelEntry | undefined {
  return emitters.get(key(domain, op)) ?? domainEmitters.get(domain === "ai.onnx" ? "" : domain);
}

export function kernelFor(domain: string, op: string): Emitter | undefined {
  return kernelEntry(domain, op)?.emit;
}
