// wasm for the low-bit dtypes' codes: float32 <-> bfloat16, float8 (e4m3fn, e4m3fnuz, e5m2,
// e5m2fnuz, e8m0) and float4e2m1, and element access to the packed 4- and 2-bit types. Each
// conversion is a small module-level function, added the first time a kernel asks for it, with
// runtime/lowbit.ts's semantics (the ONNX reference's): round to nearest even, overflow saturating
// or not, the fnuz formats' single NaN and no -0, e8m0's rounding modes.
import binaryen from "binaryen";
import { dtype, type DTypeName } from "../runtime/dtypes.js";
import { decodeMinifloat, MINIFLOATS, minifloatCodes, type E8M0Rounding, type Minifloat } from "../runtime/lowbit.js";
import { Fn, type Expr, type WasmType } from "./fn.js";

/** How a store rounds into a float8 type (Cast's `saturate` and `round_mode`); ignored elsewhere. */
export interface StoreMode {
  saturate?: boolean;
  round?: E8M0Rounding;
}

/** The function `name`, built by `build` unless the module has it already. */
function helper(m: binaryen.Module, name: string, params: WasmType[], result: WasmType, build: (fn: Fn) => Expr[]): string {
  if (!m.getFunction(name)) {
    const fn = new Fn(m, name, params);
    fn.emit(...build(fn));
    fn.finish(result);
  }
  return name;
}

const f32bits = (m: binaryen.Module, bits: number) => m.f32.reinterpret(m.i32.const(bits | 0));
const pow2 = (m: binaryen.Module, e: number) => f32bits(m, (e + 127) << 23);

/** A minifloat code (i32) -> float32. */
function decodeMinifloatFn(m: binaryen.Module, dt: DTypeName, f: Minifloat): string {
  return helper(m, `kiln_${dt}_to_f32`, [binaryen.i32], binaryen.f32, (fn) => {
    const c = fn.param(0);
    const { sign } = minifloatCodes(f);
    const width = f.e + f.m;
    const s = fn.local(binaryen.i32);
    const mag = fn.local(binaryen.i32);
    const ex = () => m.i32.shr_u(mag.get(), m.i32.const(f.m));
    const body: Expr[] = [
      s.set(m.i32.shl(m.i32.and(c.get(), m.i32.const(sign)), m.i32.const(31 - width))),
      mag.set(m.i32.and(c.get(), m.i32.const(sign - 1))),
    ];
    // NaN decodes to the quiet NaN of its sign bit (the fnuz NaN is the code of -0), as the reference's
    if (f.kind === "fnuz") body.push(m.if(m.i32.eq(c.get(), m.i32.const(sign)), m.return(f32bits(m, 0xffc00000))));
    if (f.kind === "fn") body.push(m.if(m.i32.eq(mag.get(), m.i32.const(sign - 1)), m.return(m.f32.reinterpret(m.i32.or(s.get(), m.i32.const(0x7fc00000))))));
    if (f.kind === "ieee") {
      // all-ones exponent: Inf, or NaN
      body.push(m.if(m.i32.eq(ex(), m.i32.const(2 ** f.e - 1)), m.return(m.f32.reinterpret(m.i32.or(s.get(),
        m.select(m.i32.and(mag.get(), m.i32.const(2 ** f.m - 1)), m.i32.const(0x7fc00000), m.i32.const(0x7f800000)))))));
    }
    body.push(
      // subnormal: mantissa * 2^(1 - bias - m), with the sign (copysign keeps -0)
      m.if(m.i32.eqz(ex()), m.return(m.f32.copysign(m.f32.mul(m.f32.convert_u.i32(mag.get()), pow2(m, 1 - f.bias - f.m)), m.f32.reinterpret(s.get())))),
      m.return(m.f32.reinterpret(m.i32.or(s.get(), m.i32.add(m.i32.shl(mag.get(), m.i32.const(23 - f.m)), m.i32.const((127 - f.bias) << 23))))),
    );
    return body;
  });
}

/**
 * float32 -> minifloat code, rounded to nearest even: the value is rounded on the grid of its
 * binade (a / 2^(e - m), exact, then f32.nearest), then overflow is decided on the rounded value
 * as the spec's tables do ("[x] > FLT_MAX").
 */
