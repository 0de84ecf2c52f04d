// Which channels-last depthwise layers the DepthwiseConvNhwc kernel (conv/depthwise-nhwc.ts) can
// run, as pure geometry: the layout pass asks it (through codegen/capabilities.ts) before it
// rewrites a Conv, and the kernel plans with it.
import { slidingWindow } from "../../../compiler/ops/nn-geometry.js";

/** Edge columns are emitted one by one: at most this many (else the layer is left in NCHW). */
export const MAX_EDGE_COLUMNS = 16;

export interface NhwcDepthwiseGeometry {
  N: number; H: number; W: number; C: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; padT: number; padL: number;
  /** output columns [lo, hi) whose every tap lands inside the image */
  lo: number; hi: number;
}

/** The geometry of a channels-last depthwise layer, or a reason it cannot run this kernel. */
export function nhwcDepthwiseGeometry(attrs: Parameters<typeof slidingWindow>[0], x: readonly number[], w: readonly number[]): NhwcDepthwiseGeometry | string {
  const [N, H, W, C] = x;
  if (C % 4) return `${C} channels: not whole vectors`;
  const win = slidingWindow(attrs, [H, W], [w[2], w[3]]);
  const [OH, OW] = win.out, [kh, kw] = win.kernel, [sh, sw] = win.strides, [dh, dw] = win.dilations, [padT, padL] = win.padBegin;
  const inside = (ow: number) => ow * sw - padL >= 0 && ow * sw - padL + (kw - 1) * dw < W;
  let lo = 0;
  while (lo < OW && !inside(lo)) lo++;
  let hi = lo;
  while (hi < OW && inside(hi)) hi++;
  if (lo + (OW - hi) > MAX_EDGE_COLUMNS) return `${lo + OW - hi} edge columns`;
  return { N, H, W, C, OH, OW, kh, kw, sh, sw, dh, dw, padT, padL, lo, hi };
}
