// Text IR -> Graph: the inverse of print.ts, so that pass tests can be written as IR text in,
// IR text out. `opaque<...>` constants (large tensors printed as a digest) cannot be parsed back.
import { dtype as dtypeInfo, isDTypeName, type DTypeName, type TypedArray } from "../../runtime/dtypes.js";
import { encodeValue, isCoded, packCodes } from "../../runtime/lowbit.js";
import { KilnError } from "../../runtime/errors.js";
import { Graph, type Attr, type Dim, type Node, type Tensor, type Value } from "./graph.js";

type Tok = { kind: "id" | "str" | "num" | "punct" | "val"; text: string; pos: number };

function tokenize(line: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s*(?:(%"(?:[^"\\]|\\.)*"|%[A-Za-z_][A-Za-z0-9_.\-/:]*)|("(?:[^"\\]|\\.)*")|(-?(?:\d+\.?\d*(?:e[+-]?\d+)?|inf|nan))|([A-Za-z_][A-Za-z0-9_.\-/]*)|(::|[=[\](){}<>,:!?_#]))/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < line.length) {
    re.lastIndex = pos;
    m = re.exec(line);
    if (!m || m[0].length === 0) {
      if (/^\s*$/.test(line.slice(pos))) break;
      throw new Error(`unexpected text at column ${pos + 1}: ${line.slice(pos, pos + 20)}`);
    }
    pos = re.lastIndex;
    if (m[1]) toks.push({ kind: "val", text: m[1].startsWith('%"') ? JSON.parse(m[1].slice(1)) : m[1].slice(1), pos });
    else if (m[2]) toks.push({ kind: "str", text: JSON.parse(m[2]), pos });
    else if (m[3]) toks.push({ kind: "num", text: m[3], pos });
    else if (m[4]) toks.push({ kind: "id", text: m[4], pos });
    else toks.push({ kind: "punct", text: m[5], pos });
  }
  return toks;
}

class Cursor {
  i = 0;
  constructor(readonly toks: Tok[]) {}
  peek(): Tok | undefined { return this.toks[this.i]; }
  next(): Tok {
    const t = this.toks[this.i++];
    if (!t) throw new Error("unexpected end of line");
    return t;
  }
  is(text: string): boolean { return this.peek()?.text === text && this.peek()?.kind !== "str"; }
  eat(text: string): boolean {
    if (this.is(text)) { this.i++; return true; }
    return false;
  }
  expect(text: string): void {
    const t = this.next();
    if (t.text !== text || t.kind === "str") throw new Error(`expected '${text}' but found '${t.text}'`);
  }
  done(): boolean { return this.i >= this.toks.length; }
}

function parseNum(text: string): number {
  if (text === "nan" || text === "-nan") return NaN;
  if (text === "inf") return Infinity;
  if (text === "-inf") return -Infinity;
  return Number(text);
}

function parseType(c: Cursor, v: Value): void {
  if (c.eat("!")) { v.unsupportedType = c.next().text; return; }
  if (c.eat("?")) return;
  const dt = c.next().text;
  if (!isDTypeName(dt)) throw new Error(`unknown dtype ${dt}`);
  v.dtype = dt;
  if (c.eat("[")) {
    const dims: Dim[] = [];
    while (!c.eat("]")) {
      const t = c.next();
      if (t.kind === "num" && !(Number.isSafeInteger(Number(t.text)) && Number(t.text) >= 0)) throw new Error(`a dim is a non-negative integer or a name, got ${t.text}`);
      dims.push(t.kind === "num" ? Number(t.text) : t.text);
      c.eat(",");
    }
    v.shape = dims;
  }
}

function parseList(c: Cursor): string[] {
  c.expect("[");
  const out: string[] = [];
  while (!c.eat("]")) {
    out.push(c.next().text);
    c.eat(",");
  }
  return out;
}

function parseTensorBody(c: Cursor, dt: DTypeName, dims: number[]): Tensor {
  const info = dtypeInfo(dt);
  const n = dims.reduce((a, b) => a * b, 1);
  // packed 4- and 2-bit types print one value per element: gathered here as codes, packed at the end
  const packed = info.bits < 8;
  const data = packed ? new Array<number>(n) : new info.array(n);
  // coded types (float16, bfloat16, float8, 4- and 2-bit) print their values: stored as their codes
  const coded = isCoded(dt);
  const put = (i: number, text: string) => {
    (data as unknown as (number | bigint)[])[i] = info.big ? BigInt(text) : coded ? encodeValue(dt, parseNum(text)) : parseNum(text);
  };
  const kind = c.next().text;
  c.expect("<");
  if (kind === "splat") {
    const t = c.next().text;
    for (let i = 0; i < n; i++) put(i, t);
  } else if (kind === "dense") {
    const vals = parseList(c);
    if (vals.length !== n) throw new Error(`dense<> has ${vals.length} values, the type needs ${n}`);
    vals.forEach((t, i) => put(i, t));
  } else {
    throw new Error(`cannot parse a ${kind}<> constant back (only dense<> and splat<>)`);
  }
  while (!c.eat(">")) c.next();
  return { dtype: dt, dims, data: packed ? packCodes(dt, data as number[]) : data as TypedArray };
}

function parseAttr(c: Cursor): Attr {
  const t = c.peek()!;
  if (t.kind === "str") { c.next(); return { type: "string", value: t.text }; }
  if (t.kind === "num") {
    c.next();
    return /[.en]/.test(t.text) && !/^-?\d+$/.test(t.text) ? { type: "float", value: parseNum(t.text) } : { type: "int", value: Number(t.text) };
  }
  if (t.text === "f") { c.next(); return { type: "floats", value: parseList(c).map(parseNum) }; }
  // filled by the node's `graph NAME {` block (parseLines)
  if (t.text === "graph" && t.kind === "id") { c.next(); return { type: "graph", value: undefined as unknown as Graph }; }
  if (t.text === "[") {
    const save = c.i;
    c.next();
    const first = c.peek();
    c.i = save;
    if (first?.kind === "str") return { type: "strings", value: parseList(c) };
    return { type: "ints", value: parseList(c).map(Number) };
  }
  if (isDTypeName(t.text)) {
    const v: Value = { name: "" };
    parseType(c, v);
    return { type: "tensor", value: parseTensorBody(c, v.dtype!, (v.shape ?? []) as number[]) };
  }
  throw new Error(`cannot parse attribute value '${t.text}'`);
}

export function parseGraph(text: string): Graph {
  const graph = new Graph();
  graph.opsets.clear();
  parseLines(graph, text.split("\n"), 0);
  if (!graph.opsets.has("")) graph.opsets.set("", 13);
  return graph;
}

/** The lines of a `graph NAME {` block up to its closing `}` (nested blocks included), and the index after it. */
function blockLines(lines: string[], from: number): { inner: string[]; next: number } {
  let depth = 1;
  for (let i = from; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "}") depth--;
    else if (/\{\s*$/.test(l)) depth++;
    if (depth === 0) return { inner: lines.slice(from, i), next: i + 1 };
  }
  throw new KilnError("INVALID_MODEL", `IR text line ${from}: a subgraph block is not closed with "}"`);
}

function parseLines(graph: Graph, lines: string[], firstLine: number): void {
  /** the fused node whose body lines are being read, if any */
  let open: Node | undefined;
  /** the last node read, added once its subgraph blocks (if any) are attached */
  let pending: Node | undefined;
  /** what defined each value so far (an input, a const, a top-level node's output): each is defined once */
  const defined = new Map<string, string>();
  const define = (name: string, as: string) => {
    const before = defined.get(name);
    // two nodes writing one value: Graph.addNode says which
    if (before && !(before === "a node's output" && as === before)) throw new Error(`%${name} is defined twice, as ${before} and as ${as}`);
    defined.set(name, as);
  };
  const flush = () => {
    if (pending) graph.addNode(pending);
    pending = undefined;
  };
  for (let lineNo = 0; lineNo < lines.length; lineNo++) {
    const raw = lines[lineNo];
    let line = raw.replace(/^\s+/, "");
    if (!line || line.startsWith("#")) continue;
    const sub = /^graph\s+("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.\-/:]*)\s*\{\s*$/.exec(line);
    if (sub && pending) {
      const key = sub[1].startsWith('"') ? JSON.parse(sub[1]) as string : sub[1];
      const { inner, next } = blockLines(lines, lineNo + 1);
      const body = new Graph();
      body.outer = graph;
      body.opsets = graph.opsets;
      body.raisedFrom = graph.raisedFrom;
      parseLines(body, inner, firstLine + lineNo + 1);
      if (pending.attrs[key]?.type !== "graph") throw new KilnError("INVALID_MODEL", `IR text line ${firstLine + lineNo + 1}: node ${JSON.stringify(pending.name)} has no graph attribute ${JSON.stringify(key)}`);
      pending.attrs[key] = { type: "graph", value: body };
      lineNo = next - 1;
      continue;
    }
    flush();
    if (open && line === "}") {
      graph.addNode(open);
      open = undefined;
      continue;
    }
    let opensBody = false;
    if (/\}\s*\{\s*$/.test(line)) {
      opensBody = true;
      line = line.replace(/\s*\{\s*$/, "");
    }
    try {
      const c = new Cursor(tokenize(line));
      if (c.eat("kiln.graph")) {
        c.expect("opsets");
        c.expect("(");
        while (!c.eat(")")) {
          const d = c.next().text;
          c.expect("=");
          graph.opsets.set(d, Number(c.next().text));
          c.eat(",");
        }
        continue;
      }
      if (c.eat("input")) {
        const v = graph.value(c.next().text);
        define(v.name, "an input");
        c.expect(":");
        parseType(c, v);
        graph.inputs.push(v.name);
        continue;
      }
      if (c.eat("output")) {
        graph.outputs.push(c.next().text);
        continue;
      }
      if (c.eat("const")) {
        const v = graph.value(c.next().text);
        define(v.name, "a const");
        c.expect(":");
        parseType(c, v);
        c.expect("=");
        v.const = parseTensorBody(c, v.dtype!, (v.shape ?? []) as number[]);
        continue;
      }
      // node: outs = [domain::]Op[attrs](ins) {meta}
      const outputs: string[] = [];
      do {
        const t = c.next();
        if (t.text === "_" && t.kind !== "str") { outputs.push(""); continue; }
        if (t.kind !== "val") throw new Error(`expected an output value, found '${t.text}'`);
        outputs.push(t.text);
        if (c.eat(":")) parseType(c, graph.value(t.text));
      } while (c.eat(","));
      c.expect("=");
      let op = c.next().text;
      let domain = "";
      if (c.eat("::")) { domain = op; op = c.next().text; }
      const attrs: Record<string, Attr> = {};
      if (c.eat("[")) {
        while (!c.eat("]")) {
          const k = c.next().text;
          c.expect("=");
          attrs[k] = parseAttr(c);
          c.eat(",");
        }
      }
      c.expect("(");
      const inputs: string[] = [];
      while (!c.eat(")")) {
        const t = c.next();
        inputs.push(t.kind === "val" ? t.text : "");
        c.eat(",");
      }
      const meta: Record<string, string> = {};
      if (c.eat("{")) {
        while (!c.eat("}")) {
          const k = c.next().text;
          c.expect("=");
          meta[k] = c.next().text;
          c.eat(",");
        }
      }
      const name = meta.name ?? graph.uniqueNodeName(op.toLowerCase());
      delete meta.name;
      const node: Node = { name, op, domain, inputs, outputs, attrs, ...(Object.keys(meta).length ? { meta } : {}) };
      if (!c.done()) throw new Error(`unexpected '${c.peek()!.text}' after the node`);
      if (!open) outputs.filter(Boolean).forEach((o) => define(o, "a node's output"));
      if (open) open.body!.push(node);
      else if (opensBody) open = { ...node, body: [] };
      else pending = node;
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new KilnError("INVALID_MODEL", `IR text line ${firstLine + lineNo + 1}: ${(e as Error).message}: ${line}`);
    }
  }
  flush();
  if (open) throw new KilnError("INVALID_MODEL", `IR text: the body of fused node ${JSON.stringify(open.name)} is not closed with "}"`);
  const unfilled = graph.nodeList().find((n) => Object.values(n.attrs).some((a) => a.type === "graph" && !a.value));
  if (unfilled) throw new KilnError("INVALID_MODEL", `IR text: node ${JSON.stringify(unfilled.name)} has a graph attribute without its "graph NAME {" block`);
}
