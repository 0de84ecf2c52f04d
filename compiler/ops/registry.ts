// Shape and type rules, one per operator, registered by the family files beside this one.
// A rule sees its inputs' dtypes, concrete shapes and (when known at compile time) values, and
// returns its outputs' dtypes and shapes, plus their values when they follow from shapes alone
// (Shape, Size, Constant, ...).
import { isPacked, type DTypeName } from "../../runtime/dtypes.js";
import { KilnError, listed } from "../../runtime/errors.js";
import { Attrs } from "../ir/attrs.js";
import type { Attr, Graph, Node, Tensor } from "../ir/graph.js";

export interface TensorType {
  dtype: DTypeName;
  shape: number[];
}

export interface InputInfo extends TensorType {
  name: string;
  /** the value, when it is known at compile time */
  value?: Tensor;
}

export interface OutputInfo extends TensorType {
  /** set when the output is known at compile time without running a kernel */
  value?: Tensor;
}

export class ShapeCtx {
  readonly attrs: Attrs;
  constructor(
    readonly node: Node,
    readonly opset: number,
    readonly inputs: (InputInfo | undefined)[],
  ) {
    this.attrs = new Attrs(node);
  }

  get count(): number {
    return this.inputs.length;
  }

  /** Required input i. */
  input(i: number): InputInfo {
    const x = this.inputs[i];
    if (!x) this.invalid(`input ${i} is required`);
    return x;
  }

  optional(i: number): InputInfo | undefined {
    return this.inputs[i];
  }

  /** The compile-time value of input i; data-dependent shapes are unsupported. */
  value(i: number): Tensor {
    const x = this.input(i);
    if (!x.value) {
      throw new KilnError("UNSUPPORTED_OP", `input ${i} (${JSON.stringify(x.name)}) decides an output shape but is only known at run time; kiln compiles static shapes (freeze it to a value to compile)`,
        { ...this.context(), needsValue: [x.name] });
    }
    return x.value;
  }

  /** A required compile-time integer input as numbers (INVALID_MODEL when the input is absent). */
  requireInts(i: number): number[] {
    this.input(i);
    return this.ints(i)!;
  }

  /** A compile-time int64/int32 input as numbers, or undefined when absent. */
  ints(i: number): number[] | undefined {
    const x = this.inputs[i];
    if (!x) return undefined;
    return Array.from(this.value(i).data as ArrayLike<number | bigint>, Number);
  }

  shapes(): string {
    return listed(this.inputs.map((x, i) => (x ? `${x.dtype}[${x.shape.join(",")}]` : `#${i}: none`)));
  }

  /** the opset errors name: the model's, where a rewrite raised the graph's (Graph.modelOpset) */
  shownOpset?: number;

  /** this preparation's data-dependent dims (infer.ts InferOptions.dataDims) */
  dataDims?: DataDims;
  /** the rule gave an output a data-dependent dim: its values are not evaluated at compile time */
  ownsDataDim = false;

  /**
   * The length of an output that the input values decide at run time (NonMaxSuppression's count
   * of boxes kept), at most `max`: a dim of its own the node owns (compile.ts makes it a symbol
   * whose value the node's kernel writes as it runs). At a probe, the value probed; when the
   * preparation looks for such dims, `max`, recorded.
   */
  dataDim(max: number): number {
    this.ownsDataDim = true;
    const d = this.dataDims;
    const v = d?.values?.get(this.node.name);
    if (v !== undefined) return v;
    if (d?.found) {
      d.found.set(this.node.name, max);
      return max;
    }
    this.unsupported(`its output's length is decided by its input values at run time (at most ${max}); kiln compiles that through compile() or load(), which make the length a symbolic dim, not through this entry point`);
  }

  context() {
    return { node: this.node.name, op: this.node.op, domain: this.node.domain, opset: this.shownOpset ?? this.opset, shapes: `inputs ${this.shapes()}` };
  }

  /** Shapes that cannot go together. */
  fail(message: string): never {
    throw new KilnError("SHAPE_MISMATCH", message, this.context());
  }

  /** A model that breaks the operator's spec. */
  invalid(message: string): never {
    throw new KilnError("INVALID_MODEL", message, this.context());
  }

  unsupported(message: string): never {
    throw new KilnError("UNSUPPORTED_OP", message, this.context());
  }

