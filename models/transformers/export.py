"""Small transformer models exported the way users export theirs (issue 15), for kiln's tests and bench.

    pip install torch==2.13.0 transformers==5.18.0 onnx onnxruntime   # (torch 2.13.0+cpu, transformers 5.18.0)
    python3 models/transformers/export.py                              # writes models/transformers/fixtures/

Each model is a Hugging Face transformers model of a small config with random weights
(torch.manual_seed(SEED) before it is made: no model hub), exported by torch.onnx.export (the
TorchScript exporter, dynamo=False, opset 17) with dynamic axes, as optimum and transformers.js's
conversion scripts do. The .onnx files are committed (CI runs no Python); the tests take their
references from onnxruntime-node at run time.

    bert.onnx            BertModel, 2 layers, hidden 128, 2 heads, intermediate 512, vocab 1000,
                         512 positions. Inputs input_ids, attention_mask, token_type_ids [batch, seq]
                         (int64); outputs last_hidden_state [batch, seq, 128], pooler_output [batch, 128].
    gpt2.onnx            GPT2LMHeadModel, 2 layers, hidden 128, 2 heads, vocab 1000, 256 positions, as
                         a decoder step with past key/values (optimum's "decoder_model_merged" inputs
                         without its If): input_ids, attention_mask [batch, past + seq], position_ids,
                         past_key_values.N.key/value [batch, 2, past, 64]; outputs logits and
                         present.N.key/value [batch, 2, past + seq, 64]. transformers 5 keeps the past
                         in a Cache object: the wrapper builds one from the plain tensors and returns
                         the updated one's tensors. Exported with a past of length 4 (a symbolic
                         dim); the first step feeds a past of length 0, as transformers.js does.
                         Weights drawn with initializer_range 0.2 (GPT-2's own 0.02 gives a random
                         model that repeats one token; 0.2 makes greedy tokens vary, with clear
                         margins between the best two logits, so a wrong step shows).
    gpt2.generate.json   transformers' greedy generate() on GPT2_PROMPT: the 32 tokens the loop in
                         models/transformers.ts must give on onnxruntime and on kiln.
    whisper_encoder.onnx WhisperEncoder, 2 layers, d_model 128, 2 heads, ffn 512, 80 mel bins:
                         input_features [1, 80, 3000] (30 s of audio), last_hidden_state
                         [1, 1500, 128] after the stride-2 convolution. Static shapes.
    roberta.onnx         RobertaModel, 2 layers, hidden 64, 2 heads, intermediate 256, vocab 1000:
                         input_ids, attention_mask [batch, seq] -> last_hidden_state (its position
                         ids are a CumSum of the mask, as XLM-R's and MPNet's are).
    t5_encoder.onnx      T5EncoderModel, 2 layers, d_model 64, 2 heads, gated-gelu FFN 256 (GELU's
                         tanh form with Pow(x, 3)), relative position bias: input_ids,
                         attention_mask [batch, seq] -> last_hidden_state.
    llama.onnx           LlamaForCausalLM, 2 layers, hidden 64, 4 heads over 2 key/value heads,
                         intermediate 128, vocab 1000, rotary positions: one decoder step with past
                         key/values, as gpt2.onnx (inputs input_ids, attention_mask [batch, total],
                         position_ids, past_key_values.N.key/value [batch, 2, past, 16]).
    gpt_neo.onnx         GPTNeoForCausalLM, 2 layers (one global, one local over 8 keys), hidden 64,
                         2 heads, intermediate 128, vocab 1000, 128 positions: a decoder step as
                         gpt2.onnx. Its attention cuts the causal mask out of a constant buffer,
                         bias[:, :, total - seq : total, :total], as GPT-2 exports before
                         transformers 4.36 did (those transformers.js ships).
    roberta_q8.onnx,     roberta.onnx and gpt2.onnx through onnxruntime's quantize_dynamic (int8 weights,
    gpt2_q8.onnx         uint8 activations, DynamicQuantizeLinear -> MatMulInteger): transformers.js's
                         q8 form (export.py quantized, after the two).
    llama_q4.onnx        llama.onnx through onnxruntime's MatMulNBitsQuantizer (4 bits, blocks of 32,
                         symmetric: com.microsoft MatMulNBits), transformers.js's q4 form.
    deberta_v2.onnx      DebertaV2Model (DeBERTa-v3's config: disentangled attention, p2c and c2p,
                         32 log position buckets, shared keys), 2 layers, hidden 64, 2 heads,
                         intermediate 128: input_ids, attention_mask [batch, seq] -> last_hidden_state.

    clip_text.onnx       CLIPTextModel, 2 layers, hidden 64, 4 heads, vocab 1000, 77 positions:
                         input_ids, attention_mask [batch, seq] -> last_hidden_state, pooler_output
                         (the hidden state at each row's ArgMax of the ids: its end-of-text token).
    speecht5_encoder.onnx SpeechT5's encoder with its text prenet, 2 layers, hidden 64, 4 heads, vocab
                         100: input_values (token ids), attention_mask [batch, seq] ->
                         last_hidden_state; relative positions through an Einsum with the sequence
                         as a batch dim of the product ("bac,acd->bad").
    segformer.onnx       SegformerForSemanticSegmentation, 4 stages of 1 block (hidden 16..128), decoder
                         64, 5 labels: pixel_values [batch, 3, 64, 64] -> logits [batch, 5, 16, 16]; its
                         decode head resizes to sizes built from the input's dims.
    mobilenet_v2.onnx    MobileNetV2Model (depth multiplier 0.35, TensorFlow's padding: explicit Pad
                         before its strided convolutions): pixel_values [batch, 3, 64, 64] ->
                         last_hidden_state, pooler_output.
    efficientnet.onnx    EfficientNetModel (width and depth coefficients 0.25): pixel_values
                         [batch, 3, 64, 64] -> last_hidden_state, pooler_output (AvgPool2d(320,
                         ceil_mode=True) over its 2x2 plane).
    mobilenet_v2_hw.onnx, efficientnet_hw.onnx
                         the same two with height and width dynamic too: pixel_values
                         [batch, 3, height, width] (MobileNetV2's TensorFlow padding computed from
                         the dims; EfficientNet's pooler a window past any image within them).
    sam_points.onnx      SamPositionalEmbedding (SAM's prompt encoder, 32 channels): input_points
                         [batch, point_batch, points, 2] in pixels of a 1024 x 640 image -> their
                         sin/cos features [batch, point_batch, points, 64]. Its
                         `coords[..., 0] = coords[..., 0] / width` exports as a ScatterND whose
                         indices are a grid built from the input's dims.
    sam_two_way.onnx     SAM's two-way attention in small (plain torch, as its mask decoder): 10 learned
                         tokens then the prompt's points [batch, npts, 16] attend to a 4x4 image
                         embedding [batch, 16, 4, 4], and the image to them; its head split reshapes to
                         shapes built from the dims, one of which equals the other where npts is 6.

    python3 models/transformers/export.py roberta t5_encoder   # only these
"""
import sys
import json
import os

