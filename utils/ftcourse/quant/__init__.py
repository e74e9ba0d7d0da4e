"""Quantization by hand: int8 absmax (per tensor, row, block), NF4/FP4 4-bit with double quantization, bits/param.

>>> from ftcourse.quant import quantize_4bit, dequantize_4bit, bits_per_parameter
>>> q = quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True)
>>> dequantize_4bit(q)          # bit-identical to bitsandbytes.functional on CPU (tests/unit/test_quant_nf4.py)
>>> bits_per_parameter(q)       # 4.127 on a large weight; 4.5 without double quantization

- `absmax`: int8 absmax quantization and its error, to show what one outlier does per tensor vs per block;
- `nf4`: the NF4 and FP4 code books, blockwise 4-bit quantization, double quantization (the signed dynamic
  8-bit map), dequantization, bits per parameter from the stored tensors;
- `linear4bit`: `Linear4bit.from_linear(linear, quant_type, compress_statistics, blocksize, compute_dtype)`, a
  frozen 4-bit layer (same outputs and input gradients as bnb.nn.Linear4bit); with `LoRALinear` on top, QLoRA;
- `qlora`: `load_qlora(name, classifier=...)`, a preset in 4 bits (bitsandbytes NF4) with peft's LoRA, CPU-safe;
- `sizes`: the size rule (bytes of packed values and constants) that the memory estimator imports.

This package is the one home of the 4-bit facts. `sizes` loads eagerly (no torch); the rest on first use.
"""

from ftcourse._util import lazy_exports
from ftcourse.quant.sizes import DQ_BLOCK, NF4_BLOCK, NF4_CODE, nf4_constant_bytes, packed_bytes, stored_bytes

_WHERE = {
    "INT8_MAX": "quant.absmax", "QuantError": "quant.absmax", "SCOPES": "quant.absmax",
    "absmax_dequantize": "quant.absmax", "absmax_error": "quant.absmax", "absmax_quantize": "quant.absmax",
    "BLOCKSIZES": "quant.nf4", "DoubleQuantState": "quant.nf4", "NF4_OFFSET": "quant.nf4", "QUANT_TYPES": "quant.nf4",
    "Quantized4bit": "quant.nf4", "bits_per_parameter": "quant.nf4", "block_absmax": "quant.nf4",
    "code_book": "quant.nf4", "dequantize_4bit": "quant.nf4", "dequantize_dynamic_8bit": "quant.nf4",
    "dynamic_map": "quant.nf4", "fp4_code_book": "quant.nf4", "nf4_code_book": "quant.nf4",
    "quantize_4bit": "quant.nf4", "quantize_dynamic_8bit": "quant.nf4",
    "Linear4bit": "quant.linear4bit",
    "bnb_4bit_config": "quant.qlora", "default_compute_dtype": "quant.qlora", "disable_cpu_repacking": "quant.qlora",
    "linear4bit_modules": "quant.qlora", "load_qlora": "quant.qlora",
}
__all__ = ["DQ_BLOCK", "NF4_BLOCK", "NF4_CODE", "nf4_constant_bytes", "packed_bytes", "stored_bytes", *_WHERE]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
