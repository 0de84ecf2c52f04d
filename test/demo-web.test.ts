// npm run demo:web: the page runs PaddleOCR's text detection (real weights) in Chromium and draws
// a box around each line of text it drew. Checked on a screenshot of the picture: each line is
// inside a detected box, and the screenshot shows that box's red outline where it should be.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { browserSuite, CHROMIUM, launchChromium } from "./util/chromium.js";
import { decodePng } from "./util/png.js";
import { freePort } from "../bench/load.js";

const root = path.resolve(import.meta.dirname, "..");
let server: ChildProcess | undefined;
let base: string;

afterAll(() => server?.kill("SIGTERM"));

interface Box { x0: number; y0: number; x1: number; y1: number }
interface Demo { boxes: Box[]; lines: (Box & { text: string })[]; loadMs: number; firstMs: number; secondMs: number; features: string[]; error?: string }

describe.skipIf(!CHROMIUM)(browserSuite("npm run demo:web in Chromium"), () => {
  beforeAll(async () => {
    const port = await freePort();
    // what npm run demo:web runs after building (the suite has built dist/)
    server = spawn(process.execPath, [path.join(root, "dist/models/demo-web.js"), "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("open http://")) resolve();
      });
      server!.once("exit", (code) => reject(new Error(`demo:web exited with ${code}: ${out}`)));
    });
    base = `http://127.0.0.1:${port}`;
  }, 300_000);

  it("detects the page's three lines of text, draws their boxes, and shows output and timing", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 700 }, deviceScaleFactor: 1 });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      await page.waitForFunction(() => (window as { __demo?: unknown }).__demo !== undefined, null, { timeout: 120_000 });
      expect(errors).toEqual([]);
      const demo = await page.evaluate(() => (window as unknown as { __demo: Demo }).__demo);
      expect(demo.error).toBeUndefined();
      expect(demo.lines.map((l) => l.text)).toEqual(["kiln", "WebAssembly", "ONNX 2026"]);
      expect(demo.boxes.length).toBe(3);
      // each line's ink lies inside one detected box (give or take two pixels of antialiasing)
      demo.lines.forEach((l, k) => {
        const b = demo.boxes[k];
        expect(b.x0, l.text).toBeLessThanOrEqual(l.x0 + 2);
        expect(b.x1, l.text).toBeGreaterThanOrEqual(l.x1 - 2);
        expect(b.y0, l.text).toBeLessThanOrEqual(l.y0 + 2);
        expect(b.y1, l.text).toBeGreaterThanOrEqual(l.y1 - 2);
        // and not much more: a box is not the whole picture
        expect((b.x1 - b.x0) * (b.y1 - b.y0), l.text).toBeLessThan(3 * (l.x1 - l.x0 + 8) * (l.y1 - l.y0 + 8));
      });
      const text = await page.locator("#result").innerText();
      expect(text).toMatch(/^3 text regions found\nload \(fetch, compile, instantiate\): \d+ ms\ndetection: \d+ ms first run \(weights placed\), \d+ ms second run/);

      // the screenshot: the picture's pixels, the boxes' red outlines on them
      // the canvas's own pixels on the screen (inside its border)
      const at = await page.evaluate(() => {
        const c = document.getElementById("image")!;
        const r = c.getBoundingClientRect();
        return { x: r.left + c.clientLeft, y: r.top + c.clientTop };
      });
      const png = await page.screenshot({ clip: { x: Math.round(at.x), y: Math.round(at.y), width: 320, height: 320 } });
      fs.mkdirSync(path.join(root, ".build"), { recursive: true });
      fs.writeFileSync(path.join(root, ".build/demo-web.png"), png);
      const shot = decodePng(png);
      expect([shot.width, shot.height]).toEqual([320, 320]);
      const red = (x: number, y: number) => {
        const i = (y * shot.width + x) * 4;
        return shot.rgba[i] > 200 && shot.rgba[i + 1] < 90 && shot.rgba[i + 2] < 90;
      };
      for (const b of demo.boxes) {
        // the outline: top and bottom edges, as many red pixels as the edge is long
        const edge = (y: number) => Array.from({ length: b.x1 - b.x0 - 1 }, (_, k) => red(b.x0 + 1 + k, y)).filter(Boolean).length / (b.x1 - b.x0 - 1);
        expect(Math.max(edge(b.y0 - 1), edge(b.y0), edge(b.y0 + 1)), `top edge of ${JSON.stringify(b)}`).toBeGreaterThan(0.9);
        expect(Math.max(edge(b.y1), edge(b.y1 - 1), edge(b.y1 + 1)), `bottom edge of ${JSON.stringify(b)}`).toBeGreaterThan(0.9);
        // inside, the text is dark, not red
        const midY = Math.round((b.y0 + b.y1) / 2);
        expect(Array.from({ length: b.x1 - b.x0 - 8 }, (_, k) => red(b.x0 + 4 + k, midY)).some(Boolean)).toBe(false);
      }
      // away from the boxes, no red at all
      const inAny = (x: number, y: number) => demo.boxes.some((b) => x >= b.x0 - 2 && x <= b.x1 + 2 && y >= b.y0 - 2 && y <= b.y1 + 2);
      let stray = 0;
      for (let y = 0; y < 320; y++) for (let x = 0; x < 320; x++) if (!inAny(x, y) && red(x, y)) stray++;
      expect(stray).toBe(0);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
