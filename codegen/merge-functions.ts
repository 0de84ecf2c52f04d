// One function per distinct body: functions that differ only in their i32 constants and memory
// offsets (same-shaped layers: SqueezeNet's fire modules emit the same Winograd code at different
// addresses) become one function that takes the differing values as i32 parameters, and each
// original keeps its index as a thin function that passes its own values (direct calls go
// straight to the merged function with them). The engine compiles each distinct body once: for a
// one-shot `kiln run`, V8's optimizing compile of the module is on the critical path.
//
// Binaryen's merge-similar-functions does this for constants, but kiln's kernels put addresses
// in memory offsets too (a bias read at `offset=283456`); this rewrite makes such an offset a
// parameter added to the address. An address plus an offset is the same byte as long as it stays
// inside the memory, which every kernel access does. Each such access costs an add where the
// offset was free: a group whose members differ in the offsets of more than MAX_ACCESSES accesses
// (GEMM micro-kernels, outlined loop bodies whose every load reads another tensor) stays apart,
// as merging those measured 4-16% slower on ResNet-50's steady run. It works on the binary
// Binaryen wrote, and leaves the module unchanged wherever it meets something it does not read
// (wasm-code.ts). One pass: a second, over the callers of merged functions, found nothing more to
// merge under these limits on SqueezeNet or ResNet-50.
import { V8_LIMITS } from "./wasm-limits.js";
import { Bytes, readModule, readS32, readU32, scanBody, sleb, uleb, Unknown, type Func, type Mark, type WasmModule as Module } from "./wasm-code.js";
import { sections } from "../runtime/sections.js";

/** bodies smaller than this are left alone: the call they add costs more than their compile */
const MIN_BODY_BYTES = 256;
/** a group whose members differ in more values than this stays unmerged (params past the registers are memory reads) */
const MAX_PARAMS = 8;
/** ... or in the offsets of more memory accesses than this (see above) */
const MAX_ACCESSES = 4;
/** a list of same-keyed functions that does not merge whole is split into subsets up to this length */
const GREEDY_UP_TO = 32;

export interface MergeStats {
  /** functions that became thin callers of a merged body */
  merged: number;
  /** bodies added, one per group */
  groups: number;
}

/**
 * The module with same-shaped functions merged (as above), or the bytes as given when nothing
 * merges or the module holds something this does not read.
 */
export function mergeSimilarFunctions(wasm: Uint8Array, stats?: MergeStats): Uint8Array {
  try {
    return mergeRound(wasm, stats) ?? wasm;
  } catch (e) {
    if (!(e instanceof Unknown)) throw e;
    if (stats) stats.merged = stats.groups = 0;
    return wasm;
  }
}


/** a body's locals: their declaration's bytes, how many, and where the expression starts */
function localsOf(body: Uint8Array): { decl: Uint8Array; count: number; code: number } {
  let [groups, p] = readU32(body, 0);
  let count = 0;
  for (; groups > 0; groups--) {
    let n: number;
    [n, p] = readU32(body, p);
    count += n;
    p++;
  }
  return { decl: body.subarray(0, p), count, code: p };
}

/** the [from, to) byte runs of a body between its holes (i32.const immediates and offsets) */
function runsOf(f: Func, s: Scanned): [number, number][] {
  const runs: [number, number][] = [];
  let at = 0;
  for (const mk of s.marks) {
    if (mk.kind !== "const" && mk.kind !== "load" && mk.kind !== "store") continue;
    runs.push([at, s.code + mk.imm]);
    at = s.code + mk.end;
  }
  runs.push([at, f.body.length]);
  return runs;
}

/**
 * A hash of what a function's body is once its holes are left out (two 32-bit hashes of the runs,
 * each run's length mixed in): functions with the same code have the same key, and functions with
 * the same key are compared run by run (sameCode) before they merge.
 */
function keyOf(f: Func, runs: readonly [number, number][]): string {
  let h1 = 0x811c9dc5, h2 = f.type + 1;
  const b = f.body;
  for (const [from, to] of runs) {
    for (let k = from; k < to; k++) {
      h1 = Math.imul(h1 ^ b[k], 0x01000193);
      h2 = (Math.imul(h2, 31) + b[k]) | 0;
    }
    h1 = Math.imul(h1 ^ (to - from), 0x01000193);
    h2 = (Math.imul(h2, 31) + 0x100 + to - from) | 0;
  }
  return `${f.type}:${runs.length}:${h1 >>> 0}:${h2 >>> 0}`;
}