function encodeMinifloatFn(m: binaryen.Module, dt: DTypeName, f: Minifloat, saturate: boolean): string {
  const sat = saturate || f.kind === "finite";
  return helper(m, `kiln_f32_to_${dt}${sat ? "" : "_nosat"}`, [binaryen.f32], binaryen.i32, (fn) => {
    const x = fn.param(0);
    const codes = minifloatCodes(f);
    const width = f.e + f.m;
    const minExp = 1 - f.bias;
    const [b, s, ex, code] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
    const [a, r] = [fn.local(binaryen.f32), fn.local(binaryen.f32)];
    const neg = () => m.i32.ne(s.get(), m.i32.const(0));
    const nan = () => f.kind === "ieee" || f.kind === "fn"
      ? m.i32.or(m.i32.const(codes.nan(false)), s.get())
      : m.select(neg(), m.i32.const(codes.nan(true)), m.i32.const(codes.nan(false)));
    const overflow = sat ? m.i32.or(m.i32.const(codes.maxCode), s.get())
      : codes.inf !== undefined ? m.i32.or(m.i32.const(codes.inf), s.get()) : nan();
    const fnuzZero = f.kind === "fnuz" ? [m.if(m.i32.eqz(code.get()), m.return(m.i32.const(0)))] : [];
    return [
      b.set(m.i32.reinterpret(x.get())),
      s.set(m.i32.shl(m.i32.shr_u(b.get(), m.i32.const(31)), m.i32.const(width))),
      a.set(m.f32.abs(x.get())),
      m.if(m.f32.ne(a.get(), a.get()), m.return(nan())),
      ex.set(m.i32.sub(m.i32.and(m.i32.shr_u(b.get(), m.i32.const(23)), m.i32.const(0xff)), m.i32.const(127))),
      ex.set(m.select(m.i32.lt_s(ex.get(), m.i32.const(minExp)), m.i32.const(minExp), ex.get())),
      // quantum 2^(ex - m) as float32 bits
      r.set(m.f32.reinterpret(m.i32.shl(m.i32.add(ex.get(), m.i32.const(127 - f.m)), m.i32.const(23)))),
      r.set(m.f32.mul(m.f32.nearest(m.f32.div(a.get(), r.get())), r.get())),
      m.if(m.f32.gt(r.get(), m.f32.const(decodeMinifloat(f, codes.maxCode))), m.return(overflow)),
      code.set(m.select(m.f32.lt(r.get(), pow2(m, minExp)),
        m.i32.trunc_u_sat.f32(m.f32.mul(r.get(), pow2(m, f.m - minExp))),
        m.i32.sub(m.i32.shr_u(m.i32.reinterpret(r.get()), m.i32.const(23 - f.m)), m.i32.const((127 - f.bias) << f.m)))),
      ...fnuzZero,
      m.return(m.i32.or(code.get(), s.get())),
    ];
  });
}

/** float32 -> bfloat16 bits, nearest even; NaN gives the quiet NaN of its sign (the reference's), overflow Inf. */
function encodeBf16Fn(m: binaryen.Module): string {
  return helper(m, "kiln_f32_to_bfloat16", [binaryen.f32], binaryen.i32, (fn) => {
    const x = fn.param(0);
    const b = fn.local(binaryen.i32);
    return [
      b.set(m.i32.reinterpret(x.get())),
      m.if(m.f32.ne(x.get(), x.get()), m.return(m.i32.or(m.i32.and(m.i32.shr_u(b.get(), m.i32.const(16)), m.i32.const(0x8000)), m.i32.const(0x7fc0)))),
      m.return(m.i32.shr_u(m.i32.add(m.i32.add(b.get(), m.i32.const(0x7fff)), m.i32.and(m.i32.shr_u(b.get(), m.i32.const(16)), m.i32.const(1))), m.i32.const(16))),
    ];
  });
}

/** float8e8m0 code -> float32: 2^(code - 127); 0 is 2^-127 (a float32 subnormal), 255 NaN. */
function decodeE8M0Fn(m: binaryen.Module): string {
  return helper(m, "kiln_float8e8m0_to_f32", [binaryen.i32], binaryen.f32, (fn) => {
    const c = fn.param(0);
    return [
      m.if(m.i32.eq(c.get(), m.i32.const(255)), m.return(f32bits(m, 0x7fc00000))),
      m.if(m.i32.eqz(c.get()), m.return(f32bits(m, 0x400000))),
      m.return(m.f32.reinterpret(m.i32.shl(c.get(), m.i32.const(23)))),
    ];
  });
}