import torch
import transformers
from transformers import (BertConfig, BertModel, DebertaV2Config, DebertaV2Model, DynamicCache, GPT2Config, GPT2LMHeadModel, GPTNeoConfig, GPTNeoForCausalLM, LlamaConfig, LlamaForCausalLM,
                          RobertaConfig, RobertaModel, T5Config, T5EncoderModel, WhisperConfig)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

SEED = 15
OPSET = 17
GPT2_PROMPT = [5, 17, 300, 42, 7]
GPT2_TOKENS = 32
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def export(module, args, name, input_names, output_names, dynamic_axes=None):
    path = os.path.join(OUT, name)
    torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
    print(f"{name}: {os.path.getsize(path)} bytes")


class Bert(torch.nn.Module):
    # transformers 5 takes keywords only here: positional arguments collide with use_cache
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state, out.pooler_output


def bert():
    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512, max_position_embeddings=512)
    model = BertModel(config).eval()
    ids = torch.randint(0, 1000, (1, 7))
    mask = torch.ones(1, 7, dtype=torch.int64)
    tt = torch.zeros(1, 7, dtype=torch.int64)
    axes = {"batch": 0, "seq": 1}
    dyn = {n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]}
    dyn["pooler_output"] = {0: "batch"}
    export(Bert(model), (ids, mask, tt), "bert.onnx", ["input_ids", "attention_mask", "token_type_ids"],
           ["last_hidden_state", "pooler_output"], dyn)


