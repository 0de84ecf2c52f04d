"""Quantize kiln's test models with onnxruntime's own tools, the way users make theirs.

    pip install onnxruntime onnx onnx_ir
    node dist/models/quantize/sources.js WORK          # the float models and calibration inputs
    python3 models/quantize/make.py WORK               # WORK/<name>/<form>.onnx, and the fixtures

Forms (issue 14):
    qdq      quantize_static, QuantFormat.QDQ, per-channel int8 weights, int8 activations,
             MinMax calibration on the 8 calibration inputs (models/quantize/sources.ts)
    dynamic  quantize_dynamic (int8 weights per tensor, uint8 activations: transformers.js's q8)
    nbits    matmul_nbits_quantizer.MatMulNBitsQuantizer, 4 bits, blocks of 32, asymmetric

The quantized models are too big to commit (MiniLM's weights alone are 11 MB at 8 bits). What
goes into models/quantize/fixtures/ is each quantized model with its large weight tensors
emptied, and a recipe per emptied tensor saying how it follows from the float model (as
onnxruntime's quantizer computes it, checked here before a tensor is emptied) with the SHA-256
of its bytes. models/quantize/refill.ts rebuilds the float model in TypeScript, recomputes the
tensors, checks the hashes and puts them back: CI gets onnxruntime's quantized models without
Python. Small models are committed whole.
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
# tensors at least this big are emptied and refilled when a recipe reproduces them; models this small are committed whole
STRIP_BYTES = 4 << 10
WHOLE_MODEL_BYTES = 512 << 10
# a tensor no recipe reproduces is committed up to this size
KEEP_BYTES = 256 << 10


class Calibration(CalibrationDataReader):
    def __init__(self, work, meta):
        shape = meta["shape"]
        self.inputs = [
            {meta["input"]: np.fromfile(os.path.join(work, f"calib_{i}.bin"), dtype=np.float32).reshape(shape)}
            for i in range(meta["calibration"])
        ]
        self.at = 0

    def get_next(self):
        if self.at >= len(self.inputs):
            return None
        self.at += 1
        return self.inputs[self.at - 1]


def at_least_opset(src, dst, version=13):
    """quantize_static's per-channel weights need opset 13 (a DequantizeLinear axis)."""
    model = onnx.load(src)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), version)
    if opset < version:
        model = onnx.version_converter.convert_version(model, version)
    onnx.save(model, dst)
    return dst


