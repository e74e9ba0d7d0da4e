"""What a 4-bit (NF4) weight costs in bytes: packed values plus its quantization constants.

bitsandbytes' defaults, as transformers' BitsAndBytesConfig(bnb_4bit_quant_type="nf4") uses them:
- values: two 4-bit codes per byte, so ceil(n / 2) bytes for n values;
- blockwise absmax: one fp32 scale per block of NF4_BLOCK = 64 values (4 + 32/64 = 4.5 bits/param);
- double quantization: those scales, minus their mean (one fp32 offset), quantized to uint8 in blocks of
  DQ_BLOCK = 256 with one fp32 scale per block and a 256-entry fp32 code table
  (4 + 8/64 + 32/(64·256) = 4.127 bits/param); the 16-value NF4 code table rides along (fp32).

`stored_bytes` reads the same parts off a real bitsandbytes result (`quantize_4bit`'s packed tensor and
QuantState), so the rule above can be checked against what the library actually keeps.
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


def _nbytes(tensor) -> int:
    return tensor.numel() * tensor.element_size()


def stored_bytes(packed, state) -> dict[str, int]:
    """Bytes of each part bitsandbytes keeps for one 4-bit weight: what `quantize_4bit` returned, counted.

    `packed`, `state` = `bitsandbytes.functional.quantize_4bit(W, quant_type="nf4", ...)`. Parts: "packed"
    (two codes a byte), "absmax" (fp32 per block; uint8 under double quantization), "code" (the 16-value
    table) and, with double quantization, "nested_absmax" (fp32 per 256 blocks), "nested_code" (the 8-bit
    map) and "offset" (the fp32 mean subtracted from the absmax). Divide the sum by the weight's numel
    (`math.prod(state.shape)`) for bytes per parameter.
    """
    quant_type = getattr(state, "quant_type", None)
    if quant_type not in ("nf4", "fp4"):
        raise ValueError(f"state.quant_type={quant_type!r}; valid choices: 'nf4', 'fp4' (a QuantState of "
                         "bitsandbytes.functional.quantize_4bit)")
    parts = {"packed": _nbytes(packed), "absmax": _nbytes(state.absmax), "code": _nbytes(state.code)}
    if state.nested:  # double quantization
        parts.update(nested_absmax=_nbytes(state.state2.absmax), nested_code=_nbytes(state.state2.code),
                     offset=_nbytes(state.offset))
    return parts


__all__ = ["DQ_BLOCK", "NF4_BLOCK", "NF4_CODE", "nf4_constant_bytes", "packed_bytes", "stored_bytes"]
