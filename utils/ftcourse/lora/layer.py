"""`LoRALinear`: a frozen `nn.Linear` plus a trainable low-rank update, W' = W0 + scaling · B·A.

B starts at zero and A is kaiming-uniform (as in peft and loralib), so a fresh layer computes
exactly what the base layer computes. Attribute names follow peft's `lora.Linear`
(`base_layer`, `lora_A`, `lora_B`, `lora_dropout`, `scaling`) so that every state-dict key maps
onto peft's by dropping peft's adapter name, and the forward pass is peft's, operation for operation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ftcourse._util import check_positive_int, check_positive_number, check_probability, renamed
from ftcourse.quant.linear4bit import Linear4bit

LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_hyperparameters(r, lora_alpha, lora_dropout) -> None:
    """Reject a rank, alpha or dropout that LoRA cannot use, naming the bad value (peft's field names)."""
    check_positive_int("r", r)
    check_positive_number("lora_alpha", lora_alpha)
    check_probability("lora_dropout", lora_dropout)


def lora_scaling(r: int, lora_alpha: float, use_rslora: bool = False) -> float:
    """lora_alpha / r (the paper), or lora_alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023), as peft computes it."""
    return lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r


class LoRALinear(nn.Module):
    """A frozen linear layer plus lora_B(lora_A(dropout(x))) · scaling on a side branch.

    For a bf16/fp16 base the adapter weights are kept in fp32 (what `get_peft_model` does with
    its default `autocast_adapter_dtype=True`): the branch runs in fp32 and the sum is cast back
    to the base's output dtype. Pass `adapter_dtype` to choose otherwise.
    """

    def __init__(self, base: nn.Linear | Linear4bit, r: int = 8, lora_alpha: float = 8, lora_dropout: float = 0.0,
                 use_rslora: bool = False, *, adapter_dtype: torch.dtype | None = None, **old) -> None:
        super().__init__()
        for before, now in (("alpha", "lora_alpha"), ("dropout", "lora_dropout"), ("rank", "r"), ("lora_r", "r")):
            renamed("LoRALinear", before, now, old)
        if old:
            raise TypeError(f"LoRALinear() got unexpected keyword(s) {sorted(old)}")
        if not isinstance(base, nn.Linear | Linear4bit):  # Linear4bit (4-bit weight, a buffer): QLoRA
            raise TypeError(f"LoRALinear wraps an nn.Linear or an ftcourse.quant.Linear4bit, got {type(base).__name__}")
        check_hyperparameters(r, lora_alpha, lora_dropout)
        weight = base.weight
        if adapter_dtype is None:  # fp32 next to 16-bit or quantized (e.g. bitsandbytes 4-bit) weights
            adapter_dtype = weight.dtype if weight.dtype.is_floating_point and weight.dtype not in LOW_PRECISION \
                else torch.float32
        if not adapter_dtype.is_floating_point:
            raise ValueError(f"adapter_dtype must be a floating-point dtype, got {adapter_dtype}")
        base.requires_grad_(False)
        self.base_layer = base
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.lora_alpha, self.use_rslora = r, lora_alpha, use_rslora
        self.scaling = lora_scaling(r, lora_alpha, use_rslora)
        self.lora_dropout = nn.Dropout(p=lora_dropout) if lora_dropout > 0 else nn.Identity()
        factory = {"device": weight.device, "dtype": adapter_dtype}
        self.lora_A = nn.Linear(self.in_features, r, bias=False, **factory)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, **factory)
        self.merged = False
        self.reset_lora_parameters()
        self.train(base.training)  # a layer put into an eval-mode model must not start dropping out

    def reset_lora_parameters(self) -> None:
        """A like nn.Linear's default (kaiming-uniform, a=√5), B = 0: the update BA starts at exactly zero."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    @property
    def weight(self) -> torch.Tensor:
        """The base weight, so code that reads `module.weight` (dtype, device, shape) keeps working."""
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + lora_B(lora_A(dropout(x))) · scaling, peft's operations in peft's order: bitwise-equal outputs."""
        result = self.base_layer(x)
        if self.merged:
            return result
        result_dtype = result.dtype
        x = x.to(self.lora_A.weight.dtype)  # a no-op in fp32; a 16-bit input meets fp32 adapter weights
        result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result.to(result_dtype)

    def _work_dtype(self) -> torch.dtype:
        """The dtype merges compute in: the wider of the factors' and the base's, at least fp32 (fp64 stays fp64)."""
        floats = [d for d in (self.lora_A.weight.dtype, self.base_layer.weight.dtype) if d.is_floating_point]
        widest = max(floats, key=lambda d: torch.finfo(d).bits)  # a quantized (uint8) base weight does not count
        return torch.promote_types(widest, torch.float32)

    def _delta(self, dtype: torch.dtype) -> torch.Tensor:
        a, b = self.lora_A.weight.detach().to(dtype), self.lora_B.weight.detach().to(dtype)
        return (b @ a) * self.scaling  # (out × r) @ (r × in) = out × in

    def delta_weight(self) -> torch.Tensor:
        """ΔW = scaling · B·A (out × in), computed in the factors' dtype (at least fp32), returned in the base's
        (in the work dtype when the base weight is quantized)."""
        base = self.base_layer.weight.dtype
        work = self._work_dtype()
        return self._delta(work).to(base if base.is_floating_point else work)

    def merged_weight(self) -> torch.Tensor:
        """W0 + ΔW as a new tensor (the sum taken in at least fp32, fp64 kept), refusing a result with NaN or inf."""
        weight = self.base_layer.weight.detach()
        if not weight.dtype.is_floating_point:
            raise ValueError(f"the base weight is {weight.dtype} (quantized): merging needs it dequantized first; "
                             "the weight was left unchanged")
        work = self._work_dtype()
        merged = (weight.to(work) + self._delta(work)).to(weight.dtype)
        if not torch.isfinite(merged).all():
            raise ValueError("merging this LoRA layer would put NaN or inf into the weight; the adapter is broken "
                             "(check the learning rate and the loss); the weight was left unchanged")
        return merged

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ΔW into the base weight so inference costs one matmul; a no-op if already merged."""
        if self.merged:
            return
        self.base_layer.weight.data = self.merged_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take ΔW back out of the base weight (exact up to rounding; lossy in bf16/fp16); a no-op if not merged."""
        if not self.merged:
            return
        weight = self.base_layer.weight
        work = self._work_dtype()
        weight.data = (weight.to(work) - self._delta(work)).to(weight.dtype)
        self.merged = False

    def extra_repr(self) -> str:
        rs = ", use_rslora=True" if self.use_rslora else ""
        return f"r={self.r}, lora_alpha={self.lora_alpha}, scaling={self.scaling:g}{rs}, merged={self.merged}"
