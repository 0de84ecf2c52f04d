// Which axes a ReduceX node reduces: an attribute before opset 13 (ReduceSum) / 18 (the others),
// an optional constant input after; empty means "all axes" unless noop_with_empty_axes is set.
import type { Attrs } from "../ir/attrs.js";
import type { Tensor } from "../ir/graph.js";

export function axesFromInput(op: string, opset: number): boolean {
  return op === "ReduceSum" ? opset >= 13 : opset >= 18;
}

/** Sorted, non-negative axes; `fail` reports a model kiln cannot compile (non-constant axes). */
export function reduceAxes(op: string, opset: number, rank: number, attrs: Attrs, axesInput: { value?: Tensor; shape?: number[]; dims?: number[] } | undefined,
  fail: (msg: string) => never, invalid: (msg: string) => never = fail): number[] {
  let axes: number[] | undefined;
  if (axesFromInput(op, opset)) {
    // an axes input of static shape [0] is empty whatever its (run-time) value
    const empty = (axesInput?.shape ?? axesInput?.dims)?.[0] === 0;
    if (axesInput && !axesInput.value && !empty) fail("the axes input is only known at run time; kiln needs constant axes (they decide the output shape)");
    if (axesInput?.value) axes = Array.from(axesInput.value.data as ArrayLike<number | bigint>, Number);
  } else {
    axes = attrs.has("axes") ? attrs.ints("axes") : undefined;
  }
  if (!axes || axes.length === 0) {
    const noop = axesFromInput(op, opset) && attrs.int("noop_with_empty_axes", 0) === 1;
    return noop ? [] : Array.from({ length: rank }, (_, k) => k);
  }
  const norm = axes.map((a) => {
    const b = a < 0 ? a + rank : a;
    if (b < 0 || b >= rank) invalid(`axis ${a} is out of range for rank ${rank}`);
    return b;
  });
  return [...new Set(norm)].sort((a, b) => a - b);
}
