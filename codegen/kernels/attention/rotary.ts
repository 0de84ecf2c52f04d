// RotaryEmbedding (opset 23): each head's first `rotary` channels are rotated in pairs
// (x1, x2) -> (c*x1 - s*x2, s*x1 + c*x2), with cos/sin taken from the caches at the token's position;
// the remaining channels are copied. Pairs are (d, d + rotary/2) or, interleaved, (2d, 2d + 1).
// float32 halves run four pairs per f32x4 step.
//
// A position id outside the cache is reported (KernelCtx.badIndex: BAD_INPUT after the run, as an
// out-of-range Gather index is) and reads cos = sin = 0 meanwhile, never outside a tensor.
import binaryen from "binaryen";
import { dtype as dtypeInfo } from "../../../runtime/dtypes.js";
import { rotaryGeometry } from "../../../compiler/ops/attention-rotary.js";
import type { Expr, Local } from "../../fn.js";
import { constant, load, store, wasmType } from "../../memory.js";
import type { KernelCtx, TensorRef } from "../kernel.js";
import { floatOps } from "./lanes.js";

export function emitRotaryEmbedding(ctx: KernelCtx): void {
  const { m, fn } = ctx;
  const [x, cos, sin, y] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0)];
  const pos = ctx.inputs[3];
  const g = rotaryGeometry(ctx.attrs, x.dims, cos.dims, sin.dims, pos?.dims, (msg) => ctx.unsupported(msg));
  const dt = x.dtype;
  const bytes = dtypeInfo(dt).bytes;
  const F = floatOps(m, dt);
  const ft = wasmType(dt);
  const half = g.rotary / 2;
  const interleaved = ctx.attrs.int("interleaved", 0) === 1;
  const [cp, xp, gate] = [fn.local(binaryen.i32), fn.local(binaryen.i32), fn.local(binaryen.i32)];
  const [c, s, x1, x2] = [0, 1, 2, 3].map(() => fn.local(ft));
  const [vc, vs, v1, v2] = [0, 1, 2, 3].map(() => fn.local(binaryen.v128));

  // pair d's members sit at channels stride*d and stride*d + second
  const stride = interleaved ? 2 : 1;
  const second = interleaved ? 1 : half;
  const at = (d: Local, k: number) => m.i32.add(xp.get(), m.i32.mul(d.get(), m.i32.const(k * bytes)));
  const cacheAt = (t: TensorRef, d: Local) => {
    const v = load(m, dt, m.i32.add(cp.get(), m.i32.mul(d.get(), m.i32.const(bytes))), t.addr);
    return pos ? m.select(gate.get(), v, F.const(0)) : v;
  };
  // x1 and x2 are read before either is written, so Y may share X's memory
  const scalarPair = (d: Local): Expr[] => [
    c.set(cacheAt(cos, d)), s.set(cacheAt(sin, d)),
    x1.set(load(m, dt, at(d, stride), x.addr)),
    x2.set(load(m, dt, at(d, stride), x.addr + second * bytes)),
    store(m, dt, at(d, stride), F.sub(F.mul(c.get(), x1.get()), F.mul(s.get(), x2.get())), y.addr),
    store(m, dt, at(d, stride), F.add(F.mul(s.get(), x1.get()), F.mul(c.get(), x2.get())), y.addr + second * bytes),
  ];
  // four pairs of the split (non-interleaved) layout: both members are contiguous runs
  const quadPair = (d: Local): Expr[] => {
    const xd = () => at(d, 1);
    const cd = () => m.i32.add(cp.get(), m.i32.mul(d.get(), m.i32.const(4)));
    const gated = (v: Expr) => (pos ? m.v128.and(v, m.i32x4.splat(m.i32.sub(m.i32.const(0), gate.get()))) : v);
    return [
      vc.set(gated(m.v128.load(cos.addr, 4, cd()))), vs.set(gated(m.v128.load(sin.addr, 4, cd()))),
      v1.set(m.v128.load(x.addr, 4, xd())), v2.set(m.v128.load(x.addr + half * 4, 4, xd())),
      m.v128.store(y.addr, 4, xd(), m.f32x4.sub(m.f32x4.mul(vc.get(), v1.get()), m.f32x4.mul(vs.get(), v2.get()))),
      m.v128.store(y.addr + half * 4, 4, xd(), m.f32x4.add(m.f32x4.mul(vs.get(), v1.get()), m.f32x4.mul(vc.get(), v2.get()))),
    ];
  };
  const quads = dt === "float32" && !interleaved ? half - (half % 4) : 0;
  const rest = (g.headSize - g.rotary) * bytes;

  const cacheRowBytes = g.cacheRow * bytes;
  const rowSetup = (b: Local, t: Local): Expr[] => {
    if (!pos) return [cp.set(m.i32.mul(m.i32.add(m.i32.mul(b.get(), m.i32.const(g.seq)), t.get()), m.i32.const(cacheRowBytes)))];
    const p = fn.local(binaryen.i64);
    const maxPos = cos.dims[0];
    return [
      p.set(m.i64.load(pos.addr, 8, m.i32.mul(m.i32.add(m.i32.mul(b.get(), m.i32.const(g.seq)), t.get()), m.i32.const(8)))),
      gate.set(m.i64.lt_u(p.get(), constant(m, "int64", maxPos))),
      cp.set(m.i32.mul(m.select(gate.get(), m.i32.wrap(p.get()), m.i32.const(0)), m.i32.const(cacheRowBytes))),
      m.if(m.i32.eqz(gate.get()), ctx.badIndex(() => p.get(), () => constant(m, "int64", maxPos))),
    ];
  };
  const [sb, st, sh] = g.strides.map((v) => v * bytes);
  fn.emit(fn.nest([g.batch, g.seq], ([b, t]) => [
    ...rowSetup(b, t),
    fn.loop(g.heads, (h) => [
      xp.set(fn.linear([b, t, h], [sb, st, sh])),
      fn.loop(quads, quadPair, { step: 4 }),
      fn.loop(half, scalarPair, { start: quads }),
      ...(rest > 0 ? [m.memory.copy(m.i32.add(xp.get(), m.i32.const(y.addr + g.rotary * bytes)),
        m.i32.add(xp.get(), m.i32.const(x.addr + g.rotary * bytes)), m.i32.const(rest))] : []),
    ]),
  ]));
}
