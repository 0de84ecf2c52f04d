// IR Graph -> ONNX ModelProto bytes: for dumps (Netron, other runtimes) and for tests that build
// models in code. Constants become initializers; types and shapes become value_info.
import { dtype } from "../../runtime/dtypes.js";
import { FUSED_DOMAIN, type Attr, type Graph, type Node } from "../ir/graph.js";
import { CONTRIB_DOMAIN, CONTRIB_QDQ } from "../ops/opsets.js";
import { onnx, type AttributeProto, type GraphProto, type NodeProto, type ValueInfoProto } from "./proto.js";

type FunctionProto = import("onnx-proto").onnx.IFunctionProto;
import { encodeTensor } from "./tensor.js";

export interface ExportOptions {
  producer?: string;
  /** include value_info for intermediate values (default true) */
  valueInfo?: boolean;
}

function exportAttr(name: string, a: Attr): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  const enc = (s: string) => new TextEncoder().encode(s);
  switch (a.type) {
    case "int": return { name, type: T.INT, i: a.value };
    case "float": return { name, type: T.FLOAT, f: a.value };
    case "string": return { name, type: T.STRING, s: enc(a.value) };
    case "ints": return { name, type: T.INTS, ints: a.value };
    case "floats": return { name, type: T.FLOATS, floats: a.value };
    case "strings": return { name, type: T.STRINGS, strings: a.value.map(enc) };
    case "tensor": return { name, type: T.TENSOR, t: encodeTensor("", a.value) };
    case "graph": return { name, type: T.GRAPH, g: exportGraph(a.value, name) };
    case "unsupported": throw new Error(`attribute ${name} cannot be exported: ${a.value}`);
  }
}

