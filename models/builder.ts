// A small fluent builder for models written in code: values get their dtype and shape as they are
// created, so the exported ONNX carries full type information for every tensor.
import { rng } from "../compiler/driver/cli/inputs.js";
import { Graph, type Attr } from "../compiler/ir/graph.js";
import { randomTensor, type Init } from "./init.js";

export const int = (value: number): Attr => ({ type: "int", value });
export const ints = (value: number[]): Attr => ({ type: "ints", value });
export const float = (value: number): Attr => ({ type: "float", value });

export class ModelBuilder {
  readonly graph = new Graph();
  private readonly next: () => number;
  private count = 0;

  constructor(seed: number, opset = 17) {
    this.graph.opsets.set("", opset);
    this.next = rng(seed);
  }

  input(name: string, dims: number[]): string {
    const v = this.graph.value(name);
    v.dtype = "float32";
    v.shape = [...dims];
    this.graph.inputs.push(name);
    return name;
  }

  /** A float32 initializer of seeded random values. */
  weight(name: string, dims: number[], init: Init): string {
    const v = this.graph.value(name);
    v.dtype = "float32";
    v.shape = [...dims];
    v.const = randomTensor(dims, init, this.next);
    return name;
  }

  /** A float32 scalar initializer; one per name, so repeated uses share it. */
  scalar(name: string, value: number): string {
    const v = this.graph.value(name);
    if (!v.const) {
      v.dtype = "float32";
      v.shape = [];
      v.const = { dtype: "float32", dims: [], data: Float32Array.of(value) };
    }
    return name;
  }

  /** An int64 initializer (shapes, axes). */
  int64s(name: string, values: number[]): string {
    const v = this.graph.value(name);
    v.dtype = "int64";
    v.shape = [values.length];
    v.const = { dtype: "int64", dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) };
    return name;
  }

  /** Adds a node with one float32 output of the given shape; returns the output's name. */
  node(op: string, inputs: string[], dims: number[], attrs: Record<string, Attr> = {}, name?: string): string {
    const id = name ?? `${op.toLowerCase()}_${this.count++}`;
    const out = `${id}_out`;
    this.graph.addNode({ name: id, op, domain: "", inputs, outputs: [out], attrs });
    const v = this.graph.value(out);
    v.dtype = "float32";
    v.shape = [...dims];
    return out;
  }

  output(name: string): void {
    this.graph.outputs.push(name);
  }

  shape(name: string): number[] {
    return this.graph.value(name).shape as number[];
  }

}
