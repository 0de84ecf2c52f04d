// Shape and type rules, one per operator, registered by the family files beside this one.
// A rule sees its inputs' dtypes, concrete shapes and (when known at compile time) values, and
// returns its outputs' dtypes and shapes, plus their values when they follow from shapes alone
// (Shape, Size, Constant, ...).
import type { DTypeName } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import { Attrs } from "../ir/attrs.js";
import type { Node, Tensor } from "../ir/graph.js";

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
    return this.inputs.map((x, i) => (x ? `${x.dtype}[${x.shape.join(",")}]` : `#${i}: none`)).join(", ");
  }

  context() {
    return { node: this.node.name, op: this.node.op, domain: this.node.domain, opset: this.opset, shapes: `inputs ${this.shapes()}` };
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
    if (!allowed.includes(dt)) this.unsupported(`input ${i} has type ${dt}; kiln supports ${allowed.join(", ")} here`);
    return dt;
  }
}

export type ShapeRule = (ctx: ShapeCtx) => OutputInfo[];

export interface ShapeEntry {
  rule: ShapeRule;
  /** false for ops whose result must not be computed at compile time (random numbers) */
  pure: boolean;
}

const rules = new Map<string, ShapeEntry>();

const key = (domain: string, op: string) => `${domain === "ai.onnx" ? "" : domain}::${op}`;

export function registerShape(op: string | string[], rule: ShapeRule, opts: { domain?: string; pure?: boolean } = {}): void {
  for (const o of Array.isArray(op) ? op : [op]) rules.set(key(opts.domain ?? "", o), { rule, pure: opts.pure ?? true });
}

export function shapeRule(domain: string, op: string): ShapeEntry | undefined {
  return rules.get(key(domain, op));
}

/** numpy broadcasting of shapes; undefined when they do not broadcast. */
export function broadcastShapes(...shapes: readonly number[][]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
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
