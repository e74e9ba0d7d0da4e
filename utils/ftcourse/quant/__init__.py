"""Quantization by hand: the NF4 code book, blockwise absmax, double quantization, bits per parameter.

This package is the one home of the 4-bit facts; the memory estimator imports its size rule from here.
The full method (NF4 by hand, bit-identical to bitsandbytes, and QLoRA) grows here next.
"""

from ftcourse.quant.sizes import DQ_BLOCK, NF4_BLOCK, NF4_CODE, nf4_constant_bytes, packed_bytes, stored_bytes

__all__ = ["DQ_BLOCK", "NF4_BLOCK", "NF4_CODE", "nf4_constant_bytes", "packed_bytes", "stored_bytes"]
