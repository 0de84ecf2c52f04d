// A model over HTTP, on the Fetch API's Request and Response (Node 18+, browsers' service workers,
// Cloudflare Workers): the one protocol kiln serve and the packed Worker (kiln pack --target
// worker) speak, so a client talks to both alike.
//
//   GET  /       the model: { inputs, outputs } (names, dtypes, dims)
//   POST /run    JSON: { "inputs": { name: [numbers] | { "data": [numbers], "dims": [...] } } }
//                  -> { "outputs": { name: { dtype, dims, data } }, "ms" }
//                binary (content-type application/octet-stream): the inputs' bytes back to back,
//                  in the model's order, each its compiled dims in its dtype's storage (little
//                  endian) -> the outputs' bytes the same way, described by the
//                  x-kiln-outputs header (JSON [{ name, dtype, dims }])
//
// Bad requests (a missing input, wrong sizes, unreadable JSON) answer 400 with
// { error: { code, message } }; anything else 500.
import { dtype, sizeOf, storageBytes, type TypedArray } from "./dtypes.js";
import { isKilnError, KilnError } from "./errors.js";
import type { Feeds } from "./feeds.js";
import type { TensorSlot } from "./manifest.js";
import type { Session, Tensor } from "./session.js";

export const BINARY_TYPE = "application/octet-stream";

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A JSON number, or a string when an int64 does not fit one exactly. */
const jsonValue = (v: number | bigint) => (typeof v === "bigint" ? (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString()) : v);

const slotInfo = (s: TensorSlot) => ({ name: s.name, dtype: s.dtype, dims: s.dims });

/** The inputs from the binary body: each slot's bytes in turn (copied out, aligned for its typed array). */
export function decodeBinaryInputs(slots: readonly TensorSlot[], body: ArrayBuffer): Feeds {
  const want = slots.reduce((a, s) => a + storageBytes(s.dtype, sizeOf(s.dims)), 0);
  if (body.byteLength !== want) {
    throw new KilnError("BAD_INPUT", `the binary body has ${body.byteLength} bytes; the inputs take ${want} (${slots.map((s) => `${s.name} ${s.dtype}[${s.dims.join(",")}]: ${storageBytes(s.dtype, sizeOf(s.dims))}`).join(", ")}), back to back in this order`);
  }
  const feeds: Feeds = {};
  let at = 0;
  for (const s of slots) {
    const bytes = storageBytes(s.dtype, sizeOf(s.dims));
    feeds[s.name] = { data: new (dtype(s.dtype).array)(body.slice(at, at + bytes)) as TypedArray, dims: s.dims };
    at += bytes;
  }
  return feeds;
}

/** The outputs as one body, in the model's order, and its description. */
export function encodeBinaryOutputs(slots: readonly TensorSlot[], result: Record<string, Tensor>): { body: Uint8Array<ArrayBuffer>; header: string } {
  const parts = slots.map((s) => {
    const d = result[s.name].data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  });
  const body = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.length;
  }
  return { body, header: JSON.stringify(slots.map(slotInfo)) };
}

async function readJsonInputs(request: Request): Promise<Feeds> {
  let body: unknown;
  try {
    body = await request.json();
  } catch (e) {
    throw new KilnError("BAD_INPUT", `the request body is not JSON (${(e as Error).message}); send { "inputs": { name: [numbers] } } or the inputs' bytes as ${BINARY_TYPE}`);
  }
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
    throw new KilnError("BAD_INPUT", `the JSON body needs "inputs": { name: [numbers] | { "data": [numbers], "dims": [...] } }`);
  }
  // arrays of numbers go to the runtime as they are: it checks sizes, dims and names (BAD_INPUT)
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Array.isArray(v) ? { data: v } : v])) as Feeds;
}

/** Answer one request with `session` (see the protocol above). */
export async function handleRequest(session: Session, request: Request): Promise<Response> {
  const url = new URL(request.url);
  try {
    if (request.method === "GET" && (url.pathname === "/" || url.pathname === "/model")) {
      return json({ inputs: session.inputs.map(slotInfo), outputs: session.outputs.map(slotInfo), kiln: session.manifest.kiln });
    }
    if (url.pathname !== "/run") return json({ error: { code: "NOT_FOUND", message: `no ${url.pathname}; POST /run runs the model, GET / describes it` } }, 404);
    if (request.method !== "POST") return json({ error: { code: "METHOD", message: "POST /run with the inputs" } }, 405, { allow: "POST" });
    const binary = (request.headers.get("content-type") ?? "").startsWith(BINARY_TYPE);
    const feeds = binary ? decodeBinaryInputs(session.inputs, await request.arrayBuffer()) : await readJsonInputs(request);
    const t0 = performance.now();
    const result = await session.run(feeds);
    const ms = performance.now() - t0;
    if (binary) {
      const { body, header } = encodeBinaryOutputs(session.outputs, result);
      return new Response(body, { headers: { "content-type": BINARY_TYPE, "x-kiln-outputs": header, "x-kiln-ms": ms.toFixed(3) } });
    }
    const outputs = Object.fromEntries(session.outputs.map((s) => {
      const t = result[s.name];
      return [s.name, { dtype: t.dtype, dims: t.dims, data: Array.from(t.data as ArrayLike<number | bigint>, jsonValue) }];
    }));
    return json({ outputs, ms: Number(ms.toFixed(3)) });
  } catch (e) {
    if (isKilnError(e) && (e.code === "BAD_INPUT" || e.code === "SHAPE_MISMATCH")) return json({ error: { code: e.code, message: e.message } }, 400);
    return json({ error: { code: isKilnError(e) ? e.code : "INTERNAL", message: (e as Error)?.message ?? String(e) } }, 500);
  }
}
