import { describe, expect, it } from "vitest";
import { fileCheck } from "./check.js";

const text = `a = Conv(x) {kernel="winograd-f4x4"}
b = Relu(a)
c = MatMul(b, w) {kernel="packed"}`;

describe("fileCheck", () => {
  it("passes checks that hold", () => {
    fileCheck(text, `
CHECK: Conv
CHECK-SAME: kernel="winograd-{{f[24]x[24]}}"
CHECK-NEXT: Relu
CHECK-NOT: Softmax
CHECK: MatMul`);
  });

  it("fails a check that does not hold", () => {
    expect(() => fileCheck(text, "CHECK: MatMul\nCHECK: Conv")).toThrow(/CHECK: Conv/);
    expect(() => fileCheck(text, "CHECK: Conv\nCHECK-NEXT: MatMul")).toThrow(/CHECK-NEXT/);
    expect(() => fileCheck(text, "CHECK: Conv\nCHECK-NOT: Relu\nCHECK: MatMul")).toThrow(/CHECK-NOT: Relu/);
    expect(() => fileCheck(text, "CHECK: Conv\nCHECK-SAME: packed")).toThrow(/CHECK-SAME/);
    expect(() => fileCheck(text, "no directives")).toThrow(/no CHECK lines/);
    // a directive it does not know would check nothing
    expect(() => fileCheck(text, "CHECK: Conv\nCHECK-DAG: Nothing")).toThrow(/unknown directive in "CHECK-DAG: Nothing"/);
    expect(() => fileCheck(text, "CHECK: Conv\nCHECK-NXT: Relu")).toThrow(/unknown directive/);
  });
});
