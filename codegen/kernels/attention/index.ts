// The attention family: Attention, RotaryEmbedding and Einsum, each emitted by its own file.
import { KernelTable, simpleVariant } from "../kernel.js";
import { emitAttention } from "./sdpa.js";
import { emitRotaryEmbedding } from "./rotary.js";
import { emitEinsum } from "./einsum.js";
import { PACKED_EINSUM } from "./einsum-packed.js";

const table = new KernelTable();

table.add("Attention", emitAttention);
table.add("RotaryEmbedding", emitRotaryEmbedding);
table.family("Einsum", "Einsum", [PACKED_EINSUM, simpleVariant(emitEinsum)]);

export const KERNELS = table.families;