/** whether two bodies are the same code but for their holes' values */
function sameCode(a: Func, ra: readonly [number, number][], b: Func, rb: readonly [number, number][]): boolean {
  if (a.type !== b.type || ra.length !== rb.length) return false;
  return ra.every(([from, to], k) => {
    const [bf, bt] = rb[k];
    if (to - from !== bt - bf) return false;
    for (let j = 0; j < to - from; j++) if (a.body[from + j] !== b.body[bf + j]) return false;
    return true;
  });
}

interface Scanned {
  code: number;
  locals: number;
  marks: Mark[];
  holeMarks?: Mark[];
}

/** a value a member gives for a hole: an i32.const's value, or a memory access's offset */
function holeValue(f: Func, s: Scanned, mk: Mark): number {
  return mk.kind === "const" ? readS32(f.body, s.code + mk.imm) : readU32(f.body, s.code + mk.imm)[0];
}

/** what a hole of the merged body reads: parameter `p` (-1: the value all members share), plus `delta` for an offset */
interface Hole {
  p: number;
  delta: number;
}

interface Group {
  members: number[];
  /** per hole (each const/load/store mark, in order) */
  holes: Hole[];
  /** per parameter, each member's value */
  values: number[][];
  /** the merged function's index */
  index: number;
  type: number;
}

/**
 * The parameters a group's merged body takes: one per distinct vector of the members' values,
 * where they differ. An offset whose values are another parameter's plus the same amount for every
 * member (the next row of the same tensor) reads that parameter and keeps the amount as its offset.
 */
type Plan = { holes: Hole[]; values: number[][] };

function planHoles(mod: Module, scanned: readonly Scanned[], members: readonly number[]): Plan | undefined {
  const holes: Hole[] = [];
  const values: number[][] = [];
  const byValues = new Map<string, number>();
  let accesses = 0;
  for (const mk of scanned[members[0]].marks) {
    if (mk.kind !== "const" && mk.kind !== "load" && mk.kind !== "store") continue;
    const k = holes.length;
    const vs = members.map((f) => holeValue(mod.funcs[f], scanned[f], holeMark(scanned[f], k)));
    if (vs.every((v) => v === vs[0])) {
      holes.push({ p: -1, delta: 0 });
      continue;
    }
    if (mk.kind !== "const" && ++accesses > MAX_ACCESSES) return undefined;
    const key = vs.join(",");
    let p = byValues.get(key);
    if (p !== undefined) {
      holes.push({ p, delta: 0 });
      continue;
    }
    if (mk.kind !== "const") {
      // an offset: values[p] + delta, delta the same for every member and not negative
      const shared = values.findIndex((ws) => {
        const d = vs[0] - ws[0];
        return d >= 0 && vs.every((v, m) => v - ws[m] === d) && ws.every((w) => w >= 0);
      });
      if (shared >= 0) {
        holes.push({ p: shared, delta: vs[0] - values[shared][0] });
        continue;
      }
    }
    byValues.set(key, (p = values.length));
    values.push(vs);
    holes.push({ p, delta: 0 });
    if (values.length > MAX_PARAMS) return undefined;
  }
  // the merged body's locals: the originals, the parameters added, up to five scratch locals
  const first = scanned[members[0]];
  if (mod.types[mod.funcs[members[0]].type].params.length + first.locals + values.length + 5 > V8_LIMITS.locals) return undefined;
  return values.length ? { holes, values } : undefined;
}

/**
 * The members of a key's list that merge, with their plans: all of them, or where they differ in
 * too many values (layers of two shapes: the Winograd domain's rows at another stride), the
 * subsets that merge, found greedily from the first member (for lists up to GREEDY_UP_TO).
 */
function subgroups(mod: Module, scanned: readonly Scanned[], same: readonly number[]): [number[], Plan][] {
  if (same.length < 2) return [];
  const whole = planHoles(mod, scanned, same);
  if (whole) return [[[...same], whole]];
  if (same.length > GREEDY_UP_TO) return [];
  const out: [number[], Plan][] = [];
  let rest = [...same];
  while (rest.length > 1) {
    const members = [rest[0]];
    let plan: Plan | undefined;
    for (const f of rest.slice(1)) {
      const tried = planHoles(mod, scanned, [...members, f]);
      if (!tried) continue;
      members.push(f);
      plan = tried;
    }
    if (plan) out.push([members, plan]);
    rest = rest.filter((f) => !members.includes(f));
  }
  return out;
}

