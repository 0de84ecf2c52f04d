// RNN, GRU and LSTM: "packed" (float32 with constant W and R: the projection as one packed GEMM,
// the recurrence as a fused SIMD cell; packed.ts), else "direct" (scalar, any float type, weights
// read in place; direct.ts).
import { KernelTable } from "../kernel.js";
import { DIRECT } from "./direct.js";
import { PACKED, PACKED_RUNTIME } from "./packed.js";

const table = new KernelTable();

table.family("recurrent", ["RNN", "GRU", "LSTM"], [PACKED, PACKED_RUNTIME, DIRECT]);

export const KERNELS = table.families;
