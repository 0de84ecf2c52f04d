// ModelProto bytes -> IR Graph: decode, resolve initializers and Constant-free attributes,
// record opsets and declared types. Validation of the resulting graph is verify.ts's job.
import { dtypeFromOnnx, onnxTypeName } from "../../runtime/dtypes.js";
import { KilnError } from "../../runtime/errors.js";
import type { ModelInfo } from "../../runtime/manifest.js";
import { Graph, type Attr, type ContainerType, type Dim, type Node, type Value } from "../ir/graph.js";
import { CONTRIB_DOMAIN, CONTRIB_QDQ, domainLabel, NEWEST_OPSET } from "../ops/opsets.js";
import { onnx, toNumber, type AttributeProto, type GraphProto, type ModelProto, type TypeProto } from "./proto.js";
import { decodeTensor, UnsupportedTypeError, type ExternalDataReader } from "./tensor.js";

export interface ImportOptions {
  readExternal?: ExternalDataReader;
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new KilnError("INVALID_MODEL", `not a valid ONNX model (protobuf decoding failed: ${(e as Error).message}); the file may be truncated or not an .onnx file`);
  }
  if (!model.graph) throw new KilnError("INVALID_MODEL", "the ONNX model has no graph; the file may be truncated or not an .onnx file");
  return model;
}

/** each imported graph's way to import its model again (symbolic dims probe fresh copies: compiler/driver/symbolic.ts) */
const sources = new WeakMap<Graph, () => Graph>();

/** A fresh import of the model a graph was imported from, or undefined for a graph made otherwise. */
export function reimport(graph: Graph): Graph | undefined {
  return sources.get(graph)?.();
}

export function importModel(bytes: Uint8Array, options: ImportOptions = {}): Graph {
  const graph = importOnce(bytes, options);
  sources.set(graph, () => importOnce(bytes, options));
  return graph;
}

function importOnce(bytes: Uint8Array, options: ImportOptions): Graph {
  const model = decodeModel(bytes);
  const graph = new Graph();
  readOpsetImports(model, graph);
  try {
    importGraph(model.graph!, graph, options);
  } catch (e) {
    if (e instanceof KilnError) throw e;
    // the protobuf decoded, but its contents do not hang together (missing required parts)
    throw new KilnError("INVALID_MODEL", `the model's graph is malformed: ${(e as Error).message}`);
  }
  checkOpsetsKnown(graph);
  graph.info = modelInfo(model, graph);
  return graph;
}

/** The model's own description (doc strings, producer, metadata, declared input dims), for the manifest. */
function modelInfo(model: ModelProto, graph: Graph): ModelInfo {
  const gp = model.graph!;
  const info: ModelInfo = {};
  const doc = model.docString || gp.docString;
  if (doc) info.doc = doc;
  if (gp.name) info.name = gp.name;
  const producer = [model.producerName, model.producerVersion].filter((s) => s).join(" ");
  if (producer) info.producer = producer;
  if (model.domain) info.domain = model.domain;
  const version = toNumber((model.modelVersion ?? 0) as number);
  if (Number.isSafeInteger(version) && version > 0) info.version = version;
  const metadata = (model.metadataProps ?? []).filter((p) => p.key);
  if (metadata.length) info.metadata = Object.fromEntries(metadata.map((p) => [p.key!, p.value ?? ""]));
  const declared = graph.inputs.filter((n) => graph.values.get(n)?.shape).map((n) => [n, [...graph.values.get(n)!.shape!]]);
  if (declared.length) info.declared = Object.fromEntries(declared);
  const docs = [...(gp.input ?? []), ...(gp.output ?? [])].filter((v) => v.name && v.docString).map((v) => [v.name!, v.docString!]);
  if (docs.length) info.docs = Object.fromEntries(docs);
  return info;
}