/** the k-th const/load/store mark of a body */
function holeMark(s: Scanned, k: number): Mark {
  s.holeMarks ??= s.marks.filter((mk) => mk.kind === "const" || mk.kind === "load" || mk.kind === "store");
  return s.holeMarks[k];
}

/** a function merged into a group: the group and its place among the members */
interface Member {
  g: Group;
  m: number;
}

/** The module with its groups merged, or undefined when none merges. */
function mergeRound(wasm: Uint8Array, stats?: MergeStats): Uint8Array | undefined {
  const mod = readModule(wasm);
  const scanned: Scanned[] = mod.funcs.map((f) => {
    const { count, code } = localsOf(f.body);
    // locals are renumbered only in merged bodies, which are scanned again with them (rewrite)
    return { code, locals: count, marks: scanBody(f.body, code, f.body.length, false) };
  });
  // by key, then split where a hash collision put different code together
  const byKey = new Map<string, number[][]>();
  const runs = new Map<number, [number, number][]>();
  mod.funcs.forEach((f, k) => {
    if (f.body.length < MIN_BODY_BYTES) return;
    runs.set(k, runsOf(f, scanned[k]));
    const key = keyOf(f, runs.get(k)!);
    const lists = byKey.get(key);
    const same = lists?.find((l) => sameCode(mod.funcs[l[0]], runs.get(l[0])!, f, runs.get(k)!));
    if (same) same.push(k);
    else if (lists) lists.push([k]);
    else byKey.set(key, [[k]]);
  });
  const groups: Group[] = [];
  const groupOf = new Map<number, Member>();
  const newTypes: { params: number[]; results: number[] }[] = [];
  for (const same of [...byKey.values()].flat()) for (const [members, plan] of subgroups(mod, scanned, same)) {
    const { holes, values } = plan;
    const t = mod.types[mod.funcs[members[0]].type];
    const type = { params: [...t.params, ...values.map(() => 0x7f)], results: t.results };
    const g: Group = { members, holes, values, index: mod.imported + mod.funcs.length + groups.length, type: mod.types.length + newTypes.length };
    newTypes.push(type);
    groups.push(g);
    members.forEach((f, m) => groupOf.set(f, { g, m }));
  }
  if (!groups.length) return undefined;
  if (stats) {
    stats.groups += groups.length;
    stats.merged += groups.reduce((a, g) => a + g.members.length, 0);
  }
  // every body: members become thin callers; the rest keep their code, direct calls to members redirected
  const bodies = mod.funcs.map((f, k) => {
    const member = groupOf.get(k);
    return member ? thinBody(mod, f, member.g, member.m) : rewrite(mod, f, scanned[k], groupOf, undefined);
  });
  for (const g of groups) bodies.push(rewrite(mod, mod.funcs[g.members[0]], scanned[g.members[0]], groupOf, g));
  return rebuild(mod, newTypes, groups.map((g) => g.type), bodies);
}

/** `local.get` of each param, the member's values, a call of the merged body */
function thinBody(mod: Module, f: Func, g: Group, m: number): Uint8Array {
  const params = mod.types[f.type].params.length;
  const code: number[] = [0];
  for (let k = 0; k < params; k++) code.push(0x20, ...uleb(k));
  for (const vs of g.values) code.push(0x41, ...sleb(vs[m]));
  code.push(0x10, ...uleb(g.index), 0x0b);
  return new Uint8Array(code);
}


/**
 * A body rewritten: direct calls to merged members call the merged body with the member's values;
 * with `g`, the group's merged body: its differing constants read from the new parameters, its
 * differing offsets added to the address from them (a store's value held in a scratch local
 * meanwhile), its locals renumbered past the new parameters.
 */
