// The IR as stable, readable text (and back, see parse.ts). One line per value or node:
//
//   kiln.graph opsets("" = 13)
//   input %x : float32[N,3,224,224]
//   const %w : float32[2,2] = dense<[1, 2, 3, 4]>
//   %y : float32[N,2] = MatMul(%x, %w)
//   %a : float32[1,2], %b : float32[1,2] = Split[axis=0](%y) {name="split_1"}
//   output %y
import { dtype, sizeOf } from "../../runtime/dtypes.js";
import { decodeValue, isCoded, unpackCodes } from "../../runtime/lowbit.js";
import type { Attr, Dim, Graph, Node, Tensor, Value } from "./graph.js";
import { isLazySplat, splatValue } from "./splat.js";
import { tensorBytes } from "./raw.js";

const BARE = /^[A-Za-z_][A-Za-z0-9_.\-/:]*$/;
/** Constants up to this many elements print their values; larger ones print as a digest. */
export const PRINT_LIMIT = 64;

export function quoteName(s: string): string {
  return BARE.test(s) ? s : JSON.stringify(s);
}

export function printType(v: Value | undefined): string {
  if (!v) return "?";
  if (v.unsupportedType) return `!${v.unsupportedType}`;
  const dt = v.dtype ?? "?";
  return v.shape ? `${dt}[${v.shape.map(printDim).join(",")}]` : dt;
}

function printDim(d: Dim): string {
  return typeof d === "number" ? String(d) : quoteName(d);
}

const printNumberAny = (x: number | bigint) => printNumber(x);

function printNumber(x: number | bigint): string {
  if (typeof x === "bigint") return x.toString();
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Object.is(x, -0)) return "-0";
  return String(x);
}

/** The shortest decimal that reads back as the same float32. */
function printFloat32(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return printNumber(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** A constant's text: dense up to `limit` elements (PRINT_LIMIT), else opaque<> (a digest parse.ts cannot read back). */
export function printTensor(t: Tensor, limit = PRINT_LIMIT): string {
  // float16, bfloat16, float8 and the 4- and 2-bit types are stored as codes: print the values they stand for
  const coded = isCoded(t.dtype);
  const printNumber = coded ? (v: number | bigint) => printFloat32(decodeValue(t.dtype, Number(v)))
    : t.dtype === "float32" ? (v: number | bigint) => printFloat32(Number(v)) : printNumberAny;
  // a lazy splat prints from its one value, without building the full array
  const one = isLazySplat(t) ? splatValue(t) : undefined;
  if (one && t.dims.reduce((a, b) => a * b, 1) > 1) return `splat<${printNumber(one[0])}>`;
  // packed 4- and 2-bit types: one value per element (parse.ts packs them back)
  const packed = dtype(t.dtype).bits < 8;
  const n = packed ? sizeOf(t.dims) : t.data.length;
  const arr = packed ? unpackCodes(t.dtype, t.data as Uint8Array, n) : t.data as unknown as ArrayLike<number | bigint>;
  if (n > 1) {
    let same = true;
    for (let i = 1; i < n && same; i++) same = Object.is(arr[i], arr[0]);
    if (same) return `splat<${printNumber(arr[0])}>`;
  }
  if (n <= limit) return `dense<[${Array.from(arr, printNumber).join(", ")}]>`;
  return `opaque<${n} elements, fnv1a=${digest(t)}>`;
}

export function digest(t: Tensor): string {
  const b = tensorBytes(t);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

function printAttr(a: Attr, limit: number): string {
  switch (a.type) {
    case "int": return String(a.value);
    case "float": return Number.isInteger(a.value) ? `${a.value}.0` : printNumber(a.value);
    case "string": return JSON.stringify(a.value);
    case "ints": return `[${a.value.join(", ")}]`;
    case "floats": return `f[${a.value.map(printNumber).join(", ")}]`;
    case "strings": return `[${a.value.map((s) => JSON.stringify(s)).join(", ")}]`;
    case "tensor": return `${a.value.dtype}[${a.value.dims.join(",")}] ${printTensor(a.value, limit)}`;
    case "graph": return "graph"; // its text follows the node line (printSubgraphs)
    case "unsupported": return `<unsupported ${JSON.stringify(a.value)}>`;
  }
}

export function printNode(graph: Graph, n: Node, limit = PRINT_LIMIT): string {
  const lhs = n.outputs.map((o) => (o ? `%${quoteName(o)} : ${printType(graph.values.get(o))}` : "_")).join(", ");
  const op = n.domain ? `${quoteName(n.domain)}::${n.op}` : n.op;
  const attrs = Object.keys(n.attrs).sort().map((k) => `${k}=${printAttr(n.attrs[k], limit)}`);
  const ins = n.inputs.map((i) => (i ? `%${quoteName(i)}` : "_"));
  const meta = { name: n.name, ...(n.meta ?? {}) };
  const metaText = Object.entries(meta).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
  const line = `${lhs} = ${op}${attrs.length ? `[${attrs.join(", ")}]` : ""}(${ins.join(", ")}) {${metaText}}`;
  if (!n.body) return [line, ...printSubgraphs(n, limit)].join("\n");
  // a fused node prints the nodes it stands for, indented, between its header and "}"
  return [`${line} {`, ...n.body.map((b) => `  ${printNode(graph, b, limit)}`), "}"].join("\n");
}

/**
 * A node's subgraphs, after its line: `graph NAME {`, the subgraph's lines indented (no opsets
 * line: a subgraph shares its model's), `}`. Names it does not define are its captures.
 */
function printSubgraphs(n: Node, limit: number): string[] {
  const lines: string[] = [];
  for (const k of Object.keys(n.attrs).sort()) {
    const a = n.attrs[k];
    if (a.type !== "graph") continue;
    lines.push(`  graph ${quoteName(k)} {`);
    for (const l of printLines(a.value, limit)) lines.push(`    ${l}`);
    lines.push("  }");
  }
  return lines;
}

export interface PrintOptions {
  /** every constant in full (dense<>), so the text parses back (kiln inspect --all-constants | kiln opt -) */
  allConstants?: boolean;
}

export function printGraph(graph: Graph, options: PrintOptions = {}): string {
  const opsets = [...graph.opsets].sort(([a], [b]) => a.localeCompare(b)).map(([d, v]) => `${JSON.stringify(d)} = ${v}`);
  return [`kiln.graph opsets(${opsets.join(", ")})`, ...printLines(graph, options.allConstants ? Infinity : PRINT_LIMIT)].join("\n") + "\n";
}

function printLines(graph: Graph, limit: number): string[] {
  const lines: string[] = [];
  for (const i of graph.inputs) lines.push(`input %${quoteName(i)} : ${printType(graph.values.get(i))}`);
  for (const v of graph.liveConstants()) lines.push(`const %${quoteName(v.name)} : ${printType(v)} = ${printTensor(v.const!, limit)}`);
  let order: Node[];
  try {
    order = graph.topoOrder();
  } catch {
    order = graph.nodeList();
  }
  for (const n of order) lines.push(...printNode(graph, n, limit).split("\n"));
  for (const o of graph.outputs) lines.push(`output %${quoteName(o)}`);
  return lines;
}
