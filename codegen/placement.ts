// Where every tensor lives in the one linear memory:
//   [reserved][weights: the model's constants][activation arena][inputs, outputs, the rest]
//   [kernels' constants: packed and transformed weights][scratch]
// The arena offsets come from plan-memory (graph.memoryPlan); without a plan every value gets its
// own slot. Kernels' constants are placed once per source tensor and recipe, shared by the layers
// that read them.
import { sizeOf, storageBytes } from "../runtime/dtypes.js";
import { KilnError } from "../runtime/errors.js";
import type { Graph, Node, Tensor } from "../compiler/ir/graph.js";
import { hasTrait } from "../compiler/ops/index.js";
import type { LazyConstant, TensorRef } from "./kernels/kernel.js";

export const ALIGN = 16;
const RESERVED = 64;
export const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE;

export const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Under a memory budget, constants smaller than this stay resident (codegen/stream.ts). */
export const STREAM_MIN_BYTES = 256;

export class MemoryLayout {
  readonly slots = new Map<string, TensorRef>();
  private top = RESERVED;
  private arenaBase = -1;
  /** a kernel constant derived from one tensor by one recipe (LazyConstant.source) is placed once */
  private readonly derived = new Map<Tensor, Map<string, number>>();

  constructor(private readonly graph: Graph) {}

  /** The slot of a value: its planned arena offset once the arena is placed, else the next free bytes. */
  place(name: string): TensorRef {
    let s = this.slots.get(name);
    if (s) return s;
    const v = this.graph.values.get(name)!;
    const dims = v.shape as number[];
    const planned = this.arenaBase >= 0 ? this.graph.memoryPlan?.offsets.get(name) : undefined;
    s = { name, dtype: v.dtype!, dims, size: sizeOf(dims), addr: planned !== undefined ? this.arenaBase + planned : this.top, value: v.const };
    if (planned === undefined) this.grow(storageBytes(s.dtype, s.size), name);
    this.slots.set(name, s);
    return s;
  }

  /**
   * The model's constants that runtime nodes read, and constant graph outputs: the weights, first.
   * Under a memory budget (codegen/stream.ts) the weights layers read get no place of their own:
   * the ring of weight slots (`ring` bytes) comes first and their addresses are set once the
   * slots are planned (streamed); constant graph outputs and small constants (shapes, scalars,
   * biases: under STREAM_MIN_BYTES, not worth a read each) stay resident after it.
   */
  placeWeights(order: readonly Node[], ring?: number): { offset: number; bytes: number; names: Set<string>; streamed: Set<string> } {
    const offset = this.top;
    const names = new Set<string>();
    const streamed = new Set<string>();
    for (const n of order) for (const i of n.inputs) if (i && this.graph.values.get(i)?.const) names.add(i);
    for (const o of this.graph.outputs) if (this.graph.values.get(o)?.const) names.add(o);
    if (ring !== undefined) {
      this.grow(ring, "the memory budget's weight slots");
      for (const c of names) {
        const v = this.graph.values.get(c)!;
        if (!this.graph.outputs.includes(c) && storageBytes(v.dtype!, sizeOf(v.shape as number[])) >= STREAM_MIN_BYTES) streamed.add(c);
      }
    }
    for (const c of names) {
      if (!streamed.has(c)) this.place(c);
      else {
        const v = this.graph.values.get(c)!;
        this.slots.set(c, { name: c, dtype: v.dtype!, dims: v.shape as number[], size: sizeOf(v.shape as number[]), addr: -1, value: v.const });
      }
    }
    return { offset, bytes: this.top - offset, names, streamed };
  }

  /** `out` written over the constant `over` (see inPlaceOutputs). */
  alias(out: string, over: string): void {
    this.slots.set(out, { ...this.slots.get(over)!, name: out, value: undefined });
  }

  /** The planned activation arena, then the graph's inputs, every node's outputs and the graph's outputs. */
  placeActivations(order: readonly Node[]): void {
    this.arenaBase = this.top;
    this.top = align(this.top + (this.graph.memoryPlan?.arenaBytes ?? 0));
    for (const i of this.graph.inputs) this.place(i);
    for (const n of order) for (const o of n.outputs) if (o) this.place(o);
    for (const o of this.graph.outputs) this.place(o);
  }

  /** A kernel's constant: its address, and whether it is new (a shared one was placed before). */
  placeConstant(c: Uint8Array | LazyConstant): { addr: number; fresh: boolean } {
    const src = c instanceof Uint8Array ? undefined : c.source;
    const known = src && this.derived.get(src.tensor)?.get(src.recipe);
    if (known !== undefined) return { addr: known, fresh: false };
    const addr = this.top;
    if (src) this.derived.set(src.tensor, (this.derived.get(src.tensor) ?? new Map()).set(src.recipe, addr));
    this.grow(c instanceof Uint8Array ? c.length : c.byteLength);
    return { addr, fresh: true };
  }

  /** Scratch shared by every layer (they run one at a time). */
  reserveScratch(bytes: number): number {
    const addr = this.top;
    this.grow(bytes);
    return addr;
  }

  /** Pages of 64 KiB the memory needs (at least one). */
  pages(): number {
    return Math.ceil(Math.max(this.top, PAGE) / PAGE);
  }

  private grow(bytes: number, at?: string): void {
    this.top = align(this.top + bytes);
    if (this.top > MAX_BYTES) {
      const where = at === undefined ? "" : ` (at value ${JSON.stringify(at)})`;
      throw new KilnError("UNSUPPORTED_OP", `the model needs more than 4 GiB of memory${where}; wasm32 memory cannot hold it`);
    }
  }
}

/**
 * For a module run once (compile-time evaluation): [output, constant input it may overwrite], for
 * in-place ops whose constant operand of the output's type and shape nothing else reads.
 */
export function inPlaceOutputs(graph: Graph, order: readonly Node[]): [string, string][] {
  const reads = new Map<string, number>();
  for (const n of order) for (const i of n.inputs) if (i) reads.set(i, (reads.get(i) ?? 0) + 1);
  const pairs: [string, string][] = [];
  const taken = new Set<string>();
  for (const n of order) {
    if (!hasTrait(n, "in-place") || !n.outputs[0]) continue;
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