function rewrite(mod: Module, f: Func, scanned: Scanned, groupOf: ReadonlyMap<number, Member>, g: Group | undefined): Uint8Array {
  const body = f.body;
  if (!g && !scanned.marks.some((mk) => mk.kind === "call" && groupOf.has(readU32(body, scanned.code + mk.imm)[0] - mod.imported))) return body;
  const s = g ? { ...scanned, marks: scanBody(body, scanned.code, body.length) } : scanned;
  const params = mod.types[f.type].params.length;
  const added = g ? g.values.length : 0;
  const out = new Bytes();
  const copy = (from: number, to: number) => out.append(body.subarray(from, to));
  // scratch locals for stores, one per value type, after the original locals
  const scratch = new Map<number, number>();
  const scratchOf = (type: number) => {
    let idx = scratch.get(type);
    if (idx === undefined) scratch.set(type, (idx = params + added + s.locals + scratch.size));
    return idx;
  };
  let at = s.code;
  let hole = -1;
  for (const mk of s.marks) {
    const op = s.code + mk.op, imm = s.code + mk.imm, end = s.code + mk.end;
    if (mk.kind === "const" || mk.kind === "load" || mk.kind === "store") hole++;
    const h = g && (mk.kind === "const" || mk.kind === "load" || mk.kind === "store") ? g.holes[hole] : undefined;
    const p = h ? h.p : -1;
    if (mk.kind === "local" && added) {
      const idx = readU32(body, imm)[0];
      copy(at, imm);
      out.push(...uleb(idx < params ? idx : idx + added));
      at = end;
    } else if (mk.kind === "call") {
      const callee = readU32(body, imm)[0] - mod.imported;
      const target = groupOf.get(callee);
      if (!target) continue;
      copy(at, op);
      for (const vs of target.g.values) out.push(0x41, ...sleb(vs[target.m]));
      out.push(0x10, ...uleb(target.g.index));
      at = end;
    } else if (p >= 0 && mk.kind === "const") {
      copy(at, op);
      out.push(0x20, ...uleb(params + p));
      at = end;
    } else if (p >= 0) {
      const get = [0x20, ...uleb(params + p)];
      copy(at, op);
      if (mk.kind === "load") out.push(...get, 0x6a);
      else {
        const tmp = uleb(scratchOf(mk.value!));
        out.push(0x21, ...tmp, ...get, 0x6a, 0x20, ...tmp);
      }
      copy(op, imm);
      out.push(...uleb(h!.delta)); // the parameter holds the rest
      at = end;
    }
  }
  copy(at, body.length);
  if (!scratch.size) {
    const whole = new Bytes();
    whole.append(body.subarray(0, s.code));
    whole.append(out.bytes);
    return whole.bytes;
  }
  // the locals' declaration, with the scratch locals appended
  const [groups, p] = readU32(body, 0);
  const whole = new Bytes();
  whole.push(...uleb(groups + scratch.size));
  whole.append(body.subarray(p, s.code));
  for (const type of scratch.keys()) whole.push(1, type);
  whole.append(out.bytes);
  return whole.bytes;
}

/** the module with the new types appended, the new functions' types declared and every body replaced */
function rebuild(mod: Module, newTypes: readonly { params: number[]; results: number[] }[], newFuncTypes: readonly number[], bodies: readonly Uint8Array[]): Uint8Array {
  const b = mod.bytes;
  const chunks: Uint8Array[] = [b.subarray(0, 8)];
  const section = (id: number, payload: Uint8Array[]) => {
    const size = payload.reduce((a, p) => a + p.length, 0);
    chunks.push(new Uint8Array([id, ...uleb(size)]), ...payload);
  };
  for (const s of sections(b)) {
    if (s.id === 1) {
      const [n, p] = readU32(b, s.payload);
      const added = newTypes.map((t) => new Uint8Array([0x60, ...uleb(t.params.length), ...t.params, ...uleb(t.results.length), ...t.results]));
      section(1, [new Uint8Array(uleb(n + newTypes.length)), b.subarray(p, s.end), ...added]);
    } else if (s.id === 3) {
      const [n, p] = readU32(b, s.payload);
      section(3, [new Uint8Array(uleb(n + newFuncTypes.length)), b.subarray(p, s.end), new Uint8Array(newFuncTypes.flatMap((t) => uleb(t)))]);
    } else if (s.id === 10) {
      section(10, [new Uint8Array(uleb(bodies.length)), ...bodies.flatMap((body) => [new Uint8Array(uleb(body.length)), body])]);
    } else {
      chunks.push(b.subarray(s.start, s.end));
    }
  }
  const out = new Bytes();
  for (const c of chunks) out.append(c);
  return out.bytes;
}