  /** Fail unless input i has one of the dtypes. */
  expectDType(i: number, allowed: readonly DTypeName[]): DTypeName {
    const dt = this.input(i).dtype;
    // needsValue []: no input's value can help (the JIT does not wait for feeds to try again)
    if (!allowed.includes(dt)) throw new KilnError("UNSUPPORTED_OP", `input ${i} has type ${dt}; kiln supports ${allowed.join(", ")} here`, { ...this.context(), needsValue: [] });
    return dt;
  }
}

export type ShapeRule = (ctx: ShapeCtx) => OutputInfo[];

/** The shape rule of an op its compound rule resolves at compile time into other nodes (never asked). */
export const resolvedOnly = (ctx: ShapeCtx): never => {
  throw new KilnError("INTERNAL", `${ctx.node.op} is resolved at compile time by its compound rule, not a shape rule`, ctx.context());
};

/**
 * Data-dependent dims in one preparation (ShapeCtx.dataDim), by the name of the node that owns
 * each: `values`, the value each takes (a probe's, or the upper bound); `found`, where a
 * preparation that looks for them records each node's upper bound.
 */
export interface DataDims {
  values?: ReadonlyMap<string, number>;
  found?: Map<string, number>;
  /**
   * Slices that cut a data-dependent dim (`keep[:100]` over NonMaxSuppression's kept boxes), by
   * name, where a preparation looks for such dims: their length is a data-dependent dim too
   * (movement.ts countCutAxis; compile.ts findDataDims)
   */
  cuts?: ReadonlySet<string>;
}

/**
 * An input as a sequence op sees it: a tensor, a sequence (its elements, value names), or an
 * optional that holds nothing; undefined for an absent input. Sequences and optionals are
 * resolved at compile time (infer-sequence.ts).
 */
export type Operand = { tensor: InputInfo } | { items: readonly string[] } | { none: true };

/** An output of a sequence op: a tensor value (by name), a sequence of them, or an optional holding nothing. */
export type Resolved = { tensor: string } | { items: readonly string[] } | { none: true };

/** Adds typed nodes and constants in the resolved op's place (infer-loop.ts Unroller). */
export interface Builder {
  constant(what: string, t: Tensor): string;
  int64(what: string, values: number[], dims?: number[]): string;
  /** a node of one output, inferred (and folded when its inputs are constants); its output's name */
  node(op: string, inputs: string[], attrs?: Record<string, Attr>): Promise<string>;
  /** a body graph run once on these inputs, inferred and inlined; its outputs' names */
  iteration(body: Graph, k: number, args: string[], guard: []): Promise<string[]>;
}

export interface CompoundCtx {
  /** tensor inputs (a sequence or empty optional input is undefined here: see operands) */
  ctx: ShapeCtx;
  operands: (Operand | undefined)[];
  build: Builder;
  /** a tensor value's type, by name (a sequence's element) */
  lookup(name: string): TensorType;
}

/** An operand given back unchanged (Identity of a sequence, OptionalGetElement of one). */
export const passOn = (o: Operand): Resolved => ("tensor" in o ? { tensor: o.tensor.name } : o);

/** How an op that takes or gives sequences or optionals resolves at compile time. */
export type CompoundRule = (s: CompoundCtx) => Promise<Resolved[]> | Resolved[];