class Gpt2Step(torch.nn.Module):
    """One decoder step on plain tensors: the past as 2 tensors per layer in, the present out."""

    def __init__(self, model, layers):
        super().__init__()
        self.model = model
        self.layers = layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        cache = DynamicCache([(past[2 * i], past[2 * i + 1]) for i in range(self.layers)], config=self.model.config)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def gpt2():
    torch.manual_seed(SEED)
    layers, heads, hidden = 2, 2, 128
    config = GPT2Config(vocab_size=1000, n_embd=hidden, n_layer=layers, n_head=heads, n_positions=256, bos_token_id=0, eos_token_id=0,
                        initializer_range=0.2)
    model = GPT2LMHeadModel(config).eval()
    # transformers' own greedy generation, to check the loop the tests run (models/transformers.ts);
    # before the export, which leaves the model traced
    prompt = torch.tensor([GPT2_PROMPT])
    tokens = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=GPT2_TOKENS, do_sample=False)
    with open(os.path.join(OUT, "gpt2.generate.json"), "w") as f:
        json.dump({"prompt": GPT2_PROMPT, "tokens": tokens[0, len(GPT2_PROMPT):].tolist(),
                   "by": f"transformers {transformers.__version__} generate(do_sample=False)"}, f)
        f.write("\n")
    export_step(model, layers, heads, hidden // heads, "gpt2.onnx")


def export_step(model, layers, kv_heads, head, name):
    """One decoder step (Gpt2Step) exported with a past of 4 and 3 new tokens, every length symbolic."""
    past_len, seq = 4, 3
    ids = torch.randint(0, 1000, (1, seq))
    mask = torch.ones(1, past_len + seq, dtype=torch.int64)
    pos = torch.arange(past_len, past_len + seq).unsqueeze(0)
    past = [torch.randn(1, kv_heads, past_len, head) for _ in range(2 * layers)]
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
           "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    dyn.update({n: {0: "batch", 2: "past"} for n in past_names})
    dyn.update({n: {0: "batch", 2: "total"} for n in present_names})
    export(Gpt2Step(model, layers), (ids, mask, pos, *past), name,
           ["input_ids", "attention_mask", "position_ids", *past_names], ["logits", *present_names], dyn)


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_features):
        return self.model(input_features=input_features).last_hidden_state


def whisper_encoder():
    torch.manual_seed(SEED)
    config = WhisperConfig(num_mel_bins=80, d_model=128, encoder_layers=2, encoder_attention_heads=2,
                           encoder_ffn_dim=512, max_source_positions=1500)
    model = WhisperEncoder(config).eval()
    features = torch.randn(1, 80, 3000)
    export(Encoder(model), (features,), "whisper_encoder.onnx", ["input_features"], ["last_hidden_state"])


class TextEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def text_encoder(name, model):
    ids = torch.randint(2, 1000, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.int64)
    dyn = {n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "last_hidden_state"]}
    export(TextEncoder(model.eval()), (ids, mask), name, ["input_ids", "attention_mask"], ["last_hidden_state"], dyn)


def roberta():
    torch.manual_seed(SEED)
    text_encoder("roberta.onnx", RobertaModel(RobertaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                                            intermediate_size=256, max_position_embeddings=514, pad_token_id=1), add_pooling_layer=False))


def t5_encoder():
    torch.manual_seed(SEED)
    text_encoder("t5_encoder.onnx", T5EncoderModel(T5Config(vocab_size=1000, d_model=64, d_kv=32, d_ff=256, num_layers=2, num_heads=2,
                                                            feed_forward_proj="gated-gelu")))


def deberta_v2():
    # DeBERTa-v3's disentangled attention: relative positions in log buckets, built from the dims
    # behind an If on whether the query and key lengths differ
    torch.manual_seed(SEED)
    text_encoder("deberta_v2.onnx", DebertaV2Model(DebertaV2Config(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, max_position_embeddings=512,
        relative_attention=True, position_buckets=32, max_relative_positions=-1, pos_att_type=["p2c", "c2p"], position_biased_input=False,
        norm_rel_ebd="layer_norm", share_att_key=True, type_vocab_size=0)))


def llama():
    torch.manual_seed(SEED)
    layers, kv_heads, head = 2, 2, 16
    model = LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                                         num_key_value_heads=kv_heads, intermediate_size=128, max_position_embeddings=256)).eval()
    export_step(model, layers, kv_heads, head, "llama.onnx")


