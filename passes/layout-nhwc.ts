// layout-nhwc: runs the depthwise parts of a network channels-last ([N, H, W, C]), with layout
// changes only at the region's edges. A region grows from each depthwise Conv through its
// neighbours that run as well or better channels-last:
//   - depthwise Conv (C % 4 = 0, constant weights) -> kiln.layout DepthwiseConvNhwc: a pixel's 4
//     channels are one vector, so no transposes inside the kernel (codegen/kernels/conv/depthwise-nhwc.ts);
//   - pointwise Conv (1x1, stride 1, no pads, one group, constant weights) -> MatMul of the
//     [N, H, W, C] image by W^T [C, M] (+ Add of the bias): the packed GEMM over positions, which
//     epilogue fusion then joins with the bias, the activation and a residual add;
//   - elementwise activations, and Add/Sub/Mul of two same-shaped region tensors (residual adds).
// Values entering a region from outside get one Transpose to NHWC; values the rest of the graph
// (or a graph output) reads get one Transpose back, under their original names. A region that
// holds no pointwise Conv is left alone: its edge transposes would cost more than its depthwise
// layers gain.
import type { Graph, Node, Tensor, Value } from "../compiler/ir/graph.js";
import { splatTensor, isLazySplat, splatValue } from "../compiler/ir/splat.js";
import { deferredTensor } from "../compiler/ir/scaled.js";
import { halfTransposed } from "../compiler/ir/values.js";
import { LAYOUT_DOMAIN } from "../compiler/ops/layout.js";
import { nhwcDepthwiseGeometry } from "../codegen/capabilities.js";
import { Attrs } from "../compiler/ir/attrs.js";
import { hasTrait } from "../compiler/ops/index.js";
import { addConstant } from "./rewrite.js";
import type { Pass } from "./pass.js";


type Kind = "depthwise" | "pointwise" | "elementwise";

const floatDims = (graph: Graph, name: string): number[] | undefined => {
  const v = graph.values.get(name);
  if (!v || v.dtype !== "float32" || !v.shape || v.shape.some((d) => typeof d !== "number")) return undefined;
  return v.shape as number[];
};
const constOf = (graph: Graph, name: string): Tensor | undefined => (name ? graph.values.get(name)?.const : undefined);
const intAttr = (n: Node, key: string, fallback: number) => (n.attrs[key]?.type === "int" ? (n.attrs[key] as { value: number }).value : fallback);
const intsAttr = (n: Node, key: string): number[] | undefined => (n.attrs[key]?.type === "ints" ? (n.attrs[key] as { value: number[] }).value : undefined);

/** A Conv's weights and bias, when both are float32 constants of the usual shapes. */
function convParts(graph: Graph, n: Node): { x: number[]; w: Tensor; y: number[] } | undefined {
  if (n.op !== "Conv" || n.domain !== "" || n.outputs.length !== 1) return undefined;
  const x = floatDims(graph, n.inputs[0]), y = floatDims(graph, n.outputs[0]);
  const w = constOf(graph, n.inputs[1]);
  if (!x || !y || x.length !== 4 || !w || w.dtype !== "float32" || w.dims.length !== 4) return undefined;
  if (graph.values.get(n.inputs[0])?.const) return undefined;
  const b = n.inputs[2];
  if (b && (constOf(graph, b)?.dtype !== "float32" || constOf(graph, b)!.dims.join() !== `${w.dims[0]}`)) return undefined;
  return { x, w, y };
}

