// A small builder over Binaryen for writing kernels: typed locals, counted loops with constant
// trip counts, and nested index loops. Kernels append statements with fn.emit(...).
import binaryen from "binaryen";

export type Expr = binaryen.ExpressionRef;
export type WasmType = binaryen.Type;

export interface Local {
  readonly index: number;
  readonly type: WasmType;
  get(): Expr;
  set(value: Expr): Expr;
  tee(value: Expr): Expr;
}

/** a loop's trip count: a number, or a factory of this run's count (an i32 expression; symbolic dims) */
export type Trips = number | (() => Expr);

export class Fn {
  private readonly vars: WasmType[] = [];
  private readonly body: Expr[] = [];
  /** functions split off by outline(), added to the module with this one */
  private readonly parts: { name: string; types: WasmType[]; body: Expr }[] = [];
  private labels = 0;

  constructor(readonly m: binaryen.Module, readonly name: string, readonly params: WasmType[] = []) {}

  local(type: WasmType): Local {
    const index = this.params.length + this.vars.length;
    this.vars.push(type);
    return this.wrap(index, type);
  }

  param(index: number): Local {
    return this.wrap(index, this.params[index]);
  }

  private wrap(index: number, type: WasmType): Local {
    const m = this.m;
    return {
      index,
      type,
      get: () => m.local.get(index, type),
      set: (v: Expr) => m.local.set(index, v),
      tee: (v: Expr) => m.local.tee(index, v, type),
    };
  }

  label(prefix = "L"): string {
    return `${prefix}${this.labels++}`;
  }

  /** true while nothing has been emitted (the kernel had no work, e.g. an aliased reshape) */
  get empty(): boolean {
    return this.body.length === 0;
  }

  emit(...exprs: Expr[]): void {
    this.body.push(...exprs);
  }

  block(exprs: Expr[]): Expr {
    if (exprs.length === 0) return this.m.nop();
    if (exprs.length === 1) return exprs[0];
    return this.m.block(null, exprs, binaryen.none);
  }

  /**
   * for (i = start; i < end; i += step) body(i), with constant bounds; emits nothing when the
   * range is empty. `i` is an i32 local that the body may read.
   */
  loop(end: number, body: (i: Local) => Expr[], opts: { start?: number; step?: number; outline?: boolean } = {}): Expr {
    const start = opts.start ?? 0;
    const step = opts.step ?? 1;
    if (end <= start) return this.m.nop();
    const m = this.m;
    const i = this.local(binaryen.i32);
    const label = this.label();
    let inner = body(i);
    // one call per trip (see outline): only when there are several, a single trip gains nothing
    if (opts.outline && end - start > step) {
      const call = this.outline(inner);
      if (call !== undefined) inner = [call];
    }
    if (end - start <= step) return this.block([i.set(m.i32.const(start)), ...inner]);
    return this.block([
      i.set(m.i32.const(start)),
      m.loop(label, this.block([
        ...inner,
        m.br(label, m.i32.lt_u(i.tee(m.i32.add(i.get(), m.i32.const(step))), m.i32.const(end))),
      ])),
    ]);
  }

  /**
   * stmts as a function of their own, called here. Its params mirror this function's locals (same
   * indices, types and values: passed by value), so stmts built with this function's locals read
   * what they would have read here, unchanged. What stmts write to locals stays there (only memory
   * carries results back), and stmts must not branch out of themselves or return.
   *
   * Why: V8 runs a function first as Liftoff code and swaps in optimized code only for later calls,
   * so a kernel whose whole loop nest runs in one call does its first run (the first inference after
   * a load) unoptimized, up to 10x slower for SIMD loops. The body of a kernel's outer loop, outlined,
   * is called many times and is optimized after its first few calls. undefined (stmts stay inline)
   * past 256 locals: a call then moves more values than it is worth.
   */
  outline(stmts: Expr[]): Expr | undefined {
    const types = [...this.params, ...this.vars];
    if (types.length > 256) return undefined;
    const name = `${this.name}$part${this.parts.length}`;
    this.parts.push({ name, types, body: this.block(stmts) });
    return this.m.call(name, types.map((t, i) => this.m.local.get(i, t)), binaryen.none);
  }