def gpt_neo():
    # its attention cuts the causal mask out of a constant buffer, bias[:, :, total - seq : total, :total],
    # as GPT-2 did before transformers 4.36 (the exports transformers.js ships): a Slice whose starts
    # are computed from the dims; one layer global, one local (a window of 8 keys)
    torch.manual_seed(SEED)
    layers, heads, hidden = 2, 2, 64
    model = GPTNeoForCausalLM(GPTNeoConfig(vocab_size=1000, hidden_size=hidden, num_layers=layers, num_heads=heads, intermediate_size=128,
                                           attention_types=[[["global", "local"], 1]], window_size=8, max_position_embeddings=128)).eval()
    export_step(model, layers, heads, hidden // heads, "gpt_neo.onnx")


def quantized():
    # onnxruntime's quantize_dynamic (int8 weights, uint8 activations: DynamicQuantizeLinear ->
    # MatMulInteger), transformers.js's q8 form, of two fixtures exported above
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    for name in ["roberta", "gpt2"]:
        quantize_dynamic(os.path.join(OUT, f"{name}.onnx"), os.path.join(OUT, f"{name}_q8.onnx"), weight_type=QuantType.QInt8)
        print(f"{name}_q8.onnx: {os.path.getsize(os.path.join(OUT, f'{name}_q8.onnx'))} bytes")
    # transformers.js's q4 form of language models: com.microsoft MatMulNBits, 4 bits in blocks of 32
    q4 = MatMulNBitsQuantizer(onnx.load(os.path.join(OUT, "llama.onnx")), block_size=32, is_symmetric=True)
    q4.process()
    q4.model.save_model_to_file(os.path.join(OUT, "llama_q4.onnx"))
    print(f"llama_q4.onnx: {os.path.getsize(os.path.join(OUT, 'llama_q4.onnx'))} bytes")


class Outputs(torch.nn.Module):
    """A model called with keywords, its tensor outputs in order."""
    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args):
        out = self.model(**dict(zip(self.names, args)), return_dict=True)
        return tuple(v for v in out.values() if isinstance(v, torch.Tensor))


def clip_text():
    torch.manual_seed(SEED)
    model = transformers.CLIPTextModel(transformers.CLIPTextConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                                   intermediate_size=128, max_position_embeddings=77)).eval()
    names = ["input_ids", "attention_mask"]
    dyn = {n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]}
    dyn["pooler_output"] = {0: "batch"}
    export(Outputs(model, names), (torch.randint(0, 1000, (2, 16)), torch.ones(2, 16, dtype=torch.int64)), "clip_text.onnx", names,
           ["last_hidden_state", "pooler_output"], dyn)


def speecht5_encoder():
    from transformers.models.speecht5.modeling_speecht5 import SpeechT5EncoderWithTextPrenet
    torch.manual_seed(SEED)
    config = transformers.SpeechT5Config(hidden_size=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128, decoder_layers=2,
                                         decoder_attention_heads=4, decoder_ffn_dim=128, vocab_size=100, max_text_positions=200)
    names = ["input_values", "attention_mask"]
    dyn = {n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]}
    export(Outputs(SpeechT5EncoderWithTextPrenet(config).eval(), names), (torch.randint(0, 100, (2, 16)), torch.ones(2, 16, dtype=torch.int64)),
           "speecht5_encoder.onnx", names, ["last_hidden_state"], dyn)


def lively(model):
    """
    Convolutions and batch norms re-drawn so that activations keep their scale through the layers
    (Kaiming's fan-in normal, running statistics and affine parameters near 1 and 0): transformers'
    own initialization of these CNNs makes a random model's outputs vanish (1e-24, or all zeros
    after ReLU6), and a test comparing zeros cannot fail.
    """
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.uniform_(m.bias, -0.1, 0.1)
        elif isinstance(m, torch.nn.BatchNorm2d):
            for t, lo, hi in [(m.weight, 0.8, 1.2), (m.bias, -0.1, 0.1), (m.running_mean, -0.1, 0.1), (m.running_var, 0.8, 1.2)]:
                torch.nn.init.uniform_(t, lo, hi)
    return model


def image_model(name, model, outputs, hw=False):
    lively(model)
    dyn = {n: {0: "batch"} for n in ["pixel_values"] + outputs}
    if hw:
        dyn["pixel_values"] = {0: "batch", 2: "height", 3: "width"}
    export(Outputs(model.eval(), ["pixel_values"]), (torch.randn(2, 3, 64, 64),), name, ["pixel_values"], outputs, dyn)


