// RNN, GRU and LSTM: "packed" (float32 with constant weights: the projection as one packed GEMM,
// the recurrence as a fused SIMD cell; packed.ts), "packed-runtime" (the same, float32 weights
// packed at the start of each run), else "direct" (scalar, any float type; direct.ts).
// CausalConvWithState and LinearAttention, the state-space and linear-attention layers: one
// variant each (causal-conv.ts, linear-attention.ts).
import { KernelTable } from "../kernel.js";
import { CAUSAL_CONV } from "./causal-conv.js";
import { DIRECT } from "./direct.js";
import { LINEAR_ATTENTION } from "./linear-attention.js";
import { PACKED, PACKED_RUNTIME } from "./packed.js";

const table = new KernelTable();

table.family("recurrent", ["RNN", "GRU", "LSTM"], [PACKED, PACKED_RUNTIME, DIRECT]);
table.family("causal-conv", "CausalConvWithState", [CAUSAL_CONV]);
table.family("linear-attention", "LinearAttention", [LINEAR_ATTENTION]);

export const KERNELS = table.families;
