// The worker side of createSession(..., { proxy: true }) (runtime/proxy.ts): one session, made
// from the artifact the first message brings, running each request as it comes. Runs as a Web
// Worker (module type) in a page and as a worker thread in Node.
import { createSession, type Session } from "./session.js";
import { isKilnError } from "./errors.js";
import type { ProxyRequest } from "./proxy.js";

interface Port {
  postMessage(message: unknown): void;
}


let session: Session | undefined;

async function answer(port: Port, req: ProxyRequest): Promise<void> {
  try {
    if (req.kind === "init") {
      session = await createSession(req.artifact as Uint8Array, req.options);
      port.postMessage({ id: req.id, value: session.manifest });
    } else {
      if (!session) throw new Error("the proxy's session was not made");
      port.postMessage({ id: req.id, value: req.kind === "run" ? await session.run(req.feeds as never) : await session.profile(req.feeds as never) });
    }
  } catch (e) {
    port.postMessage({ id: req.id, error: { code: isKilnError(e) ? e.code : "INTERNAL", message: (e as Error)?.message ?? String(e) } });
  }
}

// a page's worker has a global postMessage; a Node worker thread talks through parentPort
const scope = globalThis as unknown as { postMessage?: (m: unknown) => void; addEventListener?: (t: string, f: (e: { data: ProxyRequest }) => void) => void; WorkerGlobalScope?: unknown };
if (scope.WorkerGlobalScope !== undefined && scope.addEventListener) {
  scope.addEventListener("message", (e) => void answer(scope as Port, e.data));
} else {
  const specifier = "node:worker_threads"; // in a variable: a page's bundler leaves it alone
  const { parentPort } = (await import(specifier)) as typeof import("node:worker_threads");
  parentPort!.on("message", (req: ProxyRequest) => void answer(parentPort!, req));
}
