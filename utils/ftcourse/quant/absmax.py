"""int8 absmax quantization per tensor, per row and per block: why 4-bit methods scale in small blocks.

>>> codes, absmax = absmax_quantize(w, scope="block", blocksize=64)   # int8 codes, one fp32 absmax per block
>>> w_hat = absmax_dequantize(codes, absmax, scope="block", blocksize=64)
>>> absmax_error(w, scope="tensor"), absmax_error(w, scope="block")   # (max_abs, rms) of w_hat - w

Each group of values (the whole tensor, one row, or one block of the flattened tensor) is divided by its
largest |value| and mapped onto the 255 integers -127..127: code = round(x * 127 / absmax). One large outlier
sets the step (absmax / 127) of its whole group, so per-tensor scaling loses every small value to it, while
blockwise scaling confines the damage to the outlier's own block.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ftcourse._util import check_choice, check_positive_int

SCOPES = ("tensor", "row", "block")
INT8_MAX = 127  # symmetric: -127..127, so 0 is exact and the code of -absmax is -127
TINY = 1e-38  # an all-zero group has absmax 0; its codes are 0 instead of 0/0
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


class QuantError(NamedTuple):
    """How far the round trip lands from the original values."""

    max_abs: float  # max |x_hat - x|
    rms: float  # sqrt(mean((x_hat - x)^2))


def _groups(flat: torch.Tensor, shape: torch.Size, scope: str, blocksize: int) -> torch.Tensor:
    """The values as (groups, group size): one row for the tensor, one per row, or one per block (zero-padded)."""
    if scope == "tensor":
        return flat.view(1, -1)  # (1, n)
    if scope == "row":
        return flat.view(-1, shape[-1] if len(shape) else 1)  # (rows, last dim)
    blocks = math.ceil(flat.numel() / blocksize)
    return torch.nn.functional.pad(flat, (0, blocks * blocksize - flat.numel())).view(blocks, blocksize)


def _check(x, scope: str, blocksize: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x.dtype={got} is not valid; valid choices: {', '.join(map(str, FLOAT_DTYPES))}")
    if x.numel() == 0:
        raise ValueError(f"x has no elements (shape {tuple(x.shape)}); quantize a tensor with at least one value")
    check_choice("scope", scope, SCOPES)
    check_positive_int("blocksize", blocksize)


def absmax_quantize(x: torch.Tensor, scope: str = "tensor", blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 codes (x's shape) and the fp32 absmax of each group: () per tensor, (rows,) per row, (blocks,) per block.

    Rows are the last dimension; blocks run over the flattened tensor (row-major), the last one may be short.
    """
    _check(x, scope, blocksize)
    flat = x.reshape(-1).float()  # (n,)
    groups = _groups(flat, x.shape, scope, blocksize)  # (groups, size)
    absmax = groups.abs().amax(dim=1)  # (groups,) fp32
    codes = torch.round(groups * (INT8_MAX / absmax.clamp(min=TINY))[:, None])  # (groups, size) in -127..127
    codes = codes.clamp(-INT8_MAX, INT8_MAX).to(torch.int8).reshape(-1)[: flat.numel()].reshape(x.shape)
    return codes, (absmax[0] if scope == "tensor" else absmax)


def absmax_dequantize(codes: torch.Tensor, absmax: torch.Tensor, scope: str = "tensor",
                      blocksize: int = 64) -> torch.Tensor:
    """fp32 values back: code * absmax / 127 of its group (the inverse of `absmax_quantize`, up to rounding)."""
    check_choice("scope", scope, SCOPES)
    check_positive_int("blocksize", blocksize)
    flat = codes.reshape(-1).float()  # (n,)
    groups = _groups(flat, codes.shape, scope, blocksize)  # (groups, size)
    step = (absmax.float().reshape(-1) / INT8_MAX)[:, None]  # (groups, 1) the value of one code step
    return (groups * step).reshape(-1)[: flat.numel()].reshape(codes.shape)


def absmax_error(x: torch.Tensor, scope: str = "tensor", blocksize: int = 64) -> QuantError:
    """The round-trip error of int8 absmax quantization at `scope`: its max |error| and its RMS."""
    codes, absmax = absmax_quantize(x, scope, blocksize)
    error = absmax_dequantize(codes, absmax, scope, blocksize).double() - x.double()  # (x's shape)
    return QuantError(max_abs=error.abs().max().item(), rms=error.pow(2).mean().sqrt().item())


__all__ = ["INT8_MAX", "QuantError", "SCOPES", "absmax_dequantize", "absmax_error", "absmax_quantize"]
