// The attention family: Attention, RotaryEmbedding, Einsum and TensorScatter (the KV cache's update),
// each emitted by its own file.
import { KernelTable, simpleVariant } from "../kernel.js";
import { emitAttention } from "./sdpa.js";
import { emitRotaryEmbedding } from "./rotary.js";
import { emitTensorScatter } from "./cache.js";
import { emitEinsum } from "./einsum.js";
import { PACKED_EINSUM } from "./einsum-packed.js";
import { BLOCKED_ATTENTION } from "./blocked.js";

const table = new KernelTable();

// "blocked" (float32, no past or causal mask: scores per block of query rows in L2) where it plans, else one query row at a time
table.family("Attention", "Attention", [BLOCKED_ATTENTION, simpleVariant(emitAttention, undefined, "rows")]);
table.add("RotaryEmbedding", emitRotaryEmbedding);
table.add("TensorScatter", emitTensorScatter);
table.family("Einsum", "Einsum", [PACKED_EINSUM, simpleVariant(emitEinsum)]);

export const KERNELS = table.families;