function kindOf(graph: Graph, n: Node): Kind | undefined {
  const conv = convParts(graph, n);
  if (conv) {
    const { x, w } = conv;
    const group = intAttr(n, "group", 1);
    if (group === x[1] && w.dims[0] === x[1] && w.dims[1] === 1) {
      const g = nhwcDepthwiseGeometry(new Attrs(n), [x[0], x[2], x[3], x[1]], w.dims);
      return typeof g === "string" ? undefined : "depthwise";
    }
    const ones = (k: number[] | undefined, one: number) => !k || k.every((v) => v === one);
    const autoPad = n.attrs.auto_pad?.type === "string" ? n.attrs.auto_pad.value : "NOTSET";
    if (group === 1 && w.dims[2] === 1 && w.dims[3] === 1 && ones(intsAttr(n, "strides"), 1) && ones(intsAttr(n, "pads"), 0) && (autoPad === "NOTSET" || autoPad === "VALID")) return "pointwise";
    return undefined;
  }
  if (!hasTrait(n, "layout-agnostic") || n.outputs.length !== 1) return undefined;
  const out = floatDims(graph, n.outputs[0]);
  if (!out || out.length !== 4) return undefined;
  const same = (name: string) => floatDims(graph, name)?.join() === out.join() && !constOf(graph, name);
  if (hasTrait(n, "unary")) {
    // the activation's other inputs (Clip's bounds) are scalars
    return same(n.inputs[0]) && n.inputs.slice(1).every((i) => !i || (constOf(graph, i) && constOf(graph, i)!.dims.reduce((a, b) => a * b, 1) === 1)) ? "elementwise" : undefined;
  }
  // n-ary ops of same-shaped region tensors (residual adds); a broadcast operand would need its own transpose
  return n.inputs.length >= 2 && n.inputs.every(same) ? "elementwise" : undefined;
}

/** The regions: connected sets of NHWC-capable nodes grown from depthwise Convs, and each node's kind. */
function regions(graph: Graph): { found: Node[][]; kinds: Map<string, Kind> } {
  const kinds = new Map<string, Kind>();
  for (const n of graph.nodeList()) {
    const k = kindOf(graph, n);
    if (k) kinds.set(n.name, k);
  }
  const taken = new Set<string>();
  const found: Node[][] = [];
  for (const seed of graph.topoOrder()) {
    if (kinds.get(seed.name) !== "depthwise" || taken.has(seed.name)) continue;
    const region: Node[] = [];
    const queue = [seed];
    taken.add(seed.name);
    while (queue.length) {
      const n = queue.pop()!;
      region.push(n);
      const near = [
        ...n.inputs.map((i) => (i ? graph.producer(i) : undefined)),
        ...n.outputs.flatMap((o) => graph.consumers(o)),
      ];
      for (const m of near) {
        if (!m || taken.has(m.name) || !kinds.has(m.name)) continue;
        // an elementwise node fed only from outside (the stem's activation) stays with its producer's fusion
        if (kinds.get(m.name) === "elementwise" && !m.inputs.some((i) => i && kinds.has(graph.producer(i)?.name ?? ""))) continue;
        taken.add(m.name);
        queue.push(m);
      }
    }
    if (region.some((n) => kinds.get(n.name) === "pointwise")) found.push(region);
  }
  return { found, kinds };
}

const toNhwc = (d: number[]) => [d[0], d[2], d[3], d[1]];

function fresh(graph: Graph, base: string): string {
  let name = base;
  for (let i = 1; graph.hasValue(name); i++) name = `${base}_${i}`;
  return name;
}

function newValue(graph: Graph, base: string, like: Value, shape: number[]): string {
  const name = fresh(graph, base);
  const v = graph.value(name);
  v.dtype = like.dtype;
  v.shape = shape;
  return name;
}

/** W [M, C, 1, 1] as W^T [C, M], computed when the weights image is written (W may be a scaled constant) */
function transposedWeights(w: Tensor): Tensor {
  const [M, C] = w.dims;
  const one = isLazySplat(w) ? splatValue(w) : undefined;
  if (one) return splatTensor("float32", [C, M], one);
  const t = deferredTensor([C, M], () => {
    const src = w.data as Float32Array, out = new Float32Array(C * M);
    for (let mo = 0; mo < M; mo++) for (let c = 0; c < C; c++) out[c * M + mo] = src[mo * C + c];
    return out;
  });
  halfTransposed(t, w, M, C); // from float16 codes: a compact artifact stores them transposed
  return t;
}

