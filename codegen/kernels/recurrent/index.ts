// RNN, GRU and LSTM: "packed" (float32 with constant weights: the projection as one packed GEMM,
// the recurrence as a fused SIMD cell; packed.ts), "packed-runtime" (the same, float32 weights
// packed at the start of each run), else "direct" (scalar, any float type; direct.ts).
import { KernelTable } from "../kernel.js";
import { DIRECT } from "./direct.js";
import { PACKED, PACKED_RUNTIME } from "./packed.js";

const table = new KernelTable();

table.family("recurrent", ["RNN", "GRU", "LSTM"], [PACKED, PACKED_RUNTIME, DIRECT]);

export const KERNELS = table.families;
