// The attention family: Attention, RotaryEmbedding and Einsum, each emitted by its own file.
import { KernelTable } from "../kernel.js";
import { emitAttention } from "./sdpa.js";
import { emitRotaryEmbedding } from "./rotary.js";
import { emitEinsum } from "./einsum.js";

const table = new KernelTable();

table.add("Attention", emitAttention);
table.add("RotaryEmbedding", emitRotaryEmbedding);
table.add("Einsum", emitEinsum);

export const KERNELS = table.families;
