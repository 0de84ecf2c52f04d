// A bounded module's arena filled with NaN between runs: a kernel or copy reading past a run's
// extents (the padding of a symbolic tensor laid out at the bounds) then shows in its outputs.
import type { Model } from "../../compiler/driver/api.js";
import { dtype, type TypedArray } from "../../runtime/dtypes.js";
import { SYMBOLS_ADDR } from "../../runtime/dims.js";

type Feed = { data: TypedArray; dims: number[] };

/**
 * A function filling the module's arena (activations and I/O slots, not the weights) with NaN. The
 * memory comes from a run at the upper bounds, whose outputs are views into it: `full` feeds, or
 * zeros at every input's bounds.
 */
export function poisoner(model: Model, full?: Record<string, Feed>): () => void {
  const session = model.session!;
  const feeds = full ?? Object.fromEntries(session.inputs.map((s) => {
    const dims = [...s.dims] as number[];
    const n = dims.reduce((a, b) => a * b, 1);
    return [s.name, { data: new (dtype(s.dtype).array)(n), dims }];
  }));
  const { memory } = session.manifest;
  // an output that is a view into the module's memory (an empty one, a count of 0, is not)
  const out = Object.values(session.runInPlace(feeds)).find((t) => t.data.buffer.byteLength >= memory.bytes);
  if (!out) throw new Error("poisoner: no output of the run at the bounds is a view into the module's memory; give `full` feeds that fill one");
  // after the weights (a model with none: after the reserved bytes, the symbols the last of them)
  const weights = memory.regions[0];
  const start = weights ? weights.offset + weights.bytes : SYMBOLS_ADDR + 16, end = memory.regions[1]?.offset ?? memory.bytes;
  // whole float32 words (an 8-bit model's weights may end between them)
  const from = Math.ceil(start / 4) * 4;
  const arena = new Float32Array(out.data.buffer, from, Math.floor((end - from) / 4));
  return () => arena.fill(NaN);
}