function rewrite(graph: Graph, region: Node[], kinds: ReadonlyMap<string, Kind>): void {
  const inRegion = new Set(region.map((n) => n.name));
  const nhwc = new Map<string, string>();
  const transposes: Node[] = [];
  // values entering the region
  for (const n of region) {
    for (const i of n.inputs) {
      if (!i || nhwc.has(i) || graph.values.get(i)?.const) continue;
      const p = graph.producer(i);
      if (p && inRegion.has(p.name)) continue;
      const v = graph.values.get(i)!;
      const to = newValue(graph, `${i}.nhwc`, v, toNhwc(v.shape as number[]));
      nhwc.set(i, to);
      transposes.push({ name: graph.uniqueNodeName(`${i}.to_nhwc`), op: "Transpose", domain: "", inputs: [i], outputs: [to], attrs: { perm: { type: "ints", value: [0, 2, 3, 1] } } });
    }
  }
  // values the region makes, and which of them the rest of the graph reads
  const back: string[] = [];
  for (const n of region) {
    for (const o of n.outputs) {
      const v = graph.values.get(o)!;
      nhwc.set(o, newValue(graph, `${o}.nhwc`, v, toNhwc(v.shape as number[])));
      if (graph.outputs.includes(o) || graph.consumers(o).some((c) => !inRegion.has(c.name))) back.push(o);
    }
  }
  const mapped = (i: string) => (i ? nhwc.get(i) ?? i : i);
  const added: Node[] = [];
  for (const n of region) {
    graph.removeNode(n.name);
    const out = nhwc.get(n.outputs[0])!;
    const kind = kinds.get(n.name)!;
    if (kind === "depthwise") {
      const attrs = { ...n.attrs };
      delete attrs.group;
      added.push({ name: n.name, op: "DepthwiseConvNhwc", domain: LAYOUT_DOMAIN, inputs: n.inputs.map(mapped), outputs: [out], attrs, meta: { from: "Conv" } });
    } else if (kind === "pointwise") {
      const w = graph.values.get(n.inputs[1])!.const!;
      const wt = addConstant(graph, `${n.inputs[1]}.t`, transposedWeights(w));
      const bias = n.inputs[2];
      const product = bias ? newValue(graph, `${n.outputs[0]}.mm`, graph.values.get(n.outputs[0])!, graph.values.get(out)!.shape as number[]) : out;
      added.push({ name: n.name, op: "MatMul", domain: "", inputs: [mapped(n.inputs[0]), wt], outputs: [product], attrs: {}, meta: { from: "Conv 1x1" } });
      if (bias) added.push({ name: graph.uniqueNodeName(`${n.name}.bias`), op: "Add", domain: "", inputs: [product, bias], outputs: [out], attrs: {} });
    } else {
      added.push({ ...n, inputs: n.inputs.map(mapped), outputs: [out] });
    }
  }
  for (const o of back) {
    transposes.push({ name: graph.uniqueNodeName(`${o}.to_nchw`), op: "Transpose", domain: "", inputs: [nhwc.get(o)!], outputs: [o], attrs: { perm: { type: "ints", value: [0, 3, 1, 2] } } });
  }
  for (const n of [...added, ...transposes]) graph.addNode(n);
  graph.opsets.set(LAYOUT_DOMAIN, 1);
}

/** Rewrites every qualifying region; returns how many. */
export function layoutNhwc(graph: Graph): number {
  const { found, kinds } = regions(graph);
  for (const r of found) rewrite(graph, r, kinds);
  if (found.length) graph.pruneValues();
  return found.length;
}

export const layoutNhwcPass: Pass = {
  name: "layout-nhwc",
  description: "runs regions grown from depthwise Convs channels-last (depthwise kernel with channels in lanes, 1x1 Convs as MatMul), with Transposes only at their edges",
  options: {
    // the channels-last kernels run a varying batch, not a varying height or width (the padded
    // layout's rows of a channels-last image): the driver turns regions off for those bounds
    spatial: { default: true, description: "make regions (false: an image whose height or width has bounds, which the channels-last kernels do not run)" },
  },
  run(graph: Graph, ctx) {
    return { regions: ctx.options?.spatial === false ? 0 : layoutNhwc(graph) };
  },
};
