// The small model the weights tests share: conv (3x3, bias) -> relu -> mix (1x1) -> head (1x1), three
// layers with weights of their own and one without, plus a constant output %k; channels and image
// size vary (8 input channels and more give the 3x3 conv derived packed forms).
import { parseGraph } from "../../compiler/ir/parse.js";
import { exportModel } from "../../compiler/onnx/export.js";

/** n seeded values as IR dense<> text */
export const denseText = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37 + seed) * 0.5).toFixed(5)).join(", ");

/** channels [in, conv, mix, head] over an hw x hw image */
export function convChainModel([cin, c1, c2, c3]: [number, number, number, number], hw: number): Uint8Array {
  return exportModel(parseGraph(`kiln.graph opsets("" = 13)
input %x : float32[1,${cin},${hw},${hw}]
const %w : float32[${c1},${cin},3,3] = dense<[${denseText(c1 * cin * 9, 1)}]>
const %b : float32[${c1}] = dense<[${denseText(c1, 2)}]>
const %p : float32[${c2},${c1},1,1] = dense<[${denseText(c2 * c1, 3)}]>
const %q : float32[${c3},${c2},1,1] = dense<[${denseText(c3 * c2, 4)}]>
const %k : float32[3] = dense<[0.5, -1.5, 2.25]>
%c : float32[1,${c1},${hw},${hw}] = Conv[pads=[1,1,1,1]](%x, %w, %b) {name="conv"}
%r : float32[1,${c1},${hw},${hw}] = Relu(%c) {name="relu"}
%m : float32[1,${c2},${hw},${hw}] = Conv(%r, %p) {name="mix"}
%y : float32[1,${c3},${hw},${hw}] = Conv(%m, %q) {name="head"}
output %y
output %k`));
}
