import { describe, expect, it } from "vitest";
import { fuseQdqPass } from "../../passes/fuse-qdq.js";
import { fileCheck } from "./check.js";
import { expectUnchanged, runPassOn } from "./util.js";

// a QDQ Conv as onnxruntime's quantize_static writes it: per-channel int8 weights, int32 bias in
// units of x_scale * w_scale, Relu before the output's QuantizeLinear
const qdqConv = (act: string) => `
input %xq : int8[1,4,6,6]
const %sx : float32[] = dense<[0.05]>
const %zx : int8[] = dense<[3]>
const %wq : int8[5,4,3,3] = splat<7>
const %sw : float32[5] = dense<[0.01, 0.02, 0.01, 0.03, 0.01]>
const %zw : int8[5] = splat<0>
const %bq : int32[5] = dense<[10, -20, 30, 0, 5]>
const %sb : float32[5] = dense<[0.0005, 0.001, 0.0005, 0.0015, 0.0005]>
const %sy : float32[] = dense<[0.1]>
const %zy : int8[] = dense<[-4]>
%x : float32[1,4,6,6] = DequantizeLinear(%xq, %sx, %zx) {name="dqx"}
%w : float32[5,4,3,3] = DequantizeLinear[axis=0](%wq, %sw, %zw) {name="dqw"}
%b : float32[5] = DequantizeLinear[axis=0](%bq, %sb) {name="dqb"}
%c : float32[1,5,6,6] = Conv[pads=[1, 1, 1, 1]](%x, %w, %b) {name="conv"}
${act}
%yq : int8[1,5,6,6] = QuantizeLinear(%r, %sy, %zy) {name="q"}
output %yq`;

describe("fuse-qdq", () => {
  it("fuses DequantizeLinear -> Conv -> Relu -> QuantizeLinear into one qlinear node reading the 8-bit tensors", async () => {
    fileCheck(await runPassOn(fuseQdqPass, qdqConv(`%r : float32[1,5,6,6] = Relu(%c) {name="relu"}`)), `
CHECK: %yq : int8[1,5,6,6] = kiln.fused::DequantizeLinear_DequantizeLinear_DequantizeLinear_Conv_Relu_QuantizeLinear(%xq, %sx, %zx, %wq, %sw, %zw, %bq, %sb, %sy, %zy) {name="conv", kind="qlinear"
CHECK: DequantizeLinear(%xq, %sx, %zx)
CHECK: Conv[pads=[1, 1, 1, 1]]
CHECK: Relu(%c)
CHECK: QuantizeLinear(%r, %sy, %zy)
CHECK-NOT: DequantizeLinear
CHECK: output %yq`);
  });

  // the Conv's result is read by a float node alone: the Conv's group stores float, the Sigmoid and
  // QuantizeLinear after it stay as they are
  it("runs a Conv whose result a float node reads (Sigmoid) as a qlinear group with a float store", async () => {
    fileCheck(await runPassOn(fuseQdqPass, qdqConv(`%r : float32[1,5,6,6] = Sigmoid(%c) {name="sig"}`)), `
CHECK: %c : float32[1,5,6,6] = kiln.fused::DequantizeLinear_DequantizeLinear_DequantizeLinear_Conv(%xq, %sx, %zx, %wq, %sw, %zw, %bq, %sb) {name="conv", kind="qlinear"
CHECK: Conv[pads=[1, 1, 1, 1]]
CHECK-NOT: QuantizeLinear
CHECK: %r : float32[1,5,6,6] = Sigmoid(%c)
CHECK: %yq : int8[1,5,6,6] = QuantizeLinear(%r, %sy, %zy)
CHECK: output %yq`);
  });

  it("leaves a Conv whose weights are not dequantized as float", async () => {
    await expectUnchanged(fuseQdqPass, qdqConv(`%r : float32[1,5,6,6] = Sigmoid(%c) {name="sig"}`).replace("Conv[pads=[1, 1, 1, 1]](%x, %w, %b)", "Conv[pads=[1, 1, 1, 1]](%x, %wf, %b)")
      .replace("%x : float32", "const %wf : float32[5,4,3,3] = splat<0.5>\n%x : float32"));
  });

  // the Reshape's QuantizeLinear has another scale: it stays float
  it("runs MaxPool between equal QDQ pairs on the 8-bit tensor, and fuses an 8-bit Add", async () => {
    fileCheck(await runPassOn(fuseQdqPass, `
input %aq : uint8[1,2,4,4]
input %bq : uint8[1,2,4,4]
const %s : float32[] = dense<[0.1]>
const %z : uint8[] = dense<[128]>
const %s2 : float32[] = dense<[0.2]>
const %shape : int64[2] = dense<[2, 16]>
%a : float32[1,2,4,4] = DequantizeLinear(%aq, %s, %z) {name="dqa"}
%b : float32[1,2,4,4] = DequantizeLinear(%bq, %s, %z) {name="dqb"}
%p : float32[1,2,2,2] = MaxPool[kernel_shape=[2, 2], strides=[2, 2]](%a) {name="pool"}
%pq : uint8[1,2,2,2] = QuantizeLinear(%p, %s, %z) {name="qp"}
%r : float32[2,16] = Reshape(%a, %shape) {name="reshape"}
%rq : uint8[2,16] = QuantizeLinear(%r, %s2, %z) {name="qr"}
%sum : float32[1,2,4,4] = Add(%a, %b) {name="add"}
%sq : uint8[1,2,4,4] = QuantizeLinear(%sum, %s2, %z) {name="qs"}
output %pq
output %rq
output %sq`), `
CHECK: %r : float32[2,16] = Reshape(%a, %shape)
CHECK: %rq : uint8[2,16] = QuantizeLinear(%r, %s2, %z)
CHECK: %pq : uint8[1,2,2,2] = MaxPool[kernel_shape=[2, 2], strides=[2, 2]](%aq)
CHECK: %sq : uint8[1,2,4,4] = kiln.fused::DequantizeLinear_DequantizeLinear_Add_QuantizeLinear(%aq, %s, %z, %bq, %s2) {name="add", kind="qlinear"`);
  });
});