export function valueInfo(graph: Graph, name: string): ValueInfoProto {
  const v = graph.lookup(name); // a subgraph's output may be a captured value
  if (!v?.dtype) return { name };
  return {
    name,
    type: {
      tensorType: {
        elemType: dtype(v.dtype).onnx,
        shape: v.shape ? { dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

/** The lowest IR version that admits each ai.onnx opset (onnx/helper.py VERSION_TABLE); runtimes reject newer opsets under older IR. */
const IR_FOR_OPSET: [opset: number, ir: number][] = [[18, 8], [20, 9], [22, 10], [23, 11]];

export function irVersionFor(opset: number): number {
  return IR_FOR_OPSET.find(([o]) => opset <= o)?.[1] ?? 12;
}

function exportNode(n: Node, rename: (v: string) => string = (v) => v, opType = n.op): NodeProto {
  return {
    name: n.name,
    opType,
    domain: n.domain,
    input: n.inputs.map((i) => (i ? rename(i) : "")),
    output: n.outputs.map((o) => (o ? rename(o) : "")),
    attribute: Object.entries(n.attrs).map(([k, a]) => exportAttr(k, a)),
  };
}

const LAYOUT_DOMAIN = "kiln.layout";

/**
 * The layout pass's ops in standard ONNX, so a dump after it still runs anywhere:
 * DepthwiseConvNhwc = Transpose to NCHW, Conv with group = C, Transpose back to NHWC.
 */
function standardNodes(graph: Graph, n: Node): Node[] {
  if (n.domain === QUANT_LUT_DOMAIN && n.op === "LookupTable") return lookupNodes(n);
  if (qdqAheadOfOpset(graph, n)) return [{ ...n, domain: CONTRIB_DOMAIN }];
  if (n.domain !== LAYOUT_DOMAIN || n.op !== "DepthwiseConvNhwc") return [n];
  const C = Number(graph.values.get(n.inputs[1])?.shape?.[0]);
  const nchw = `${n.outputs[0]}__nchw_in`, out = `${n.outputs[0]}__nchw_out`;
  const perm = (value: number[]): Attr => ({ type: "ints", value });
  return [
    { name: `${n.name}__to_nchw`, op: "Transpose", domain: "", inputs: [n.inputs[0]], outputs: [nchw], attrs: { perm: perm([0, 3, 1, 2]) } },
    { name: n.name, op: "Conv", domain: "", inputs: [nchw, ...n.inputs.slice(1)], outputs: [out], attrs: { ...n.attrs, group: { type: "int", value: C } } },
    { name: `${n.name}__to_nhwc`, op: "Transpose", domain: "", inputs: [out], outputs: [n.outputs[0]], attrs: { perm: perm([0, 2, 3, 1]) } },
  ];
}

const QUANT_LUT_DOMAIN = "kiln.quant";

/**
 * A QuantizeLinear/DequantizeLinear the graph's ai.onnx opset does not have: before 10 there is
 * none, before 13 none per axis. kiln runs them alike at any opset (w8a8 quantizes PaddleOCR's
 * opset-9 models); a dump writes them as onnxruntime's com.microsoft ops (the same inputs, an
 * axis) so that it runs there, and kiln reads those back as the standard ops.
 */
function qdqAheadOfOpset(graph: Graph, n: Node): boolean {
  if (n.domain !== "" || !CONTRIB_QDQ.has(n.op)) return false;
  const opset = graph.opset("");
  if (opset >= 13) return false;
  if (opset < 10) return true;
  const scale = graph.lookup(n.inputs[1])?.shape;
  return n.attrs.axis !== undefined || (scale !== undefined && scale.length > 0 && scale.some((d) => d !== 1));
}

/** Whether exported nodes use com.microsoft (Q/DQ ahead of the opset): its import, version 1, is then added. */
function usesContrib(nodes: readonly NodeProto[]): boolean {
  return nodes.some((x) => x.domain === CONTRIB_DOMAIN);
}

/**
 * kiln.quant LookupTable(x, table) = Gather(table, Cast(x to int32)): an int8 x of -1 reads
 * index -1, Gather's last element, which is the table's entry for byte 255.
 */
function lookupNodes(n: Node): Node[] {
  const index = `${n.outputs[0]}__index`;
  return [
    { name: `${n.name}__index`, op: "Cast", domain: "", inputs: [n.inputs[0]], outputs: [index], attrs: { to: { type: "int", value: 6 } } },
    { name: n.name, op: "Gather", domain: "", inputs: [n.inputs[1], index], outputs: [n.outputs[0]], attrs: { axis: { type: "int", value: 0 } } },
  ];
}

/**
 * Fused nodes become model-local ONNX functions whose body is the original subgraph, so a dump
 * runs in any runtime and opens in Netron. One function per distinct body (op name plus a
 * suffix when the same ops differ in attributes or wiring).
 */
class FunctionTable {
  readonly functions: FunctionProto[] = [];
  private readonly byKey = new Map<string, string>();
  private readonly used = new Map<string, number>();
  constructor(private readonly graph: Graph) {}

  nameFor(n: Node): string {
    const body = n.body!;
    const formal = new Map<string, string>();
    n.inputs.forEach((v, k) => v && !formal.has(v) && formal.set(v, `in${k}`));
    n.outputs.forEach((v, k) => v && formal.set(v, `out${k}`));
    const rename = (v: string) => formal.get(v) ?? `t_${v}`;
    const nodes = body.flatMap((b) => standardNodes(this.graph, b)).map((b) => exportNode(b, rename));
    const key = JSON.stringify([n.op, n.inputs.length, n.outputs.length, nodes.map((x) => [x.opType, x.domain, x.input, x.output, x.attribute])]);
    let name = this.byKey.get(key);
    if (name) return name;
    const count = (this.used.get(n.op) ?? 0) + 1;
    this.used.set(n.op, count);
    name = count === 1 ? n.op : `${n.op}_${count}`;
    this.byKey.set(key, name);
    this.functions.push({
      name,
      domain: FUSED_DOMAIN,
      input: n.inputs.map((_, k) => `in${k}`),
      output: n.outputs.map((_, k) => `out${k}`),
      node: nodes.map((x, k) => ({ ...x, name: `${name}_${k}` })),
      opsetImport: [...this.graph.opsets, ...(usesContrib(nodes) && !this.graph.opsets.has(CONTRIB_DOMAIN) ? [[CONTRIB_DOMAIN, 1] as const] : [])]
        .filter(([d]) => d !== FUSED_DOMAIN && d !== LAYOUT_DOMAIN && d !== QUANT_LUT_DOMAIN).map(([domain, version]) => ({ domain, version })),
      docString: `kiln fused group: ${n.meta?.fused ?? n.op}`,
    });
    return name;
  }
}

/** A graph as a GraphProto: nodes in order, constants as initializers, types as value_info (a subgraph's captured names stay bare references). */
function exportGraph(graph: Graph, name: string, functions?: FunctionTable, options: ExportOptions = {}): GraphProto {
  const order = graph.topoOrder();
  const nodes: NodeProto[] = order.flatMap((n) => (n.body && functions ? [exportNode(n, undefined, functions.nameFor(n))] : standardNodes(graph, n).map((x) => exportNode(x))));
  const produced = new Set(order.flatMap((n) => n.outputs));
  const inputs = new Set(graph.inputs);
  const initializers = [...graph.values.values()]
    .filter((v) => v.const && !produced.has(v.name) && !inputs.has(v.name))
    .map((v) => encodeTensor(v.name, v.const!));
  const io = new Set([...graph.inputs, ...graph.outputs]);
  const inner = options.valueInfo === false ? [] : [...produced].filter((n) => n && !io.has(n) && graph.values.get(n)?.dtype).map((n) => valueInfo(graph, n));
  return {
    name,
    node: nodes,
    initializer: initializers,
    input: graph.inputs.map((i) => valueInfo(graph, i)),
    output: graph.outputs.map((o) => valueInfo(graph, o)),
    valueInfo: inner,
  };
}

export function exportModel(graph: Graph, options: ExportOptions = {}): Uint8Array {
  const functions = new FunctionTable(graph);
  const main = exportGraph(graph, "kiln", functions, options);
  const opsets = new Map(graph.opsets);
  opsets.delete(LAYOUT_DOMAIN); // their ops are exported as standard ones
  opsets.delete(QUANT_LUT_DOMAIN);
  if (functions.functions.length) opsets.set(FUSED_DOMAIN, 1);
  if (!opsets.has(CONTRIB_DOMAIN) && (usesContrib(main.node ?? []) || functions.functions.some((f) => usesContrib(f.node ?? [])))) opsets.set(CONTRIB_DOMAIN, 1);
  const model: import("onnx-proto").onnx.IModelProto = {
    irVersion: irVersionFor(graph.opsets.get("") ?? 1),
    producerName: options.producer ?? "kiln",
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    functions: functions.functions,
    graph: main,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
