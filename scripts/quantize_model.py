#!/usr/bin/env python3
"""Writes the int8-compute variant of the offline model (run by scripts/setup.py).

The offline model (`all-minilm-l6-v2-int8`) stores its weights in int8 but computes in float:
each weight is cast and scaled back to float32 when ONNX Runtime loads it, so every MatMul runs
in float32. This writes the same weights for int8 compute instead:

1. ONNX Runtime's basic, hardware-independent graph optimizations fold the cast and scale into
   float32 weights (constant folding; the folded model is the float model the int8 one stands
   for).
2. `quantize_dynamic` stores those weights per output channel as int8 and quantizes each
   MatMul's input at run time (`MatMulInteger`), which runs on the CPU's int8 dot-product
   instructions (AVX-512 VNNI, AVX-VNNI; AVX2 otherwise).
3. Each layer's second feed-forward MatMul (hidden size × 4 → hidden size) stays float32: its
   input, after GELU, has the outliers that int8 activations lose most on.

Usage: quantize_model.py SOURCE.onnx DEST.onnx
Needs onnxruntime, onnx and numpy (setup.py installs pinned versions into a temporary folder).
"""
import logging
import sys
import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    source, dest = Path(sys.argv[1]), Path(sys.argv[2])
    # quantize_dynamic's advice to pre-process applies to static quantization, not to this.
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "float.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        model = onnx.load(str(folded))
        shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
        down = [
            node.name
            for node in model.graph.node
            if node.op_type == "MatMul"
            and len(shapes.get(node.input[1], ())) == 2
            and shapes[node.input[1]][0] == 4 * shapes[node.input[1]][1]
        ]
        if not down:
            print("quantize_model: no feed-forward output MatMul found", file=sys.stderr)
            return 1
        quantize_dynamic(
            str(folded),
            str(dest),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=down,
        )
    print(f"quantize_model: wrote {dest} ({len(down)} feed-forward MatMuls kept in float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