def make(work, meta, form):
    src = os.path.join(work, "float.onnx")
    out = os.path.join(work, f"{form}.onnx")
    if form == "qdq":
        prepared = at_least_opset(src, os.path.join(work, "float13.onnx"))
        quantize_static(prepared, out, Calibration(work, meta), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    elif form == "dynamic":
        quantize_dynamic(src, out, weight_type=QuantType.QInt8)
    elif form == "nbits":
        q = MatMulNBitsQuantizer(onnx.load(src), block_size=32, is_symmetric=False, bits=4)
        q.process()
        onnx.save(q.model.model, out)
    return out


def rne(x):
    return np.round(x)  # numpy rounds half to even


def recipe_for(name, q, inits, source, nodes):
    """How tensor `name` (values q) follows from the float model, checked; or None."""
    # weights: W -> W_quantized with W_scale / W_zero_point (per tensor or per channel along a DequantizeLinear's axis)
    if name.endswith("_quantized") and q.dtype in (np.int8, np.uint8):
        base = name[: -len("_quantized")]
        if base not in source or f"{base}_scale" not in inits:
            return None
        w = source[base].astype(np.float32)
        scale = inits[f"{base}_scale"].astype(np.float32)
        zp = inits.get(f"{base}_zero_point", np.zeros_like(scale, dtype=q.dtype))
        axis = None
        for n in nodes:
            if n.op_type == "DequantizeLinear" and n.input[0] == name:
                axis = next((a.i for a in n.attribute if a.name == "axis"), 1) if scale.size > 1 else None
        if scale.size > 1 and axis is None:
            return None
        shape = [1] * w.ndim
        if axis is not None:
            shape[axis] = -1
        info = np.iinfo(q.dtype)
        got = np.clip(rne(w / scale.reshape(shape)) + zp.astype(np.float32).reshape(shape), info.min, info.max).astype(q.dtype)
        if not np.array_equal(got, q):
            return None
        return {"kind": "quantize", "source": base, "scale": f"{base}_scale", "zero_point": f"{base}_zero_point" if f"{base}_zero_point" in inits else None, "axis": axis}
    # int32 biases: B -> B_quantized, scale B_quantized_scale (x_scale * w_scale), in float64
    if name.endswith("_quantized") and q.dtype == np.int32:
        base = name[: -len("_quantized")]
        if base not in source or f"{name}_scale" not in inits:
            return None
        b = source[base].astype(np.float64)
        s = inits[f"{name}_scale"].astype(np.float64).reshape(b.shape if inits[f"{name}_scale"].size > 1 else ())
        got = np.clip(rne(b / s), np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
        return {"kind": "bias", "source": base, "scale": f"{name}_scale"} if np.array_equal(got, q) else None
    # MatMulNBits: W [K, N] -> W_Q4 [N, blocks, 16], W_scales, W_zero_points (4-bit, blocks of 32, asymmetric),
    # all three from W: per block of W^T, scale = (max(w, 0) - min(w, 0)) / 15, zero point round(-min / scale)
    for suffix in ("_Q4", "_scales", "_zero_points"):
        if not name.endswith(suffix):
            continue
        base = name[: -len(suffix)]
        if base not in source or f"{base}_Q4" not in inits:
            return None
        w = source[base].astype(np.float32)
        K, N = w.shape
        blocks, bs = inits[f"{base}_Q4"].shape[1], 2 * inits[f"{base}_Q4"].shape[2]
        pad = np.zeros((blocks * bs, N), np.float32)
        pad[:K] = w
        wt = pad.T.reshape(N, blocks, bs)
        mn, mx = np.minimum(wt.min(axis=2), np.float32(0)), np.maximum(wt.max(axis=2), np.float32(0))
        scale = (mx - mn) / np.float32(15)
        zp = np.clip(rne(-mn / scale), 0, 15)
        # the zero point is added in float32 before rounding (x.4999996 + 8 rounds up to 9.5, then 10)
        v = np.clip(rne(wt / scale[:, :, None] + zp[:, :, None]), 0, 15).astype(np.uint8)
        zpb = zp.astype(np.uint8)
        if blocks % 2:
            zpb = np.concatenate([zpb, np.zeros((N, 1), np.uint8)], axis=1)
        got = {
            "_Q4": (v[:, :, 0::2] | (v[:, :, 1::2] << 4)).astype(np.uint8),
            "_scales": scale,
            "_zero_points": (zpb[:, 0::2] | (zpb[:, 1::2] << 4)).astype(np.uint8),
        }[suffix]
        if not np.array_equal(got.reshape(-1), q.reshape(-1)):
            return None
        return {"kind": "nbits" + suffix.replace("_Q4", "").replace("_", "-"), "source": base, "block_size": bs}
    return None


def fixture(work, meta, form, path):
    name = f"{meta['name']}.{form}"
    os.makedirs(FIXTURES, exist_ok=True)
    if os.path.getsize(path) <= WHOLE_MODEL_BYTES:
        model = onnx.load(path)
        onnx.save(model, os.path.join(FIXTURES, f"{name}.onnx"))
        return f"{name}: whole, {os.path.getsize(path)} bytes"
    source = {i.name: numpy_helper.to_array(i) for i in onnx.load(os.path.join(work, "float.onnx")).graph.initializer}
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    refill = []
    for t in model.graph.initializer:
        q = inits[t.name]
        if q.nbytes < STRIP_BYTES:
            continue
        r = recipe_for(t.name, q, inits, source, model.graph.node)
        if r is None and q.nbytes >= KEEP_BYTES:
            raise SystemExit(f"{name}: no recipe reproduces {t.name} ({q.dtype}{list(q.shape)}); add one")
        if r is None:
            continue  # a scale table or a float tensor the quantizer kept: committed as it is
        raw = numpy_helper.from_array(q).raw_data
        r.update({"name": t.name, "sha256": hashlib.sha256(raw).hexdigest()})
        refill.append(r)
        t.ClearField("raw_data")
    onnx.save(model, os.path.join(FIXTURES, f"{name}.onnx"))
    with open(os.path.join(FIXTURES, f"{name}.json"), "w") as f:
        json.dump({"model": meta["name"], "form": form, "refill": refill}, f, indent=1)
        f.write("\n")
    return f"{name}: {len(refill)} tensors refilled, {os.path.getsize(os.path.join(FIXTURES, f'{name}.onnx'))} bytes committed"


def main(work):
    for name in sorted(os.listdir(work)):
        meta_file = os.path.join(work, name, "meta.json")
        if not os.path.exists(meta_file):
            continue
        with open(meta_file) as f:
            meta = json.load(f)
        for form in meta["forms"]:
            path = make(os.path.join(work, name), meta, form)
            print(fixture(os.path.join(work, name), meta, form, path), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
