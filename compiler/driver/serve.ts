// kiln serve: a model over HTTP on one machine. The main thread only moves bytes (node:http);
// a pool of worker threads (piscina), each with its own session, runs the model, so N workers
// run N requests at once. The protocol is the runtime's (runtime/serve.ts), the same the packed
// Cloudflare Worker speaks.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Piscina } from "piscina";
import { KilnError } from "../../runtime/errors.js";
import type { SimdChoice } from "../../runtime/simd.js";
import type { ServeReply, ServeTask } from "./serve-worker.js";

export interface ServeOptions {
  port: number;
  host: string;
  workers: number;
  simd?: SimdChoice;
  /** requests waiting for a worker beyond this are answered 503 (default 64 per worker) */
  maxQueue?: number;
}

export interface Server {
  url: string;
  close(): Promise<void>;
}

/** the largest request body read (bigger ones are answered 413) */
const MAX_BODY = 256 * 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<ArrayBuffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new KilnError("BAD_INPUT", `the request body is over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      if (!size) return resolve(undefined);
      const all = Buffer.concat(chunks, size);
      resolve(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer);
    });
    req.on("error", reject);
  });
}

export async function serve(artifact: Uint8Array, options: ServeOptions): Promise<Server> {
  const pool = new Piscina<ServeTask, ServeReply>({
    filename: new URL("./serve-worker.js", import.meta.url).href,
    minThreads: options.workers,
    maxThreads: options.workers,
    maxQueue: options.maxQueue ?? 64 * options.workers,
    workerData: { artifact, simd: options.simd ?? "auto" },
  });
  // every worker loads the model before the server answers: a broken artifact fails here, once
  await Promise.all(Array.from({ length: options.workers }, () => pool.run({ method: "GET", url: "http://kiln/", contentType: "", body: undefined })));
  const server = http.createServer(async (req, res) => {
    try {
      const body = req.method === "POST" ? await readBody(req) : undefined;
      const task: ServeTask = { method: req.method ?? "GET", url: `http://kiln${req.url ?? "/"}`, contentType: req.headers["content-type"] ?? "", body };
      const reply = await pool.run(task, { transferList: (body ? [body] : []) as never });
      res.writeHead(reply.status, Object.fromEntries(reply.headers)).end(Buffer.from(reply.body));
    } catch (e) {
      const status = (e as Error)?.message?.includes("queue") ? 503 : e instanceof KilnError ? 413 : 500;
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: status === 503 ? "BUSY" : "INTERNAL", message: (e as Error)?.message ?? String(e) } }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new KilnError("BAD_OPTION", `cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`)));
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await pool.destroy();
    },
  };
}
