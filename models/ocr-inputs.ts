// Text-like inputs for the PaddleOCR models (models/ocr.ts), made the way the models see text:
// dark glyph strokes on a light, uneven background, normalized as PaddleOCR does
// ((x / 255 - 0.5) / 0.5), [1, 3, H, W]. Seeded and deterministic, no image files: the glyphs are
// a built-in 5x7 bitmap font (digits and capitals), drawn anti-aliased at any size (each pixel's
// coverage of the glyph's cells from 3x3 samples), slanted and emboldened by the seed.
//   - a page (detection, 3x320x320): a few lines of text at various sizes and places
//   - a line (recognition 3x48x320, classifier 3x48x192): one line filling the height as
//     PaddleOCR's resize leaves it, the width past the text padded with 0 (PaddleOCR's padding);
//     for the classifier, every other seed's line is turned 180 degrees (its "180" class)
// Random noise says little about a classifier's decision or a recognizer's argmax; these do.
import { rng } from "../compiler/driver/cli/inputs.js";

/** 5x7 glyphs, one 5-bit row each (bit 4 the left column): 0-9 then A-Z. */
const FONT: readonly (readonly number[])[] = [
  [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e], [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f], [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02], [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e], [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e], [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11], [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e], [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f], [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f], [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e], [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11], [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d], [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e], [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a], [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04], [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
];
/** the characters FONT draws, in its order */
export const OCR_GLYPHS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** An RGB image being drawn, values 0..255, [3][H][W]. */
class Canvas {
  readonly px: Float32Array;
  constructor(readonly H: number, readonly W: number) {
    this.px = new Float32Array(3 * H * W);
  }
  /** a light background: a base grey-ish colour, a gradient across the image, and pixel noise */
  background(r: () => number): void {
    const base = [0, 1, 2].map(() => 175 + 70 * r()), tint = [0, 1, 2].map(() => 12 * (r() - 0.5));
    const gx = 50 * (r() - 0.5), gy = 50 * (r() - 0.5), noise = 4 + 10 * r();
    for (let y = 0; y < this.H; y++) {
      for (let x = 0; x < this.W; x++) {
        const shade = gx * (x / this.W - 0.5) + gy * (y / this.H - 0.5) + noise * (r() - 0.5);
        for (let c = 0; c < 3; c++) this.px[(c * this.H + y) * this.W + x] = base[c] + tint[c] + shade;
      }
    }
  }
  /** blends `ink` over pixel (x, y) by coverage `a` in [0, 1] */
  blend(x: number, y: number, a: number, ink: readonly number[]): void {
    if (x < 0 || y < 0 || x >= this.W || y >= this.H || a <= 0) return;
    for (let c = 0; c < 3; c++) {
      const i = (c * this.H + y) * this.W + x;
      this.px[i] += (ink[c] - this.px[i]) * a;
    }
  }
}

interface Style { size: number; slant: number; bold: number; ink: readonly number[] }

/** Whether the point (u, v) of a glyph's 5x7 cell grid is inked; `bold` grows each cell (0 .. 0.3). */
function inked(glyph: readonly number[], u: number, v: number, bold: number): boolean {
  const x0 = Math.floor(u - bold), x1 = Math.floor(u + bold), y0 = Math.floor(v - bold), y1 = Math.floor(v + bold);
  for (let y = Math.max(0, y0); y <= Math.min(6, y1); y++) {
    for (let x = Math.max(0, x0); x <= Math.min(4, x1); x++) if ((glyph[y] >> (4 - x)) & 1) return true;
  }
  return false;
}

/** Draws `text` with its top-left corner at (x0, y0); returns the x where the next glyph would go. */
function drawText(cv: Canvas, text: string, x0: number, y0: number, s: Style): number {
  const cell = s.size / 7, advance = 6 * cell;
  let x = x0;
  for (const ch of text) {
    const k = OCR_GLYPHS.indexOf(ch);
    if (k >= 0) {
      const glyph = FONT[k], left = Math.floor(x - s.slant * s.size), right = Math.ceil(x + 5 * cell + s.slant * s.size);
      for (let py = Math.floor(y0); py < Math.ceil(y0 + s.size); py++) {
        for (let px = left; px <= right; px++) {
          let hits = 0;
          for (let sy = 0; sy < 3; sy++) {
            for (let sx = 0; sx < 3; sx++) {
              const yy = py + (sy + 0.5) / 3, v = (yy - y0) / cell;
              // slant: rows higher up shift right
              const u = (px + (sx + 0.5) / 3 - x - s.slant * (s.size - (yy - y0))) / cell;
              if (u >= -s.bold && u < 5 + s.bold && v >= 0 && v < 7 && inked(glyph, u, v, s.bold)) hits++;
            }
          }
          cv.blend(px, py, hits / 9, s.ink);
        }
      }
    }
    x += advance;
  }
  return x;
}

function randomText(r: () => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += r() < 0.12 && i > 0 && i < length - 1 ? " " : OCR_GLYPHS[Math.floor(r() * OCR_GLYPHS.length)];
  return s;
}

function randomStyle(r: () => number, size: number): Style {
  const dark = 10 + 80 * r();
  return { size, slant: r() < 0.3 ? 0.08 + 0.12 * r() : 0, bold: 0.3 * r(), ink: [0, 1, 2].map(() => dark + 30 * (r() - 0.5)) };
}

/** PaddleOCR's normalization of 0..255 pixels: (x / 255 - 0.5) / 0.5; columns from `padFrom` on are padding (0). */
function normalized(cv: Canvas, padFrom = cv.W): Float32Array {
  const out = new Float32Array(cv.px.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.min(255, Math.max(0, cv.px[i]));
    out[i] = i % cv.W >= padFrom ? 0 : (v / 255 - 0.5) / 0.5;
  }
  return out;
}

/** A page of a few text lines for the detector: [1, 3, H, W]. */
export function ocrPage(H: number, W: number, seed: number): Float32Array {
  const r = rng(seed * 104729 + 7);
  const cv = new Canvas(H, W);
  cv.background(r);
  const lines = 2 + Math.floor(r() * 5);
  let y = 6 + r() * 20;
  for (let l = 0; l < lines && y < H - 14; l++) {
    const size = Math.min(H - 4 - y, 12 + Math.floor(r() * 18));
    if (size < 10) break;
    const style = randomStyle(r, size), x0 = 4 + r() * W * 0.3;
    const fits = Math.floor((W - 4 - x0) / ((6 * size) / 7));
    if (fits >= 2) drawText(cv, randomText(r, 2 + Math.floor(r() * (fits - 1))), x0, y, style);
    y += size * (1.4 + r() * 1.2);
  }
  return normalized(cv);
}

/**
 * One text line for the recognizer or classifier: [1, 3, H, W], glyphs 55-80% of the height; the
 * text's width as PaddleOCR's resize leaves it, the rest padding. `turned`: rotated 180 degrees.
 */
export function ocrLine(H: number, W: number, seed: number, turned = false): Float32Array {
  const r = rng(seed * 15485863 + 3);
  const size = Math.round(H * (0.55 + 0.25 * r()));
  const style = randomStyle(r, size);
  const advance = (6 * size) / 7, x0 = 2 + r() * 6, y0 = (H - size) / 2 + (r() - 0.5) * 4;
  const fits = Math.floor((W - 2 * x0) / advance);
  const length = Math.max(1, Math.min(fits, 2 + Math.floor(r() * (fits - 1))));
  const cv = new Canvas(H, W);
  cv.background(r);
  const end = drawText(cv, randomText(r, length), x0, y0, style);
  // the image PaddleOCR resized ends a little after the text: padding (0) from there on, some lines fill it all
  const padFrom = r() < 0.3 ? W : Math.min(W, Math.ceil(end + x0));
  const img = normalized(cv, padFrom);
  return turned ? rotated180(img, H, W, padFrom) : img;
}

/** An image turned 180 degrees within its text's width (padding stays on the right, as the classifier sees it). */
function rotated180(img: Float32Array, H: number, W: number, width: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) out[(c * H + y) * W + x] = x < width ? img[(c * H + (H - 1 - y)) * W + (width - 1 - x)] : 0;
    }
  }
  return out;
}

/** The input of OCR model `name` (models/ocr.ts) for `seed`, at `shape` [1, 3, H, W]. */
export function ocrInput(name: string, shape: readonly number[], seed: number): Float32Array {
  const [, , H, W] = shape;
  if (name === "ppocr_det") return ocrPage(H, W, seed);
  return ocrLine(H, W, seed, name === "ppocr_cls" && seed % 2 === 1);
}
