// What a caller may feed a model, checked before anything is written: an object of inputs by name,
// each a typed array (dims: the compiled ones) or { data, dims? } with data a typed array or an
// array of numbers. Anything else (null, a number, a bare array, data missing) is BAD_INPUT naming
// the input, instead of a TypeError from deep inside the runtime.
import type { TypedArray } from "./dtypes.js";
import { KilnError } from "./errors.js";

/**
 * `data` holds the elements as kiln stores them (runtime/dtypes.ts): numbers in the typed array of
 * their dtype; float16 and bfloat16 as their bits (Uint16Array), float8 as their codes
 * (Uint8Array), int4 / uint4 / float4e2m1 two to a byte and int2 / uint2 four to a byte
 * (Uint8Array, low bits first). runtime/lowbit.ts encodeElements / decodeElements convert.
 */
export interface TensorInput {
  data: TypedArray | number[];
  dims?: readonly number[];
}

/**
 * Inputs by name. An input of sequence type takes an array of tensors, an optional one null or
 * nothing when it holds nothing (runtime/containers.ts).
 */
export type Feeds = Record<string, TensorInput | TypedArray | readonly (TensorInput | TypedArray)[] | null>;

const isTyped = (v: unknown): v is TypedArray => ArrayBuffer.isView(v) && !(v instanceof DataView);

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a plain array";
  if (typeof v === "object") return `a ${(v as object).constructor?.name ?? "object"}`;
  const s = typeof v === "bigint" ? `${v}n` : typeof v === "string" ? JSON.stringify(v) : String(v);
  return `the ${typeof v} ${s.length > 24 ? s.slice(0, 24) + "..." : s}`;
}

/** A feed's data and dims (undefined: the compiled ones), or BAD_INPUT naming the input. */
export function readFeed(name: string, feed: unknown): { data: TypedArray | readonly (number | bigint)[]; dims?: readonly number[] } {
  if (isTyped(feed)) return { data: feed };
  const what = `input ${JSON.stringify(name)}`;
  if (Array.isArray(feed)) throw new KilnError("BAD_INPUT", `${what} is a plain array; pass a typed array (Float32Array ...) or { data: [...], dims: [...] }`);
  if (typeof feed !== "object" || feed === null || ArrayBuffer.isView(feed)) {
    throw new KilnError("BAD_INPUT", `${what} is ${describe(feed)}; pass a typed array (Float32Array ...) or { data, dims }`);
  }
  const { data, dims } = feed as { data?: unknown; dims?: unknown };
  if (!isTyped(data) && !Array.isArray(data)) {
    throw new KilnError("BAD_INPUT", `${what} has data ${data === undefined ? "undefined" : describe(data)}; { data, dims } takes a typed array or an array of numbers as data`);
  }
  if (dims !== undefined && !(Array.isArray(dims) && dims.every((d) => Number.isSafeInteger(d) && d >= 0))) {
    throw new KilnError("BAD_INPUT", `${what} has dims ${Array.isArray(dims) ? `[${dims.join(",")}]` : describe(dims)}, not a list of non-negative integers`);
  }
  if (Array.isArray(data)) {
    const k = data.findIndex((x) => typeof x !== "number" && typeof x !== "bigint");
    if (k >= 0) throw new KilnError("BAD_INPUT", `${what} has data[${k}] = ${describe(data[k])}, not a number`);
  }
  return { data: data as TypedArray | (number | bigint)[], dims: dims as number[] | undefined };
}

/** The feeds object and each feed's form (names and dims are the session's to check). */
export function checkFeeds(feeds: unknown): asserts feeds is Feeds {
  if (typeof feeds !== "object" || feeds === null || Array.isArray(feeds) || isTyped(feeds)) {
    throw new KilnError("BAD_INPUT", `run takes the inputs as an object by name ({ x: Float32Array }), got ${describe(feeds)}`);
  }
  for (const [name, feed] of Object.entries(feeds)) {
    if (feed === undefined || feed === null) continue; // not fed; null: an empty optional (the session checks it is one)
    // an array of tensors is a sequence (the session checks the input is one); of numbers, a mistake readFeed names
    if (Array.isArray(feed) && (feed.length === 0 || feed.some((e) => typeof e === "object" && e !== null))) feed.forEach((e, k) => readFeed(`${name}[${k}]`, e));
    else readFeed(name, feed);
  }
}
