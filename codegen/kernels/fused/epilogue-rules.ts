// Which nodes may join a Conv/ConvTranspose/Gemm/MatMul epilogue, and as what. The fusion pass
// (passes/fuse-epilogue.ts) and the fused kernel (fused/epilogue.ts) both classify a body with
// these rules, so the kernel rebuilds exactly the plan the pass saw.
import type { DTypeName } from "../../../runtime/dtypes.js";
import { hasTrait, opDef, type AnchorInfo } from "../../../compiler/ops/index.js";

/** the anchor's definition, when the op's kernels apply fused epilogues */
function anchorOf(op: string, domain: string): AnchorInfo | undefined {
  const def = opDef(domain, op);
  return def?.traits.has("epilogue-anchor") ? def.anchor : undefined;
}

/**
 * Whether the fusion pass should put activation `op` into the epilogue of an `anchor` op. Costly
 * activations (exp and a division) stay out of convolutions' epilogues: there they are inlined at
 * every store of the kernel's inner loops, and ran slower than the same conv and a separate loop
 * (4 layers of 3x3 64->64 on 80x80, interleaved A/B: Sigmoid +8%, Tanh +24% on Winograd; 1x1 +14%
 * and +7%); after a MatMul they measured the same either way (128x384x1536 with Gelu or Sigmoid).
 */
export function worthFusing(anchor: Pick<NodeLike, "op" | "domain">, op: string): boolean {
  return !hasTrait(op, "costly") || anchorOf(anchor.op, anchor.domain)?.costly === true;
}

/** the axis a bias runs along: output channels for NCHW convolutions, the last axis otherwise */
export function channelAxis(anchor: Pick<NodeLike, "op" | "domain">, rank: number): number {
  return anchorOf(anchor.op, anchor.domain)?.channelAxis === 1 ? 1 : rank - 1;
}

/** index of the anchor's own bias input (Gemm's C, Conv's B); MatMul has none */
export function ownBiasInput(anchor: Pick<NodeLike, "op" | "domain">): number | undefined {
  return anchorOf(anchor.op, anchor.domain)?.bias;
}

export interface OperandInfo {
  dims: readonly number[];
  dtype: DTypeName;
  isConst: boolean;
}

export type Lookup = (value: string) => OperandInfo | undefined;

export type Step =
  | { kind: "bias"; operand: string }
  | { kind: "residual"; operand: string }
  | { kind: "activation" };

interface NodeLike {
  op: string;
  domain: string;
  inputs: readonly string[];
  attrs: Record<string, unknown>;
}

/** a constant that varies along the channel axis only (numpy broadcasting from the right) */
export function isChannelBias(dims: readonly number[], out: readonly number[], axis: number): boolean {
  if (dims.length > out.length) return false;
  const off = out.length - dims.length;
  return dims.every((d, k) => d === 1 || (k + off === axis && d === out[axis]));
}

const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, k) => d === b[k]);
const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * Whether the anchor itself can run with an epilogue (float32, shapes the kernels' hook covers).
 * MatMulNBits' packed weights, scales and zero points are constants of other types.
 */
export function anchorFits(op: string, domain: string, inputs: readonly string[], look: Lookup): boolean {
  if (!anchorOf(op, domain)) return false;
  const ins = inputs.map((i) => (i ? look(i) : undefined));
  const floatOnly = (k: number) => k === 0 || !(domain === "com.microsoft" && op === "MatMulNBits");
  if (ins.some((t, k) => inputs[k] && (!t || (floatOnly(k) && t.dtype !== "float32")))) return false;
  // a 1-D MatMul operand moves the column axis; keep those plain
  return op !== "MatMul" || ins.every((t) => t && t.dims.length >= 2);
}

/** Whether a bias Add may fold into the anchor's bias: its own bias, if any, must be constant too. */
export function biasFoldable(anchor: NodeLike, look: Lookup): boolean {
  const k = ownBiasInput(anchor);
  const own = k === undefined ? "" : anchor.inputs[k] ?? "";
  return !own || look(own)?.isConst === true;
}

/**
 * How `node` (reading the running value `chained`) joins the epilogue of an output of shape `out`,
 * or undefined when it cannot. `biasOpen`: only bias adds came before, so another may fold.
 */
export function classifyStep(node: NodeLike, chained: string, look: Lookup, out: readonly number[], axis: number, biasOpen: boolean): Step | undefined {
  if (node.domain === "" && (node.op === "Add" || node.op === "Sum")) {
    if (node.inputs.length !== 2 || node.inputs.filter((i) => i === chained).length !== 1) return undefined;
    const operand = node.inputs[0] === chained ? node.inputs[1] : node.inputs[0];
    const t = operand ? look(operand) : undefined;
    if (!t || t.dtype !== "float32") return undefined;
    if (biasOpen && t.isConst && isChannelBias(t.dims, out, axis)) return { kind: "bias", operand };
    return sameDims(t.dims, out) ? { kind: "residual", operand } : undefined;
  }
  if (!hasTrait(node, "epilogue") || node.inputs[0] !== chained) return undefined;
  if (node.domain === "" && node.op === "Clip") {
    const bounds = node.inputs.slice(1).filter((i) => i);
    const ok = bounds.every((b) => {
      const t = look(b);
      return t && t.isConst && t.dtype === "float32" && size(t.dims) === 1;
    });
    return ok ? { kind: "activation" } : undefined;
  }
  return node.inputs.length === 1 ? { kind: "activation" } : undefined;
}