def segformer():
    torch.manual_seed(SEED)
    image_model("segformer.onnx", transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], decoder_hidden_size=64, image_size=64, num_labels=5)), ["logits"])


def mobilenet_v2(hw=False):
    torch.manual_seed(SEED)
    image_model("mobilenet_v2_hw.onnx" if hw else "mobilenet_v2.onnx", transformers.MobileNetV2Model(transformers.MobileNetV2Config(image_size=64, depth_multiplier=0.35)),
                ["last_hidden_state", "pooler_output"], hw)


def efficientnet(hw=False):
    torch.manual_seed(SEED)
    image_model("efficientnet_hw.onnx" if hw else "efficientnet.onnx", transformers.EfficientNetModel(transformers.EfficientNetConfig(
        image_size=64, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320)), ["last_hidden_state", "pooler_output"], hw)


class SamPoints(torch.nn.Module):
    def __init__(self, embed):
        super().__init__()
        self.embed = embed

    def forward(self, input_points):
        return self.embed(input_points, input_shape=(640, 1024))


def sam_points():
    torch.manual_seed(SEED)
    from transformers.models.sam.modeling_sam import SamPositionalEmbedding
    # SamModel.shared_image_embedding; scale 1, not its default 384: sin and cos of arguments in the thousands turn
    # one ulp of the argument (a GEMM with or without FMA) into 5e-4 of the output
    embed = SamPositionalEmbedding(transformers.SamVisionConfig(num_pos_feats=32, scale=1.0)).eval()
    points = torch.rand(1, 1, 3, 2) * 600
    export(SamPoints(embed), (points,), "sam_points.onnx", ["input_points"], ["embeddings"],
           {"input_points": {0: "batch", 1: "point_batch", 2: "points"}, "embeddings": {0: "batch", 1: "point_batch", 2: "points"}})


class TwoWay(torch.nn.Module):
    """SAM's token <-> image cross attention, its shapes made as SAM's decoder makes them."""

    def __init__(self, tokens=10, dim=16):
        super().__init__()
        self.tok = torch.nn.Parameter(torch.randn(1, tokens, dim))
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))

    @staticmethod
    def heads(x, h=2):
        b, pb, n, c = x.shape
        return x.reshape(b * pb, n, h, c // h).transpose(1, 2)

    @staticmethod
    def merge(x):
        b, h, n, c = x.shape
        return x.transpose(1, 2).reshape(b, n, h * c)

    def forward(self, points, image):
        t = torch.cat([self.tok.expand(points.shape[0], -1, -1), points], 1).unsqueeze(1)
        k = image.flatten(2).transpose(1, 2).unsqueeze(1)
        q, kk, vv = self.heads(self.q(t)), self.heads(self.k(k)), self.heads(self.v(k))
        a = self.merge((q @ kk.transpose(-1, -2)).softmax(-1) @ vv)
        q2, k2, v2 = self.heads(self.q(k)), self.heads(self.k(t)), self.heads(self.v(t))
        return a, self.merge((q2 @ k2.transpose(-1, -2)).softmax(-1) @ v2)


def sam_two_way():
    torch.manual_seed(SEED)
    export(TwoWay().eval(), (torch.randn(1, 2, 16), torch.randn(1, 16, 4, 4)), "sam_two_way.onnx", ["points", "image"], ["tokens", "image_out"],
           {"points": {0: "batch", 1: "npts"}, "image": {0: "batch"}, "tokens": {0: "batch", 1: "seq"}, "image_out": {0: "batch"}})


EXPORTS = {"bert": bert, "gpt2": gpt2, "whisper_encoder": whisper_encoder, "roberta": roberta, "t5_encoder": t5_encoder, "llama": llama, "gpt_neo": gpt_neo, "deberta_v2": deberta_v2, "quantized": quantized,
           "clip_text": clip_text, "speecht5_encoder": speecht5_encoder, "segformer": segformer, "mobilenet_v2": mobilenet_v2, "efficientnet": efficientnet,
           "mobilenet_v2_hw": lambda: mobilenet_v2(True), "efficientnet_hw": lambda: efficientnet(True),
           "sam_points": sam_points, "sam_two_way": sam_two_way}

if __name__ == "__main__":
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, seed {SEED}")
    os.makedirs(OUT, exist_ok=True)
    with torch.no_grad():
        for name in sys.argv[1:] or EXPORTS:
            EXPORTS[name]()
