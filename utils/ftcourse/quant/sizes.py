"""What a 4-bit (NF4) weight costs in bytes: packed values plus its quantization constants.

bitsandbytes' defaults, as transformers' BitsAndBytesConfig(bnb_4bit_quant_type="nf4") uses them:
- values: two 4-bit codes per byte, so ceil(n / 2) bytes for n values;
- blockwise absmax: one fp32 scale per block of NF4_BLOCK = 64 values (4 + 32/64 = 4.5 bits/param);
- double quantization: those scales, minus their mean (one fp32 offset), quantized to uint8 in blocks of
  DQ_BLOCK = 256 with one fp32 scale per block and a 256-entry fp32 code table
  (4 + 8/64 + 32/(64·256) = 4.127 bits/param); the 16-value NF4 code table rides along (fp32).
"""

from __future__ import annotations

import math

NF4_BLOCK = 64
DQ_BLOCK = 256
DQ_CODE_ENTRIES = 256  # the signed dynamic 8-bit map of the nested quantization
# The 16 NF4 code values (normal quantiles, offset 0.9677083; 7 negative, exact zero, 8 positive), as bitsandbytes
# stores them in fp32.
NF4_CODE = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
            -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
            0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
            0.7229568362236023, 1.0)
FP32 = 4


def packed_bytes(numel: int) -> int:
    """Bytes of `numel` 4-bit codes, two per byte."""
    return math.ceil(numel / 2)


def nf4_constant_bytes(numel: int, double_quant: bool, blocksize: int = NF4_BLOCK) -> int:
    """Bytes of the constants bitsandbytes keeps beside one NF4 weight of `numel` values."""
    blocks = math.ceil(numel / blocksize)
    code = len(NF4_CODE) * FP32
    if not double_quant:
        return FP32 * blocks + code  # an fp32 absmax per block
    nested = math.ceil(blocks / DQ_BLOCK)
    return blocks + FP32 * nested + DQ_CODE_ENTRIES * FP32 + FP32 + code  # uint8 absmax, nested fp32, map, offset


__all__ = ["DQ_BLOCK", "NF4_BLOCK", "NF4_CODE", "nf4_constant_bytes", "packed_bytes"]