/**
 * What passes and kernels ask about an operator, instead of keeping their own lists of op names:
 *   elementwise      output element i reads only the input elements that broadcast to i
 *   unary            elementwise over one tensor (Clip's bounds are scalars)
 *   broadcasting     elementwise over n tensors, numpy broadcasting
 *   comparison       broadcasting, bool output
 *   in-place         its kernel reads element i of every same-shaped input before it writes output
 *                    element i, so the output may take over an input's bytes (plan-memory)
 *   alias            the output is the input's bytes, reinterpreted: they share one buffer
 *   bits             reads its input's bits as they are stored (BitCast), so its operands keep their
 *                    dtypes: widen-float16 leaves its float16 operands float16, converting beside them
 *   reshape          changes dims only (Reshape, Flatten, Squeeze, Unsqueeze, Identity): a chain of
 *                    them is one Reshape, and they fold without arithmetic
 *   moves            every output element is a copy of some input element (a splat stays a splat)
 *   dequantize       turns quantized values into float (DequantizeLinear): shape inference leaves
 *                    its constant instances to fold-constants, so the quantization passes before
 *                    it still see the 8-bit weights
 *   monotone         commutes with any non-decreasing map of its input's values (MaxPool: the max of
 *                    quantized values is the quantized max), so it may run on 8-bit data between
 *                    equal DequantizeLinear / QuantizeLinear pairs
 *   uniform          gives the same bits on one scalar as in every SIMD lane of its kernel, so an op
 *                    over splats folds to a splat of its scalar result
 *   fusible          may join a fused elementwise loop (its kernel has a float formula)
 *   epilogue         may run in a Conv/Gemm/MatMul epilogue (it has a float32 f32x4 form)
 *   costly           a long formula (exp and a division): kept out of convolution epilogues
 *   epilogue-anchor  its kernels apply a fused epilogue to every value they store (see `anchor`)
 *   layout-agnostic  computes the same on a channels-last tensor (the NHWC layout pass may take it)
 *   compile-time-only has no kernel: its value must be known at compile time (NonZero, Unique)
 *   dims-only        reads its input's dims only, never its elements (Shape, Size): folded where the dims
 *                    are known; over symbolic dims its kernel writes this run's
 *   impure           gives a different value each run (random numbers): never folded or merged
 *   data-dependent   an output's length may be decided by its input values as it runs (ShapeCtx.dataDim):
 *                    a graph holding one is looked over for such dims before it compiles; a node
 *                    whose rule gave it one is never folded or merged (Graph.dataDims: its kernel
 *                    writes that length, a symbol of its own)
 *   subgraphs        holds graphs in its attributes (If's branches): inference infers into them
 *                    (infer.ts) and lower-control-flow inlines them before code generation; no kernel
 *   low-bit          its rule and kernels take every kiln dtype: the packed 4- and 2-bit types (int4,
 *                    uint4, int2, uint2, float4e2m1), float8 and bfloat16 included (see takesDType)
 *   bfloat16         takes bfloat16 where it takes float16: computes in float32, rounding each
 *                    stored value to nearest even
 */
export type Trait =
  | "elementwise" | "unary" | "broadcasting" | "comparison" | "in-place" | "alias" | "bits" | "reshape" | "moves" | "monotone" | "dequantize" | "uniform"
  | "fusible" | "epilogue" | "costly" | "epilogue-anchor" | "layout-agnostic" | "compile-time-only" | "dims-only" | "impure"
  | "subgraphs" | "low-bit" | "bfloat16" | "data-dependent";

/** The dtypes only ops that say so take (the packed ones, float8, bfloat16). */
export const LOW_BIT_DTYPES: readonly DTypeName[] = [
  "int4", "uint4", "int2", "uint2", "float4e2m1",
  "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "float8e8m0", "bfloat16",
];

/**
 * Whether an op may see a tensor of dtype dt. The low-bit dtypes need the op's word for it:
 * `low-bit`, or `bfloat16` for bfloat16; reshapes take them all (whole-tensor copies or
 * aliases); pure data movement (`moves`: byte-strided copies) takes the byte-wide ones.
 */
export function takesDType(def: Pick<OpDef, "traits">, dt: DTypeName): boolean {
  if (!LOW_BIT_DTYPES.includes(dt) || def.traits.has("low-bit") || def.traits.has("reshape")) return true;
  if (dt === "bfloat16" && def.traits.has("bfloat16")) return true;
  return !isPacked(dt) && def.traits.has("moves");
}

/** How an epilogue anchor's kernels take a fused bias: its own bias input, and the axis it runs along. */
export interface AnchorInfo {
  /** index of the op's own bias input (Conv's B, Gemm's C); absent for MatMul */
  bias?: number;
  /** the output axis a bias runs along: 1 (channels of NCHW) or -1 (the last: columns, NHWC channels) */
  channelAxis: 1 | -1;
  /**
   * whether costly activations may join its epilogue: a matrix product's kernel applies it once
   * per stored tile row, a convolution's at every store of its inner loops, where it measured slower
   */
  costly?: boolean;
}

