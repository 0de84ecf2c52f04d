// Sequences and optionals at the runtime's edge. kiln resolves them at compile time (a sequence
// to its elements, an optional to its value or to nothing), so the module only has tensor slots:
// the manifest's `containers` say which slots carry which sequence, and which optionals were
// compiled empty. Here a feed of an array of tensors (a sequence) or null (an empty optional)
// becomes the slots' feeds, checked against what the module was compiled for, and the output
// slots are grouped back into arrays and nulls.
import { KilnError } from "./errors.js";
import type { TypedArray } from "./dtypes.js";
import type { TensorInput } from "./feeds.js";
import type { ContainerSlot, Manifest } from "./manifest.js";

/** A sequence fed to a model: its elements in order, each as a tensor input. */
export type SequenceInput = readonly (TensorInput | TypedArray)[];

/** One run's feed for an input: a tensor, a sequence, or null/undefined (an optional holding nothing). */
export type FeedValue = TensorInput | TypedArray | SequenceInput | null | undefined;

/** One output of runValues: a tensor, a sequence of tensors, or null (an optional holding nothing). */
export type RunValue<T> = T | T[] | null;

const quote = (s: string) => JSON.stringify(s);

/**
 * The feeds of the module's tensor slots, from feeds that may hold sequences and empty optionals:
 * a function of the feeds, made once per session from its manifest.
 * A sequence must have the length it was compiled for (its elements' dims and dtypes are checked
 * slot by slot, each named `x[k]`), and an optional compiled empty must be fed nothing: the module
 * is specialized, and another length or a value is a different module (compile for it, or load(),
 * which compiles per feed).
 */
export function feedFlattener(manifest: Manifest): (feeds: Record<string, FeedValue>) => Record<string, TensorInput | TypedArray> {
  // built once per session: flattening runs on every run
  const containers = new Map((manifest.containers?.inputs ?? []).map((c) => [c.name, c.items]));
  return (feeds) => flattenFeeds(containers, feeds);
}

function flattenFeeds(containers: ReadonlyMap<string, readonly string[] | null>, feeds: Record<string, FeedValue>): Record<string, TensorInput | TypedArray> {
  const out: Record<string, TensorInput | TypedArray> = {};
  for (const [name, feed] of Object.entries(feeds)) {
    const items = containers.get(name);
    const bad = (why: string) => new KilnError("BAD_INPUT", `input ${quote(name)} ${why}`);
    if (items === undefined) {
      if (feed === null) throw nullFeed(name);
      if (feed !== undefined) out[name] = feed as TensorInput | TypedArray;
    } else if (items === null) {
      if (feed != null) throw bad("was compiled as an empty optional: feed it null");
    } else if (!Array.isArray(feed) || feed.length !== items.length) {
      throw bad(`is a sequence compiled for ${items.length} tensors, fed ${Array.isArray(feed) ? feed.length : "none"}`);
    } else items.forEach((slot, k) => (out[slot] = feed[k]));
  }
  return out;
}

/** null fed to an input that is not an optional (BAD_INPUT) */
export const nullFeed = (name: string) =>
  new KilnError("BAD_INPUT", `input ${quote(name)} is null; pass a typed array or { data, dims }`);

/** The outputs by the model's names: a sequence's slots as one array, an empty optional as null. */
export function groupOutputs<T>(manifest: Manifest, slots: Record<string, T>): Record<string, RunValue<T>> {
  const containers = manifest.containers?.outputs ?? [];
  const inside = new Set(containers.flatMap((c) => c.items ?? []));
  const out: Record<string, RunValue<T>> = {};
  for (const s of manifest.outputs) if (!inside.has(s.name)) out[s.name] = slots[s.name];
  for (const c of containers) out[c.name] = c.items === null ? null : c.items.map((s) => slots[s]);
  return out;
}

/** manifest.containers: each item names a slot of its side, once (checked on load, with the other fields). */
export function checkContainers(json: Record<string, unknown>, damaged: (why: string) => never): void {
  const c = json.containers as Record<string, ContainerSlot[]> | undefined;
  if (c === undefined) return;
  for (const side of ["inputs", "outputs"]) {
    const slots = new Set(((json[side] ?? []) as { name?: unknown }[]).map((s) => s.name));
    const ok = (e: ContainerSlot) => typeof e?.name == "string" && (e.items === null || (Array.isArray(e.items) && e.items.every((i) => slots.delete(i))));
    if (!Array.isArray(c?.[side]) || !c[side].every(ok)) damaged(`the manifest's containers.${side} names slots it has not`);
  }
}
