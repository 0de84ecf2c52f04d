// Debian's Chromium through playwright-core, and a static file server for the pages it opens: for
// tests that run kiln in a real browser. Without a Chromium the tests that need it are skipped,
// visibly (their describe's title says so), unless KILN_BROWSER=1 or npm run test:browser asks
// for them: then a missing Chromium is an error, not a skip.
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = process.env.KILN_CHROMIUM ? [process.env.KILN_CHROMIUM] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
export const CHROMIUM = CANDIDATES.find((f) => fs.existsSync(f));
const REQUIRED = process.env.npm_lifecycle_event === "test:browser" || process.env.KILN_BROWSER === "1";
const ENABLE = "apt-get install chromium (or set KILN_CHROMIUM to a Chromium binary), then KILN_BROWSER=1";

/** The describe title for browser tests: says SKIPPED and how to enable them when there is no Chromium. */
export function browserSuite(title: string): string {
  if (CHROMIUM) return title;
  const line = `${title}: ${REQUIRED ? "cannot run" : "SKIPPED"}, no Chromium at ${CANDIDATES.join(" or ")}; to run: ${ENABLE}`;
  if (REQUIRED) throw new Error(line);
  console.warn(`kiln: ${line}`);
  return line;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM!,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

const TYPES: Record<string, string> = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".onnx": "application/octet-stream" };

/** Serve `dir` on 127.0.0.1 (files inside it only), with `headers` on every answer; base is its http:// address. */
export async function serveFolder(dir: string, headers: Record<string, string> = {}): Promise<{ base: string; close: () => Promise<void> }> {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/^\/+/, "") || "index.html";
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { ...headers, "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * Serve `dir`, open its index.html in Chromium, and return what the page put in
 * window.__result (waited for up to a minute) with the page's uncaught errors.
 */
export async function pageResult<T>(dir: string, headers: Record<string, string> = {}): Promise<{ result: T | undefined; errors: string[] }> {
  const srv = await serveFolder(dir, headers);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${srv.base}/index.html`);
    await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, null, { timeout: 60_000 }).catch(() => undefined);
    return { result: await page.evaluate(() => (globalThis as unknown as { __result?: T }).__result), errors };
  } finally {
    await browser.close();
    await srv.close();
  }
}

/** Bundles kiln/runtime (runtime.js) and kiln/runtime/sources (sources.js) into `out` for pages, beside an empty index.html. */
export async function bundleRuntime(out: string, title: string): Promise<void> {
  const esbuild = await import("esbuild");
  const root = path.resolve(import.meta.dirname, "../..");
  fs.mkdirSync(out, { recursive: true });
  const common = { bundle: true, format: "esm" as const, platform: "browser" as const, target: "es2022", external: ["node:*"], logLevel: "error" as const };
  await esbuild.build({ ...common, entryPoints: [path.join(root, "runtime/index.ts")], outfile: path.join(out, "runtime.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(root, "runtime/sources.ts")], outfile: path.join(out, "sources.js") });
  fs.writeFileSync(path.join(out, "index.html"), `<!doctype html><title>${title}</title>`);
}

/**
 * Serves the files of `dir` by base name with HTTP Range support (206, 416 past the end), as a
 * static host serves them; `range(file, header, send)` sees each Range request and sends it (now,
 * or later to throttle it).
 */
export async function serveRanges(dir: string, range: (file: string, header: string, send: () => void) => void = (_f, _h, send) => send()): Promise<{ base: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(new URL(req.url ?? "/", "http://x").pathname) || "index.html");
    if (!fs.existsSync(file)) return void res.writeHead(404).end();
    const body = fs.readFileSync(file);
    const type = TYPES[path.extname(file)] ?? "application/octet-stream";
    const asked = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (!asked) return void res.writeHead(200, { "content-type": type }).end(body);
    const [from, to] = [Number(asked[1]), Math.min(Number(asked[2]), body.length - 1)];
    range(path.basename(file), req.headers.range!, () => {
      if (from >= body.length) return void res.writeHead(416).end();
      res.writeHead(206, { "content-type": type, "content-range": `bytes ${from}-${to}/${body.length}` }).end(body.subarray(from, to + 1));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
