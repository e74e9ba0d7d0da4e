"""`Linear4bit` by hand: a frozen linear layer that stores its weight as 4-bit NF4/FP4 and dequantizes it per call.

>>> layer = Linear4bit.from_linear(nn.Linear(4096, 4096), quant_type="nf4", compress_statistics=True)
>>> y = layer(x)                        # F.linear(x, dequantize_4bit(weight), bias), in the compute dtype
>>> qlora = LoRALinear(layer, r=8)      # QLoRA: gradients reach the fp32 adapters and x, never the 4-bit weight

What bitsandbytes' `bnb.nn.Linear4bit` computes on CPU, written out: the same outputs and input gradients
(tests/unit/test_quant_linear4bit.py). The packed weight is a buffer, not a parameter: nothing can train it.
The backward pass dequantizes the weight again instead of keeping the 16/32-bit copy from the forward pass
alive, which is why QLoRA's activations memory does not include a full-precision copy of every weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ftcourse._util import check_bool, check_choice
from ftcourse.quant.nf4 import (
    FLOAT_DTYPES,
    QUANT_TYPES,
    DoubleQuantState,
    Quantized4bit,
    _check_blocksize,
    dequantize_4bit,
    quantize_4bit,
)


class _Linear4bitFunction(torch.autograd.Function):
    """y = x·Wᵀ + b with W dequantized in forward and again in backward; only the packed bytes are kept."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bias: torch.Tensor | None, q: Quantized4bit) -> torch.Tensor:
        ctx.q, ctx.has_bias = q, bias is not None
        weight = dequantize_4bit(q, x.dtype)  # (out, in) in the compute dtype; freed when forward returns
        return F.linear(x, weight, bias)  # (..., out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad_x = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = grad @ dequantize_4bit(ctx.q, grad.dtype)  # (..., out) @ (out, in) = (..., in)
        if ctx.has_bias and ctx.needs_input_grad[1]:
            grad_bias = grad.reshape(-1, grad.shape[-1]).sum(0)  # (out,): summed over every leading dim
        return grad_x, grad_bias, None  # no gradient for the quantized weight: it is not a parameter


class Linear4bit(nn.Module):
    """A linear layer whose weight is 4-bit (our `Quantized4bit`, stored as buffers) and whose bias stays as is
(trainable if the source's was, as in bitsandbytes).

    Buffers, named like bitsandbytes' state-dict keys: `weight` (uint8 packed, (out·in / 2, 1)), `absmax`,
    `quant_map` (the 16-value code book) and, with double quantization, `offset`, `nested_absmax`,
    `nested_quant_map`. `compute_dtype=None` computes in the input's dtype (bitsandbytes instead fixes the dtype
    of the first fp32/bf16 input it sees and keeps it); the output always comes back in the input's dtype.
    """

    def __init__(self, q: Quantized4bit, bias: torch.Tensor | None = None,
                 compute_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not isinstance(q, Quantized4bit) or len(q.shape) != 2:
            raise TypeError(f"Linear4bit needs a Quantized4bit of a 2-D (out, in) weight, got {type(q).__name__}"
                            f"{'' if not isinstance(q, Quantized4bit) else f' of shape {tuple(q.shape)}'}")
        if compute_dtype is not None and compute_dtype not in FLOAT_DTYPES:
            raise ValueError(f"compute_dtype={compute_dtype} is not valid; valid choices: None, "
                             f"{', '.join(map(str, FLOAT_DTYPES))}")
        self.out_features, self.in_features = q.shape
        self.weight_shape, self.weight_dtype = q.shape, q.dtype
        self.blocksize, self.quant_type, self.compute_dtype = q.blocksize, q.quant_type, compute_dtype
        self.register_buffer("weight", q.packed)
        self.register_buffer("absmax", q.absmax)
        self.register_buffer("quant_map", q.code)
        if q.nested:
            self.register_buffer("offset", q.offset)
            self.register_buffer("nested_absmax", q.state2.absmax)
            self.register_buffer("nested_quant_map", q.state2.code)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=bias.requires_grad)

    @classmethod
    def from_linear(cls, linear: nn.Linear, quant_type: str = "nf4", compress_statistics: bool = True,
                    blocksize: int = 64, compute_dtype: torch.dtype | None = None) -> Linear4bit:
        """Quantize `linear.weight` (bnb.nn.Linear4bit's defaults, except quant_type: nf4 here, fp4 there)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Linear4bit.from_linear quantizes an nn.Linear, got {type(linear).__name__}")
        check_choice("quant_type", quant_type, QUANT_TYPES)
        _check_blocksize(blocksize)
        check_bool("compress_statistics", compress_statistics)
        q = quantize_4bit(linear.weight.detach(), blocksize, quant_type, compress_statistics)
        return cls(q, linear.bias, compute_dtype)

    @property
    def quantized(self) -> Quantized4bit:
        """The buffers as one `Quantized4bit` (after .to(device) they live there), for `dequantize_4bit`."""
        nested = hasattr(self, "nested_absmax")
        return Quantized4bit(
            packed=self.weight, absmax=self.absmax, shape=self.weight_shape, dtype=self.weight_dtype,
            blocksize=self.blocksize, quant_type=self.quant_type, code=self.quant_map,
            offset=self.offset if nested else None,
            state2=DoubleQuantState(self.nested_absmax, self.nested_quant_map) if nested else None)

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The (out, in) weight back in `dtype` (default: the dtype it was quantized from)."""
        return dequantize_4bit(self.quantized, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cast x (and the bias) to the compute dtype, x·Wᵀ + b there, and back to x's dtype: bitsandbytes' steps."""
        compute = self.compute_dtype or x.dtype
        bias = None if self.bias is None else self.bias.to(compute)
        return _Linear4bitFunction.apply(x.to(compute), bias, self.quantized).to(x.dtype)

    def extra_repr(self) -> str:
        nested = ", compress_statistics=True" if hasattr(self, "nested_absmax") else ""
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"quant_type={self.quant_type}, blocksize={self.blocksize}{nested}, compute_dtype={self.compute_dtype}")


__all__ = ["Linear4bit"]