  /** for (i = start; i < end; i += step) with runtime bounds (i32 expressions). */
  loopDyn(start: Expr, end: Expr, body: (i: Local) => Expr[], step = 1): Expr {
    const m = this.m;
    const i = this.local(binaryen.i32);
    const e = this.local(binaryen.i32);
    const label = this.label();
    const exit = this.label("X");
    return m.block(exit, [
      i.set(start),
      e.set(end),
      m.br(exit, m.i32.ge_s(i.get(), e.get())),
      m.loop(label, this.block([
        ...body(i),
        m.br(label, m.i32.lt_s(i.tee(m.i32.add(i.get(), m.i32.const(step))), e.get())),
      ])),
    ]);
  }

  /**
   * Nested loops over `dims` (outermost first); body gets one i32 index local per dim. With
   * outline, the body is a function of its own, called per trip of the innermost loop (see outline()).
   */
  nest(dims: readonly Trips[], body: (idx: Local[]) => Expr[], opts: { outline?: boolean } = {}): Expr {
    if (dims.some((d) => d === 0)) return this.m.nop();
    const idx: Local[] = [];
    const at = opts.outline ? dims.length - 1 : -1;
    const build = (k: number): Expr[] => {
      if (k === dims.length) return body(idx);
      return [this.trips(dims[k], (i) => {
        idx[k] = i;
        return build(k + 1);
      }, { outline: k === at })];
    };
    return this.block(build(0));
  }

  /** loop(n) for a number of trips; for this run's count (a symbolic batch: KernelCtx.outerCount), 0 .. count() */
  trips(n: Trips, body: (i: Local) => Expr[], opts: { outline?: boolean } = {}): Expr {
    if (typeof n === "number") return this.loop(n, body, opts);
    const call = (i: Local) => {
      const inner = body(i);
      return opts.outline ? [this.outline(inner) ?? this.block(inner)] : inner;
    };
    return this.loopDyn(this.m.i32.const(0), n(), call);
  }

  /** sum(idx[k] * strides[k]) as an i32 expression (terms with stride 0 dropped). */
  linear(idx: readonly Local[], strides: readonly number[]): Expr {
    const m = this.m;
    let e: Expr | undefined;
    idx.forEach((l, k) => {
      const s = strides[k];
      if (s === 0) return;
      const term = s === 1 ? l.get() : m.i32.mul(l.get(), m.i32.const(s));
      e = e === undefined ? term : m.i32.add(e, term);
    });
    return e ?? m.i32.const(0);
  }

  /** Add the function to the module (no params, no results unless given). */
  finish(results: WasmType = binaryen.none): void {
    for (const p of this.parts) this.m.addFunction(p.name, binaryen.createType(p.types), binaryen.none, [], p.body);
    this.m.addFunction(this.name, binaryen.createType(this.params), results, this.vars, this.block(this.body.length ? this.body : [this.m.nop()]));
  }
}

/** Row-major element strides of `dims`. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= dims[k];
  }
  return s;
}

/**
 * Element strides for reading a tensor of `dims` broadcast (numpy rules) to `outDims`:
 * aligned right, 0 where the input dim is 1 or missing.
 */
export function broadcastStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const own = stridesOf(dims);
  const off = outDims.length - dims.length;
  return outDims.map((_, k) => {
    const j = k - off;
    if (j < 0 || dims[j] === 1) return 0;
    return own[j];
  });
}

/**
 * The smaller of two i32 values (signed): a run-time extent capped at a compile-time one. Getters,
 * each called for a fresh expression: a binaryen expression must appear once in a tree (and
 * validate() does not catch one used twice).
 */
export function minI32(m: binaryen.Module, a: () => Expr, b: () => Expr): Expr {
  return m.select(m.i32.lt_s(a(), b()), a(), b());
}