/** Opset versions are integers from 1, one per domain. */
function readOpsetImports(model: ModelProto, graph: Graph): void {
  for (const o of model.opsetImport ?? []) {
    const domain = o.domain === "ai.onnx" ? "" : o.domain ?? "";
    const version = toNumber(o.version as number);
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new KilnError("INVALID_MODEL", `the model imports ${domainLabel(domain)} opset ${version}; opset versions are integers from 1`, { domain, opset: version });
    }
    const before = graph.opsets.get(domain);
    if (before !== undefined && before !== version) {
      throw new KilnError("INVALID_MODEL", `the model imports ${domainLabel(domain)} twice, as opsets ${before} and ${version}`, { domain });
    }
    graph.opsets.set(domain, version);
  }
  if (!graph.opsets.has("")) graph.opsets.set("", 1);
}

/** A domain a node uses, imported at an opset newer than kiln knows, is UNSUPPORTED_OP (opsets.ts says why). */
function checkOpsetsKnown(graph: Graph): void {
  for (const n of graph.nodeList()) {
    const newest = NEWEST_OPSET[n.domain];
    const version = graph.opsets.get(n.domain);
    if (newest === undefined || version === undefined || version <= newest) continue;
    const d = domainLabel(n.domain);
    throw new KilnError("UNSUPPORTED_OP", `the model imports ${d} opset ${version}, newer than kiln knows (${d} opsets 1 to ${newest}), and an operator's meaning may have changed since; convert the model to ${d} opset ${newest} or lower (onnx.version_converter)`,
      { node: n.name, op: n.op, domain: n.domain, opset: version });
  }
}

function importGraph(gp: GraphProto, graph: Graph, options: ImportOptions): void {
  const initNames = new Set<string>();
  for (const t of gp.initializer ?? []) {
    const name = t.name ?? "";
    if (initNames.has(name)) throw new KilnError("INVALID_MODEL", `the model has two initializers named ${JSON.stringify(name)}; ONNX names each value once`);
    const v = graph.value(name);
    try {
      v.const = decodeTensor(t, options.readExternal);
      v.dtype = v.const.dtype;
      v.shape = [...v.const.dims];
    } catch (e) {
      if (!(e instanceof UnsupportedTypeError)) throw e;
      v.unsupportedType = e.typeName;
    }
    initNames.add(name);
  }
  for (const vi of [...(gp.input ?? []), ...(gp.valueInfo ?? []), ...(gp.output ?? [])]) {
    const v = graph.value(vi.name ?? "");
    if (v.const) continue;
    applyType(v, vi.type ?? undefined);
  }
  graph.inputs = (gp.input ?? []).map((i) => i.name ?? "").filter((n) => !initNames.has(n));
  graph.outputs = (gp.output ?? []).map((o) => o.name ?? "");
  (gp.node ?? []).forEach((np, i) => {
    const op = np.opType ?? "";
    const domain = np.domain === "ai.onnx" ? "" : np.domain ?? "";
    const node: Node = {
      name: np.name || `${op}_${i}`,
      op,
      // onnxruntime's com.microsoft QuantizeLinear/DequantizeLinear (its quantizer's contrib QDQ,
      // kiln's dumps below ai.onnx opset 13) are the standard ops, which kiln runs at any opset
      domain: domain === CONTRIB_DOMAIN && CONTRIB_QDQ.has(op) ? "" : domain,
      inputs: [...(np.input ?? [])],
      outputs: [...(np.output ?? [])],
      attrs: {},
    };
    for (const a of np.attribute ?? []) node.attrs[a.name ?? ""] = importAttr(a, node, graph, options);
    const given = node.outputs.find((o) => o && (initNames.has(o) || graph.inputs.includes(o)));
    if (given !== undefined) {
      const what = initNames.has(given) ? "an initializer" : "a graph input";
      throw new KilnError("INVALID_MODEL", `node ${JSON.stringify(node.name)} (${op}) writes ${JSON.stringify(given)}, which is also ${what}; ONNX names each value once`, { node: node.name, op });
    }
    graph.addNode(node);
  });
}

