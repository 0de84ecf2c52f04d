// What a timed load needs in the benchmark process and in a load-probe child alike: the seeded
// feeds (described in JSON, so a child rebuilds them without the compiler), a settled heap, a timer.
// Imports nothing of kiln's compiler: the AOT child must load an artifact the way a deployment does.
import v8 from "node:v8";
import vm from "node:vm";
import type { Tensor } from "../runtime/session.js";
import type { DTypeName } from "../runtime/dtypes.js";
import { makeInput } from "../compiler/driver/cli/inputs.js";
import { KilnError } from "../runtime/errors.js";

/** one input as the graph declares it; dims may be named (open) */
export interface Input {
  name: string;
  dtype: DTypeName | undefined;
  dims: (number | string)[];
}

/**
 * One feed, fully described, so a child process rebuilds the same tensor: makeInput(kind, dtype,
 * dims, seed, { intRange }), or kind "file": the TensorProto file's contents.
 */
export interface FeedSpec {
  name: string;
  dtype: DTypeName;
  dims: number[];
  kind: string;
  seed: number;
  /** random integers in [lo, hi] (a BERT's token_type_ids take 0..1) */
  intRange?: [number, number];
  file?: string;
}

/** What the user chose per input: a kind or a tensor file by name, integer ranges by name ("*": every integer input). */
export interface FeedChoices {
  byName?: ReadonlyMap<string, { kind: string; file?: string; dtype?: DTypeName; dims?: number[] }>;
  intRanges?: ReadonlyMap<string, [number, number]>;
}

/**
 * The feeds for the model's inputs, open dims bound by `shapes` (an input's dims by its name, or a
 * dim by its name: seq=128) or a file's dims, input k seeded with seed + k.
 */
export function feedSpecs(inputs: Input[], shapes: Record<string, number[]>, kind: string, seed: number, choices: FeedChoices = {}): FeedSpec[] {
  return inputs.map((i, k) => {
    const chosen = choices.byName?.get(i.name);
    const dims = chosen?.dims ?? shapes[i.name] ?? i.dims.map((d) => {
      if (typeof d === "number") return d;
      if (shapes[d]?.length === 1) return shapes[d][0];
      throw new KilnError("SHAPE_MISMATCH", `input ${i.name} has the open dim ${d}: pass --shape ${d}=N (or --shape ${i.name}=${i.dims.map((x) => (typeof x === "number" ? x : "N")).join("x")})`);
    });
    const range = choices.intRanges?.get(i.name) ?? choices.intRanges?.get("*");
    return {
      name: i.name, dtype: chosen?.dtype ?? i.dtype ?? "float32", dims, kind: chosen?.kind ?? kind, seed: seed + k,
      ...(range ? { intRange: range } : {}), ...(chosen?.file ? { file: chosen.file } : {}),
    };
  });
}

/** The tensors; tensor files are decoded with the ONNX reader, loaded only when there are some. */
export async function feedsOf(specs: FeedSpec[]): Promise<Record<string, Tensor>> {
  const files = specs.some((s) => s.file) ? await import("../compiler/driver/testdata.js") : undefined;
  return Object.fromEntries(specs.map((s) => [s.name, s.file ? files!.readTensorFile(s.file) : { dtype: s.dtype, ...makeInput(s.kind, s.dtype, s.dims, s.seed, { intRange: s.intRange }) }]));
}

export const shapesOf = (specs: FeedSpec[]): Record<string, number[]> => Object.fromEntries(specs.map((s) => [s.name, s.dims]));

export async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

/**
 * A full garbage collection before each timed load, so the garbage of what ran before (another
 * engine's session, the AOT compile of a 100 MB model) is not collected inside the next engine's
 * load (measured: kiln's AOT ResNet-50 load 100 ms settled, 200-700 ms when a collection landed
 * in it). Every engine gets the same treatment.
 */
export function settleHeap(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}