/** float32 -> float8e8m0 from the float32 exponent field, as runtime/lowbit.ts encodeE8M0Bits. */
function encodeE8M0Fn(m: binaryen.Module, saturate: boolean, round: E8M0Rounding): string {
  return helper(m, `kiln_f32_to_float8e8m0_${round}${saturate ? "" : "_nosat"}`, [binaryen.f32], binaryen.i32, (fn) => {
    const x = fn.param(0);
    const [b, e, up] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
    const bit = (mask: number) => m.i32.ne(m.i32.and(b.get(), m.i32.const(mask)), m.i32.const(0));
    const roundUp = round === "up" ? bit(0x7fffff)
      : round === "nearest" ? m.i32.and(bit(0x400000), m.i32.or(bit(0x3fffff), m.i32.gt_u(e.get(), m.i32.const(0))))
      : m.i32.const(0);
    const keep = saturate ? [up.set(m.i32.and(up.get(), m.i32.ne(e.get(), m.i32.const(0xfe))))] : [];
    return [
      b.set(m.i32.reinterpret(x.get())),
      e.set(m.i32.and(m.i32.shr_u(b.get(), m.i32.const(23)), m.i32.const(0xff))),
      m.if(m.i32.eq(e.get(), m.i32.const(0xff)), m.return(m.i32.const(0xff))),
      up.set(roundUp),
      ...keep,
      m.return(m.i32.and(m.i32.add(e.get(), up.get()), m.i32.const(0xff))),
    ];
  });
}

/** Code (i32, the element's bits) -> float32, for bfloat16, float8 and float4e2m1. */
export function decodeFloat(m: binaryen.Module, dt: DTypeName, code: Expr): Expr {
  if (dt === "bfloat16") return m.f32.reinterpret(m.i32.shl(code, m.i32.const(16)));
  if (dt === "float8e8m0") return m.call(decodeE8M0Fn(m), [code], binaryen.f32);
  const f = MINIFLOATS[dt];
  if (!f) throw new Error(`decodeFloat: ${dt} is not a coded float`);
  return m.call(decodeMinifloatFn(m, dt, f), [code], binaryen.f32);
}

/** float32 -> code (i32) of bfloat16, float8 or float4e2m1, rounded as Cast rounds. */
export function encodeFloat(m: binaryen.Module, dt: DTypeName, value: Expr, mode: StoreMode = {}): Expr {
  if (dt === "bfloat16") return m.call(encodeBf16Fn(m), [value], binaryen.i32);
  if (dt === "float8e8m0") return m.call(encodeE8M0Fn(m, mode.saturate ?? true, mode.round ?? "up"), [value], binaryen.i32);
  const f = MINIFLOATS[dt];
  if (!f) throw new Error(`encodeFloat: ${dt} is not a coded float`);
  return m.call(encodeMinifloatFn(m, dt, f, mode.saturate ?? true), [value], binaryen.i32);
}

/** The byte holding element `index` of a packed tensor at `base`, and the element's bit offset in it. */
function packedPlace(m: binaryen.Module, bits: number, base: Expr, index: () => Expr): { addr: Expr; shift: Expr } {
  const per = 8 / bits;
  return {
    addr: m.i32.add(base, m.i32.shr_u(index(), m.i32.const(Math.log2(per)))),
    shift: m.i32.mul(m.i32.and(index(), m.i32.const(per - 1)), m.i32.const(bits)),
  };
}

/** Element `index` of a packed 4- or 2-bit tensor at byte address `base`: its code, zero-extended. */
export function loadPackedCode(m: binaryen.Module, dt: DTypeName, base: Expr, index: Expr): Expr {
  const { bits } = dtype(dt);
  const name = helper(m, `kiln_load_u${bits}`, [binaryen.i32, binaryen.i32], binaryen.i32, (fn) => {
    const [b, i] = [fn.param(0), fn.param(1)];
    const p = packedPlace(m, bits, b.get(), i.get);
    return [m.return(m.i32.and(m.i32.shr_u(m.i32.load8_u(0, 1, p.addr), p.shift), m.i32.const(2 ** bits - 1)))];
  });
  return m.call(name, [base, index], binaryen.i32);
}

/** Write the low bits of `code` as element `index` of a packed tensor at `base`, keeping its neighbours. */
export function storePackedCode(m: binaryen.Module, dt: DTypeName, base: Expr, index: Expr, code: Expr): Expr {
  const { bits } = dtype(dt);
  const mask = 2 ** bits - 1;
  const name = helper(m, `kiln_store_u${bits}`, [binaryen.i32, binaryen.i32, binaryen.i32], binaryen.none, (fn) => {
    const [b, i, v] = [fn.param(0), fn.param(1), fn.param(2)];
    const [addr, shift] = [fn.local(binaryen.i32), fn.local(binaryen.i32)];
    const p = packedPlace(m, bits, b.get(), i.get);
    return [
      addr.set(p.addr),
      shift.set(p.shift),
      m.i32.store8(0, 1, addr.get(), m.i32.or(
        m.i32.and(m.i32.load8_u(0, 1, addr.get()), m.i32.xor(m.i32.shl(m.i32.const(mask), shift.get()), m.i32.const(-1))),
        m.i32.shl(m.i32.and(v.get(), m.i32.const(mask)), shift.get()))),
    ];
  });
  return m.call(name, [base, index, code], binaryen.none);
}