function applyType(v: Value, t: TypeProto | undefined): void {
  if (!t) return;
  if (t.tensorType) {
    const code = t.tensorType.elemType ?? 0;
    const info = dtypeFromOnnx(code);
    if (info) v.dtype = info.name;
    else if (code !== 0) v.unsupportedType = onnxTypeName(code);
    if (t.tensorType.shape) {
      v.shape = (t.tensorType.shape.dim ?? []).map((d, i): Dim => {
        if (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam && toNumber(d.dimValue as number) >= 0) {
          return toNumber(d.dimValue as number);
        }
        return d.dimParam || `${v.name}_d${i}`;
      });
    }
  } else if (t.sequenceType || t.optionalType) {
    const c = containerType(t);
    if (typeof c === "string") v.unsupportedType = c;
    else v.container = c;
  } else if (t.sparseTensorType) {
    v.unsupportedType = "sparse_tensor";
  } else if (t.mapType) {
    v.unsupportedType = "map";
  }
}

/** A sequence of tensors, an optional tensor or an optional sequence of tensors; else the name of the type kiln does not support. */
export function containerType(t: TypeProto): ContainerType | string {
  const tensorDType = (e: TypeProto | null | undefined) => {
    const code = e?.tensorType?.elemType ?? 0;
    return e?.tensorType ? dtypeFromOnnx(code)?.name : undefined;
  };
  if (t.sequenceType) {
    const dt = tensorDType(t.sequenceType.elemType);
    return dt ? { kind: "sequence", dtype: dt } : "sequence";
  }
  const e = t.optionalType?.elemType;
  if (e?.sequenceType) {
    const dt = tensorDType(e.sequenceType.elemType);
    return dt ? { kind: "optional", dtype: dt, ofSequence: true } : "optional";
  }
  const dt = tensorDType(e);
  return dt ? { kind: "optional", dtype: dt } : "optional";
}

/** A subgraph attribute (If's branches, Loop's body): a Graph of its own that looks up captured names in `outer`. */
function importSubgraph(gp: GraphProto, outer: Graph, options: ImportOptions): Graph {
  const body = new Graph();
  body.outer = outer;
  body.opsets = outer.opsets;
  body.raisedFrom = outer.raisedFrom;
  importGraph(gp, body, options);
  return body;
}

function importAttr(a: AttributeProto, node: Node, graph: Graph, options: ImportOptions): Attr {
  const T = onnx.AttributeProto.AttributeType;
  const text = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());
  switch (a.type) {
    case T.INT: return { type: "int", value: toNumber(a.i as number) };
    case T.FLOAT: return { type: "float", value: a.f ?? 0 };
    case T.STRING: return { type: "string", value: text(a.s) };
    case T.INTS: return { type: "ints", value: (a.ints ?? []).map((x) => toNumber(x as number)) };
    case T.FLOATS: return { type: "floats", value: [...(a.floats ?? [])] };
    case T.STRINGS: return { type: "strings", value: (a.strings ?? []).map(text) };
    case T.TENSOR:
      if (!a.t) throw new KilnError("INVALID_MODEL", `attribute ${a.name} of node ${JSON.stringify(node.name)} is a tensor attribute without a tensor`, { node: node.name, op: node.op });
      try {
        return { type: "tensor", value: decodeTensor(a.t!, options.readExternal) };
      } catch (e) {
        if (e instanceof UnsupportedTypeError) return { type: "unsupported", value: `tensor of ${e.typeName}` };
        throw e;
      }
    case T.GRAPH:
      if (!a.g) throw new KilnError("INVALID_MODEL", `attribute ${a.name} of node ${JSON.stringify(node.name)} is a graph attribute without a graph`, { node: node.name, op: node.op });
      return { type: "graph", value: importSubgraph(a.g, graph, options) };
    default:
      if (a.refAttrName) return { type: "unsupported", value: `reference to function attribute ${a.refAttrName}` };
      return { type: "unsupported", value: `attribute type ${a.type} of ${node.op}.${a.name}` };
  }
}
