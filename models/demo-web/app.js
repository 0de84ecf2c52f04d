// The demo page's script: kiln's runtime alone (served from dist/runtime, no bundler) runs the
// PP-OCRv4 detection model compiled ahead (det.wasm) on a picture the page draws, then boxes the
// text regions its probability map shows (DB post-processing, simplified to axis-aligned boxes).
import { createSession } from "./runtime/index.js";

const W = 320, H = 320;
const canvas = document.getElementById("image");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const result = document.getElementById("result");

// the picture: three lines of text on a light background
ctx.fillStyle = "#fdfdf8";
ctx.fillRect(0, 0, W, H);
ctx.fillStyle = "#111";
ctx.font = "bold 36px sans-serif";
const LINES = [["kiln", 24, 70], ["WebAssembly", 24, 165], ["ONNX 2026", 24, 260]];
const lines = LINES.map(([text, x, y]) => {
  ctx.fillText(text, x, y);
  const m = ctx.measureText(text);
  return { text, x0: x, y0: y - m.actualBoundingBoxAscent, x1: x + m.width, y1: y + m.actualBoundingBoxDescent };
});

/** RGB in [0, 1], normalized as PaddleOCR's detector was trained (ImageNet mean and std), NCHW */
function toInput() {
  const px = ctx.getImageData(0, 0, W, H).data;
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const x = new Float32Array(3 * W * H);
  for (let c = 0; c < 3; c++) for (let i = 0; i < W * H; i++) x[c * W * H + i] = (px[4 * i + c] / 255 - mean[c]) / std[c];
  return x;
}

/** Connected regions of prob > 0.3, each as a box grown by DB's unclip distance (area * 1.5 / perimeter). */
function boxesOf(prob) {
  const seen = new Uint8Array(W * H);
  const boxes = [];
  for (let start = 0; start < W * H; start++) {
    if (seen[start] || prob[start] <= 0.3) continue;
    let x0 = W, y0 = H, x1 = 0, y1 = 0, area = 0, score = 0;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop();
      const x = i % W, y = (i - x) / W;
      area++;
      score += prob[i];
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      for (const j of [x > 0 ? i - 1 : -1, x < W - 1 ? i + 1 : -1, y > 0 ? i - W : -1, y < H - 1 ? i + W : -1]) {
        if (j >= 0 && !seen[j] && prob[j] > 0.3) { seen[j] = 1; stack.push(j); }
      }
    }
    if (area < 16 || score / area < 0.5) continue; // specks and faint regions
    const w = x1 - x0 + 1, h = y1 - y0 + 1;
    const d = (w * h * 1.5) / (2 * (w + h));
    boxes.push({ x0: Math.max(0, Math.round(x0 - d)), y0: Math.max(0, Math.round(y0 - d)), x1: Math.min(W - 1, Math.round(x1 + d)), y1: Math.min(H - 1, Math.round(y1 + d)), score: score / area });
  }
  return boxes.sort((a, b) => a.y0 - b.y0);
}

try {
  const input = toInput();
  const t0 = performance.now();
  const session = await createSession(fetch("det.wasm"));
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const out = await session.run({ x: input });
  const firstMs = performance.now() - t1;
  const t2 = performance.now();
  await session.run({ x: input });
  const secondMs = performance.now() - t2;
  const boxes = boxesOf(out[session.outputs[0].name].data);
  ctx.strokeStyle = "rgb(255, 0, 0)";
  ctx.lineWidth = 2;
  for (const b of boxes) ctx.strokeRect(b.x0 + 0.5, b.y0 + 0.5, b.x1 - b.x0, b.y1 - b.y0);
  const features = session.manifest.features.join(" + ");
  result.textContent = `${boxes.length} text regions found\n` +
    `load (fetch, compile, instantiate): ${loadMs.toFixed(0)} ms\n` +
    `detection: ${firstMs.toFixed(0)} ms first run (weights placed), ${secondMs.toFixed(0)} ms second run\n` +
    `model: PP-OCRv4 det, x float32[1,3,320,320], ${features}`;
  window.__demo = { boxes, lines, loadMs, firstMs, secondMs, features: session.manifest.features };
} catch (e) {
  result.textContent = `failed: ${e.message}`;
  window.__demo = { error: String(e.message ?? e) };
}
