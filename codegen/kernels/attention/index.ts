// The attention family: Attention, RotaryEmbedding and Einsum, each emitted by its own file.
import { registerKernel } from "../registry.js";
import { emitAttention } from "./sdpa.js";
import { emitRotaryEmbedding } from "./rotary.js";
import { emitEinsum } from "./einsum.js";

registerKernel("Attention", emitAttention);
registerKernel("RotaryEmbedding", emitRotaryEmbedding);
registerKernel("Einsum", emitEinsum);