/** One operator: everything kiln knows about it before code generation. */
export interface OpDef {
  domain: string;
  name: string;
  /** [min, max] inputs (the loosest bounds across opsets; the shape rule checks the rest) */
  arity?: readonly [number, number];
  shape: ShapeRule;
  traits: ReadonlySet<Trait>;
  /**
   * The float32 result computed in JavaScript, for ops IEEE 754 rounds exactly (+, -, *, /, sqrt in
   * double, then Math.fround, is the correctly rounded float32 result, which is what the kernels'
   * f32 instructions give): constant folding of small tensors runs this instead of compiling a module.
   */
  exact?: (...x: number[]) => number;
  anchor?: AnchorInfo;
  /** the axis of the weights input (1) that holds output channels, when the op has one (BatchNormalization folding) */
  weightsOutputAxis?: (node: Node, weightsRank: number) => number | undefined;
  /**
   * The ai.onnx opset where the op's meaning (as kiln runs it) last changed, when known: 13 for ops
   * that read the same from 13 up (later versions only widened types or added inputs whose
   * defaults keep the old meaning). Lets a rewrite raise a graph's opset safely.
   */
  lastChange?: number;
  /**
   * A bool-valued op's answer on exact values (integers as numbers or bigints, bools as 0/1): the
   * comparisons and logic, which constant folding computes in JavaScript over integers and bools
   * (compiler/driver/evaluate-logic.ts).
   */
  truth?: (...x: (number | bigint)[]) => boolean;
  /**
   * The ai.onnx opset from which the op reads its axes from an input, not the `axes` attribute
   * (ReduceSum 13, the other reductions 18): a rewrite raising a graph's opset past it moves them
   * (passes/fuse-patterns-match.ts ensureOpset).
   */
  axesInput?: number;
  /**
   * Floating-point operations of one run of the node (a multiply-add counts 2), from its inputs'
   * and outputs' dims: the contractions define it. Elementwise ops count one per output element
   * without a rule (cost.ts nodeFlops); other ops count none.
   */
  flops?: (node: Node, inputs: readonly (readonly number[])[], outputs: readonly (readonly number[])[]) => number;
  /**
   * Its rule over sequences and optionals (the sequence ops; Identity and OptionalGetElement when
   * given one): inference resolves the node with it at compile time, whenever an input is a
   * sequence or an empty optional, or always for a `compile-time-only` op that has one.
   */
  compound?: CompoundRule;
  /**
   * Inputs read only at compile time, for the output's shape (Expand's shape): no kernel reads
   * them, so with symbolic dims they may vary with the dims' values (compiler/driver/symbolic.ts).
   * A function where it depends on the node's attributes (Resize's sizes: all they tell the kernel
   * is the output's dims, unless a keep_aspect_ratio_policy derives a scale from them).
   */
  shapeInputs?: readonly number[] | ((attrs: Attrs) => readonly number[]);
}

/** OpDef.shapeInputs of a node */
export function shapeInputsOf(def: Pick<OpDef, "shapeInputs"> | undefined, node: Node): readonly number[] {
  const s = def?.shapeInputs;
  return typeof s === "function" ? s(new Attrs(node)) : s ?? [];
}

export type OpOptions = Partial<Omit<OpDef, "name" | "shape" | "traits">> & { traits?: readonly Trait[] };

/** The definitions of one family of ops, collected in order; a family file exports its table's `defs`. */
export class OpTable {
  readonly defs: OpDef[] = [];

  define(names: string | readonly string[], shape: ShapeRule, options: OpOptions = {}): void {
    const { traits = [], domain = "", ...rest } = options;
    for (const name of typeof names === "string" ? [names] : names) {
      this.defs.push({ ...rest, domain, name, shape, traits: new Set(traits) });
    }
  }
}

/** numpy broadcasting of shapes; undefined when they do not broadcast. */
export function broadcastShapes(...shapes: readonly number[][]): number[] | undefined {
  return broadcastAll(shapes);
}

/** broadcastShapes over a list (a variadic op may have more inputs than a call takes arguments). */
export function broadcastAll(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = shapes.reduce((r, s) => Math.max(r, s.length), 0);
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let k = 0; k < s.length; k++) {
      const d = s[k];
      const o = out[off + k];
      if (o === d || d === 1) continue;
      if (o === 1) out[off + k] = d;
      else return undefined;
    }
  }
  return out;
}

/** Normalize a possibly negative axis against a rank, or fail. */
export function normAxis(ctx: ShapeCtx, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) ctx.invalid(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}
