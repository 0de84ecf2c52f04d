// A bounded HTTP load test: `requests` requests, at most `concurrency` in flight, each answer
// checked by the caller; latency percentiles and throughput. kiln serve's and the packed Worker's
// tests and bench/serve-load.ts use it.
import * as net from "node:net";

export interface LoadRequest {
  body: Uint8Array | string;
  headers: Record<string, string>;
}

export interface LoadResult {
  requests: number;
  /** answers that were not 200 or that `check` refused (with the first few reasons) */
  errors: number;
  reasons: string[];
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
  seconds: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** POST `make(i)` to url for i < requests; `check` returns why an answer is wrong, or undefined. */
export async function loadTest(url: string, options: { requests: number; concurrency: number; make: (i: number) => LoadRequest; check: (i: number, r: Response, body: ArrayBuffer) => string | undefined }): Promise<LoadResult> {
  const times: number[] = [];
  const reasons: string[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < options.requests) {
      const i = next++;
      const req = options.make(i);
      const s = performance.now();
      try {
        const r = await fetch(url, { method: "POST", headers: req.headers, body: req.body as BodyInit });
        const body = await r.arrayBuffer();
        times.push(performance.now() - s);
        const why = r.status !== 200 ? `status ${r.status}: ${new TextDecoder().decode(body).slice(0, 200)}` : options.check(i, r, body);
        if (why) {
          errors++;
          if (reasons.length < 5) reasons.push(`request ${i}: ${why}`);
        }
      } catch (e) {
        errors++;
        if (reasons.length < 5) reasons.push(`request ${i}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { requests: options.requests, errors, reasons, p50Ms: percentile(times, 50) ?? NaN, p99Ms: percentile(times, 99) ?? NaN, perSecond: options.requests / seconds, seconds };
}

export const formatLoad = (what: string, r: LoadResult) =>
  `${what}: ${r.requests} requests, ${r.errors} errors, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ${r.perSecond.toFixed(0)} requests/s`;

/** A port free on 127.0.0.1 now (a server is started on it just after). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
