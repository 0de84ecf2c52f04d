// RNN, GRU and LSTM: X of shape [seq, batch, input] from the graph, weights as initializers (as
// models have them, and what the packed variants pre-pack), optional bias, sequence_lens,
// initial states and peepholes, every direction, clip, linear_before_reset, input_forget, and
// sometimes activation functions of the op's own list. Left out, where onnxruntime departs
// from the spec or refuses (test/kernels/recurrent.test.ts compares those cases another way):
// layout 1 (refused), a sequence length of 0 (its RNN reads before Y, its LSTM leaves Y_c
// unwritten), activation functions without their alpha and beta (its defaults differ from the
// spec's for ThresholdedRelu, Affine and ScaledTanh), and Softplus (its recurrent kernels
// compute log(1 + exp(x)), which is inf from x = 89 where the function is x: a GRU whose
// state grows gave NaN and -inf there).
import type { Attr } from "../../compiler/ir/graph.js";
import type { Builder, Val } from "./graph.js";
import type { Picker } from "./picker.js";
import { FLOAT, INT, MAX_ELEMENTS, STRING, dim, floats, nonEmpty, operand } from "./operands.js";
import type { Step } from "./steps.js";

type Kind = "RNN" | "GRU" | "LSTM";
const GATES: Record<Kind, number> = { RNN: 1, GRU: 3, LSTM: 4 };
/** the activation functions a direction takes: f (RNN); f, g (GRU); f, g, h (LSTM) */
const FUNCTIONS: Record<Kind, number> = { RNN: 1, GRU: 2, LSTM: 3 };

/** An activation function with the alpha and beta it reads (given always: see above). */
const ACTIVATIONS: { name: string; alpha?: number; beta?: number }[] = [
  { name: "Sigmoid" }, { name: "Tanh" }, { name: "Relu" }, { name: "Softsign" },
  { name: "LeakyRelu", alpha: 0.2 }, { name: "ThresholdedRelu", alpha: 0.1 }, { name: "Elu", alpha: 0.7 },
  { name: "Affine", alpha: 0.5, beta: 0.1 }, { name: "ScaledTanh", alpha: 1.3, beta: 0.8 }, { name: "HardSigmoid", alpha: 0.3, beta: 0.4 },
];

/** the sums over input and hidden size are in any order, the cell's functions a few ulps off */
const FACTS = { inputUlps: 2, ulps: 8 };

/** ordinary finite data: a recurrence multiplies an infinity by zero weights and spreads its NaN the implementations' own ways */
const sequence = (v: Val) => floats(v) && nonEmpty(v) && !v.nan && !v.inf && v.lo > -1e3 && v.hi < 1e3;

/**
 * Functions of bounded range, for the gates of GRU and LSTM (their first function). An unbounded
 * gate (z = Relu(...)) grows the state doubly exponentially (h ~ z h ~ h^2) into overflow within
 * a few steps, where the order of the cell's arithmetic decides between inf and NaN (kiln NaN,
 * onnxruntime -inf, both following the formula). RNN's one function is not a gate: any.
 */
const BOUNDED = new Set(["Sigmoid", "Tanh", "Softsign", "ScaledTanh", "HardSigmoid"]);

/** activations, activation_alpha and activation_beta for `dirs` directions */
function activations(p: Picker, op: Kind, dirs: number): Record<string, Attr> {
  const gate = (k: number) => op !== "RNN" && k % FUNCTIONS[op] === 0;
  const acts = Array.from({ length: FUNCTIONS[op] * dirs }, (_, k) => p.pick(gate(k) ? ACTIVATIONS.filter((a) => BOUNDED.has(a.name)) : ACTIVATIONS));
  const alpha = acts.flatMap((a) => (a.alpha === undefined ? [] : [a.alpha]));
  const beta = acts.flatMap((a) => (a.beta === undefined ? [] : [a.beta]));
  return {
    activations: { type: "strings", value: acts.map((a) => a.name) },
    ...(alpha.length ? { activation_alpha: { type: "floats", value: alpha } } : {}),
    ...(beta.length ? { activation_beta: { type: "floats", value: beta } } : {}),
  };
}

function recurrentStep(op: Kind): Step {
  return {
    op, nodes: 1,
    build(b, p) {
      const x = operand(b, p, sequence, "float32", 3, 3);
      if (!sequence(x) || x.shape.length !== 3) return false;
      const [S, B, I] = x.shape;
      const H = dim(p, 9);
      const direction = p.pick(["forward", "reverse", "bidirectional"] as const);
      const D = direction === "bidirectional" ? 2 : 1;
      const G = GATES[op];
      if (S * B * D * H > MAX_ELEMENTS || D * G * H * Math.max(I, H) > MAX_ELEMENTS) return false;
      const weight = (s: number[]) => b.constant("float32", s, undefined, [-0.6, 0.6]);
      const state = () => (p.chance(0.5) ? b.input("float32", [D, B, H], "unit") : undefined) ?? b.constant("float32", [D, B, H], undefined, [-1, 1]);
      const inputs: (Val | null)[] = [x, weight([D, G * H, I]), weight([D, G * H, H])];
      inputs.push(p.chance(0.7) ? weight([D, 2 * G * H]) : null);
      inputs.push(p.chance(0.3) ? b.constant("int32", [B], () => 1 + Math.floor(b.random() * S)) : null);
      inputs.push(p.chance(0.3) ? state() : null);
      if (op === "LSTM") inputs.push(p.chance(0.3) ? state() : null, p.chance(0.3) ? weight([D, 3 * H]) : null);
      while (inputs[inputs.length - 1] === null) inputs.pop();
      const attrs: Record<string, Attr> = { hidden_size: INT(H) };
      if (direction !== "forward" || p.chance(0.2)) attrs.direction = STRING(direction);
      if (p.chance(0.2)) attrs.clip = FLOAT(p.pick([0.8, 2]));
      if (op === "GRU" && p.chance(0.4)) attrs.linear_before_reset = INT(1);
      if (op === "LSTM" && p.chance(0.2)) attrs.input_forget = INT(1);
      if (p.chance(0.25)) Object.assign(attrs, activations(p, op, D));
      b.node(op, inputs, attrs, FACTS, op === "LSTM" ? 3 : 2);
      return true;
    },
  };
}

export function recurrentSteps(): Step[] {
  return [recurrentStep("RNN"), recurrentStep("GRU"), recurrentStep("LSTM")];
}
