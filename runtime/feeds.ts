// The shape of what a caller feeds to run(), checked before anything reads it: feeds are an
// object, each feed a typed array or { data, dims? } with data a typed array or an array of
// numbers and dims non-negative integers. Dtypes, dims and element counts against the model are
// session.ts's check (writeInput); this one keeps a null, a number or a bare array from turning
// into a TypeError on the way there.
import { KilnError } from "./errors.js";

const what = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? `a ${(v as object).constructor?.name ?? "object"}` : typeof v;

export function checkFeeds(feeds: unknown): void {
  if (typeof feeds !== "object" || feeds === null || Array.isArray(feeds) || ArrayBuffer.isView(feeds)) {
    throw new KilnError("BAD_INPUT", `run() takes the inputs as an object { name: tensor }, got ${what(feeds)}`);
  }
  for (const [name, feed] of Object.entries(feeds)) {
    const at = `input ${JSON.stringify(name)}`;
    if (ArrayBuffer.isView(feed)) {
      if (feed instanceof DataView) throw new KilnError("BAD_INPUT", `${at} is a DataView; pass a typed array (Float32Array ...)`);
      continue;
    }
    if (typeof feed !== "object" || feed === null || Array.isArray(feed)) {
      throw new KilnError("BAD_INPUT", `${at} must be a typed array or { data, dims }, got ${what(feed)}${Array.isArray(feed) ? " (wrap it: { data: [...], dims: [...] })" : ""}`);
    }
    const { data, dims } = feed as { data?: unknown; dims?: unknown };
    const arrayOfNumbers = Array.isArray(data) && data.every((x) => typeof x === "number" || typeof x === "bigint");
    if (!(ArrayBuffer.isView(data) && !(data instanceof DataView)) && !arrayOfNumbers) {
      throw new KilnError("BAD_INPUT", `${at}: data must be a typed array or an array of numbers, got ${data === undefined ? "undefined" : what(data)}`);
    }
    if (dims !== undefined && !(Array.isArray(dims) && dims.every((d) => Number.isSafeInteger(d) && d >= 0))) {
      throw new KilnError("BAD_INPUT", `${at}: dims must be an array of non-negative integers, got ${Array.isArray(dims) ? `[${dims.join(",")}]` : what(dims)}`);
    }
  }
}
