// createSession(artifact, { proxy: true }): the session lives in a worker (a Web Worker in a page,
// a worker thread in Node) and run() is a message to it, so the caller's thread stays free during
// a long inference, as onnxruntime-web's proxy option does. Outputs come back as copies; what
// cannot cross to a worker (functions among the options, runInPlace's views into memory) is a
// typed error.
// (session.ts builds the Session from openProxy's handle: this module does not import it, so the
// two need no import of each other.)
import { KilnError, type KilnErrorCode } from "./errors.js";
import type { Manifest } from "./manifest.js";

/** What the caller's side sends the worker (proxy-worker.ts). */
export type ProxyRequest =
  | { id: number; kind: "init"; artifact: unknown; options: Record<string, unknown> }
  | { id: number; kind: "run" | "profile"; feeds: unknown };

interface Channel {
  send(message: ProxyRequest): void;
  onMessage(f: (m: { id: number; value?: unknown; error?: { code: KilnErrorCode; message: string } }) => void): void;
  /** the worker failed to start or died: every pending request fails */
  onFailure(f: (why: string) => void): void;
  /** while requests are pending the worker keeps Node alive; idle, it does not */
  busy(on: boolean): void;
  terminate(): void;
}

/** a request before it has an id (Omit over each member of the union) */
type Unsent = ProxyRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

const WORKER_URL = () => new URL("./proxy-worker.js", import.meta.url);

async function openChannel(): Promise<Channel> {
  // Node has worker threads (and no Web Worker); pages and their workers have Web Workers
  const isNode = typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string";
  if (!isNode) {
    const w = new Worker(WORKER_URL(), { type: "module" });
    return {
      send: (m) => w.postMessage(m),
      onMessage: (f) => w.addEventListener("message", (e) => f(e.data)),
      onFailure: (f) => w.addEventListener("error", (e) => f(e.message || "the worker's script failed to load")),
      busy: () => {},
      terminate: () => w.terminate(),
    };
  }
  const specifier = "node:worker_threads"; // in a variable: a page's bundler leaves it alone
  const { Worker: NodeWorker } = (await import(specifier)) as typeof import("node:worker_threads");
  const w = new NodeWorker(WORKER_URL());
  w.unref();
  return {
    send: (m) => w.postMessage(m),
    onMessage: (f) => w.on("message", f),
    onFailure: (f) => {
      w.on("error", (e: Error) => f(e.message));
      w.on("exit", (code) => f(`it exited (code ${code})`));
    },
    busy: (on) => (on ? w.ref() : w.unref()),
    terminate: () => void w.terminate(),
  };
}

export interface ProxyHandle {
  manifest: Manifest;
  /** a run or profile in the worker: its result, or its KilnError */
  call(kind: "run" | "profile", feeds: unknown): Promise<unknown>;
  /** stop the worker (calls after this fail) */
  terminate(): void;
}

export async function openProxy(artifact: unknown, options: Record<string, unknown>): Promise<ProxyHandle> {
  const fns = Object.entries(options).filter(([, v]) => typeof v === "function").map(([k]) => k);
  if (fns.length) throw new KilnError("BAD_OPTION", `createSession() options ${fns.join(", ")}: a function cannot go to the proxy's worker; leave ${fns.length > 1 ? "them" : "it"} out with proxy: true`);
  const channel = await openChannel();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let next = 0;
  let terminated = false;
  channel.onMessage((m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (!pending.size) channel.busy(false);
    if (m.error) {
      const e = new KilnError(m.error.code, "");
      e.message = m.error.message; // already "CODE: what", as the worker's error said it
      p.reject(e);
    } else p.resolve(m.value);
  });
  channel.onFailure((why) => {
    if (terminated) return;
    terminated = true;
    for (const p of pending.values()) p.reject(new KilnError("INTERNAL", `the proxy's worker failed: ${why}`));
    pending.clear();
  });
  const call = <T>(req: Unsent): Promise<T> => {
    if (terminated) return Promise.reject(new KilnError("BAD_OPTION", "the session's worker was terminated"));
    const id = next++;
    if (!pending.size) channel.busy(true);
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      channel.send({ ...req, id } as ProxyRequest);
    });
  };
  const manifest = await call<Manifest>({ kind: "init", artifact, options }).catch((e) => {
    channel.terminate();
    throw e;
  });
  return {
    manifest,
    call: (kind, feeds) => call({ kind, feeds }),
    terminate() {
      terminated = true;
      channel.terminate();
      for (const p of pending.values()) p.reject(new KilnError("BAD_OPTION", "the session's worker was terminated"));
      pending.clear();
    },
  };
}
