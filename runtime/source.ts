// What browsers hand out for a file: a fetch() Response, or the promise of one. The runtime and the
// API take them where they take bytes, read once here, so a failed download is a typed error
// naming the URL and status instead of a wasm decoding error about an HTML error page.
import { KilnError, type KilnErrorCode } from "./errors.js";

/** A fetch() Response as far as kiln reads one (the platform's, undici's in Node, a polyfill's). */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === "function";

export function isResponse(v: unknown): v is ResponseLike {
  // by its shape, not `instanceof Response`: in Node, reading the global Response loads undici
  // (fetch), 10-20 ms of every kiln run of a .wasm that never sees one
  const r = v as Partial<ResponseLike> | null;
  return typeof r === "object" && r !== null && typeof r.arrayBuffer === "function" && typeof r.ok === "boolean" && typeof r.status === "number";
}

/**
 * `source` with a Response (or a promise of anything) resolved: a Response becomes its body's
 * bytes; anything else comes back as it is, for the caller's own checks. `code` is the error a
 * failed download is (INVALID_ARTIFACT for createSession, INVALID_MODEL for compile and load).
 */
export async function readResponse<T>(source: T | ResponseLike | PromiseLike<T | ResponseLike>, code: KilnErrorCode, what: string): Promise<T | Uint8Array> {
  let value: unknown = source;
  if (isThenable(source)) {
    try {
      value = await source;
    } catch (e) {
      throw new KilnError(code, `${what}: the promise given for it failed (${(e as Error)?.message ?? String(e)}); check the URL and the network`);
    }
  }
  if (!isResponse(value)) return value as T;
  const where = value.url ? ` from ${value.url}` : "";
  if (!value.ok) throw new KilnError(code, `${what}: the response${where} is ${value.status}${value.statusText ? " " + value.statusText : ""}, not the file; check the URL`);
  if (value.bodyUsed) throw new KilnError(code, `${what}: the response${where} has been read already; pass a fresh fetch() (or response.clone())`);
  try {
    return new Uint8Array(await value.arrayBuffer());
  } catch (e) {
    throw new KilnError(code, `${what}: reading the response${where} failed (${(e as Error)?.message ?? String(e)})`);
  }
}
