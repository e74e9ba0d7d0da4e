"""NF4 (and FP4) 4-bit quantization by hand, bit-identical to bitsandbytes 0.50 on CPU.

>>> q = quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True)
>>> w_hat = dequantize_4bit(q)            # weight's shape and dtype, each value = code[nibble] * block absmax
>>> bits_per_parameter(q)                 # ≈ 4.127 on a large weight (4.5 without double quantization)

The recipe (QLoRA, Dettmers et al. 2023), in the order bitsandbytes runs it:
1. flatten the weight row-major and cut it into blocks of `blocksize` values (blocks cross row ends);
2. per block, absmax = the largest |value|; divide the block by it, so every value lies in [-1, 1];
3. replace each scaled value by the index (0..15) of the nearest of 16 code values (the NF4 or FP4 code book);
4. pack two indices per byte, the earlier value in the high four bits;
5. double quantization (`compress_statistics=True`): subtract the mean of the absmax vector (the offset) and
   store what is left as 8-bit codes of the signed dynamic map, in blocks of 256 with one fp32 scale each.

Where the library's exact rounding matters (ties, the tail block, the 8-bit kernel's grid), the comment says so:
a learner can skip those lines, a test checks every one of them against bitsandbytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from ftcourse._util import check_bool, check_choice
from ftcourse.quant.sizes import DQ_BLOCK, NF4_BLOCK, NF4_CODE, stored_bytes

BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # what bitsandbytes' quantize_4bit accepts
QUANT_TYPES = ("nf4", "fp4")
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
NF4_OFFSET = 0.9677083  # outermost quantile, ≈ 1 - (1/30 + 1/32) / 2 (QLoRA's create_normal_map default)
TINY = 1e-38  # bitsandbytes divides by max(absmax, TINY), so an all-zero block does not divide by zero
GRID_STEPS = 65535  # the CPU 8-bit kernel snaps each value to one of 65,536 grid points before its table lookup


# ---------------------------------------------------------------------------------------------------- code books

def nf4_code_book(offset: float = NF4_OFFSET) -> torch.Tensor:
    """The 16 NF4 values, derived: quantiles of N(0, 1) with equal probability mass, scaled to [-1, 1].

    8 positive levels from the quantiles at `offset` … 0.5 (0.5 itself dropped), 7 negative levels the same way
    with one step fewer, and an exact zero: an asymmetric code that can still store 0. The arithmetic follows
    QLoRA's create_normal_map (float32 quantile points, float64 inverse normal, float32 normalisation), which is
    what makes the result equal, to the last bit, to the table bitsandbytes hard-codes (`NF4_CODE`).
    """
    positive = torch.linspace(offset, 0.5, 9)[:-1]  # (8,) fp32 probabilities, from the outermost inwards
    negative = torch.linspace(offset, 0.5, 8)[:-1]  # (7,)
    levels = torch.cat([torch.special.ndtri(positive.double()),  # inverse normal CDF, in float64
                        -torch.special.ndtri(negative.double()),
                        torch.zeros(1, dtype=torch.float64)]).float()  # (16,) fp32
    levels = levels.sort().values
    return levels / levels.max()  # fp32 division: the largest becomes 1.0 and the smallest -1.0


def fp4_code_book() -> torch.Tensor:
    """The 16 FP4 values bitsandbytes uses, by index: 1 sign bit (bit 3), 2 exponent bits, 1 mantissa bit.

    bitsandbytes' layout: exponent field 0 is subnormal (0 or 1/16), fields 1, 2, 3 give 8, 4, 2 times
    (1 + mantissa/2), i.e. 8, 12, 4, 6, 2, 3. Divided by the largest (12) to fit [-1, 1]. Index 8 (sign bit
    set, magnitude 0) holds +0.0, not -0.0: bitsandbytes writes it as the integer `-0`.
    """
    magnitudes = []
    for bits in range(8):
        exponent, mantissa = bits >> 1, bits & 1
        if exponent == 0:
            magnitudes.append(mantissa * 0.0625)
        else:
            magnitudes.append(2.0 ** (4 - exponent) * (1 + mantissa / 2))
    raw = torch.tensor(magnitudes + [-m if m else 0.0 for m in magnitudes])  # (16,) fp32; +0.0 at index 8
    return raw / raw.abs().max()


def code_book(quant_type: str = "nf4") -> torch.Tensor:
    """The 16 fp32 values a 4-bit index stands for: bitsandbytes' NF4 table (`NF4_CODE`) or the FP4 one."""
    check_choice("quant_type", quant_type, QUANT_TYPES)
    if quant_type == "nf4":
        return torch.tensor(NF4_CODE, dtype=torch.float32)  # equal to nf4_code_book(); a test checks it
    return fp4_code_book()


def dynamic_map() -> torch.Tensor:
    """The signed dynamic 8-bit map of double quantization: 256 sorted fp32 values in [-1, 1].

    Dense near zero, sparse near ±1: decade 10^-6 holds 1 value per sign, then 2, 4, …, 64 values in decade
    10^0, each the midpoint of an even split of [0.1, 1] times the decade; plus 0 and 1.0
    (bitsandbytes' create_dynamic_map(signed=True), same float32 steps).
    """
    values = [0.0, 1.0]
    for decade in range(7):  # 10^-6 … 10^0
        edges = torch.linspace(0.1, 1, 2 ** decade + 1)  # fp32
        means = (edges[:-1] + edges[1:]) / 2.0  # (2**decade,) midpoints of the split
        scaled = (10 ** (decade - 6)) * means  # fp32
        values += scaled.tolist() + (-scaled).tolist()
    return torch.tensor(sorted(values), dtype=torch.float32)  # (256,)


@lru_cache(maxsize=1)
def _grid_lookup() -> torch.Tensor:
    """For each of the 65,536 grid points v_i = -1 + 2i/65535, the index of its nearest dynamic-map value.

    The CPU kernel (cquantize_blockwise_cpu_fp32) uses this table instead of a search: a value on a midpoint
    between two codes (or the grid point of it) goes to the lower code.
    """
    code = dynamic_map()
    midpoints = (code[:-1] + code[1:]) * 0.5  # (255,) fp32
    grid = -1.0 + 2.0 * torch.arange(GRID_STEPS + 1, dtype=torch.float32) / GRID_STEPS  # (65536,) fp32
    return torch.searchsorted(midpoints, grid, side="left")  # (65536,) first midpoint >= v_i; 255 if none


# ---------------------------------------------------------------------------------------------------- validation

def _check_tensor(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x={type(x).__name__} is not a tensor; quantize a torch.Tensor of dtype "
                         f"{', '.join(map(str, FLOAT_DTYPES))}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"x.dtype={x.dtype} is not valid; valid choices: {', '.join(map(str, FLOAT_DTYPES))}")
    if x.numel() == 0:
        raise ValueError(f"x has no elements (shape {tuple(x.shape)}); quantize a tensor with at least one value")
    return x


def _check_blocksize(blocksize) -> int:
    if isinstance(blocksize, bool) or blocksize not in BLOCKSIZES:
        raise ValueError(f"blocksize={blocksize!r} is not valid; valid choices: {', '.join(map(str, BLOCKSIZES))}")
    return blocksize


# ---------------------------------------------------------------------------------------------------- 8-bit (nested)

def quantize_dynamic_8bit(x: torch.Tensor, blocksize: int = DQ_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise 8-bit codes of the signed dynamic map, as bitsandbytes' CPU kernel computes them.

    Returns (codes: uint8, x's shape; absmax: fp32, one per block of the flattened x). Used by double
    quantization on the absmax vector (blocksize 256). Unlike the 4-bit path this is not a nearest-value
    search: each scaled value is first snapped to a 65,536-point grid, then looked up (`_grid_lookup`), which
    differs from the true nearest code for values within a grid step of a midpoint.
    """
    _check_tensor(x)
    flat = x.reshape(-1).float()  # (n,)
    n = flat.numel()
    blocks = math.ceil(n / blocksize)
    padded = torch.nn.functional.pad(flat, (0, blocks * blocksize - n))  # zeros do not change a block's absmax
    rows = padded.view(blocks, blocksize)  # (blocks, blocksize)
    absmax = rows.abs().amax(dim=1)  # (blocks,) fp32, stored as is (0 for an all-zero block)
    scaled = torch.clamp(rows * (1.0 / absmax)[:, None], -1, 1)  # reciprocal first, then multiply
    grid = ((scaled + 1) * 0.5 * GRID_STEPS + 0.5).to(torch.int64)  # fp32 steps, then truncate: 0..65535
    codes = _grid_lookup()[grid.clamp(0, GRID_STEPS)]  # (blocks, blocksize); NaN rows give junk, fixed next
    codes = torch.where((absmax == 0)[:, None], 0, codes)  # an all-zero block: every code 0
    return codes.reshape(-1)[:n].to(torch.uint8).reshape(x.shape), absmax


def dequantize_dynamic_8bit(codes: torch.Tensor, absmax: torch.Tensor, blocksize: int = DQ_BLOCK) -> torch.Tensor:
    """fp32 values back from `quantize_dynamic_8bit`: map[code] * absmax of its block, one fp32 multiply each."""
    flat = codes.reshape(-1).long()  # (n,)
    scale = absmax.float().repeat_interleave(blocksize)[: flat.numel()]  # (n,) each value's block absmax
    return (dynamic_map()[flat] * scale).reshape(codes.shape)


# ---------------------------------------------------------------------------------------------------- 4-bit

@dataclass
class DoubleQuantState:
    """The scales of the 8-bit absmax codes (bitsandbytes' `QuantState.state2`)."""

    absmax: torch.Tensor  # fp32 (ceil(blocks / 256),)
    code: torch.Tensor  # fp32 (256,) the signed dynamic map
    blocksize: int = DQ_BLOCK


@dataclass
class Quantized4bit:
    """One 4-bit weight: the packed indices plus what it takes to undo them (bitsandbytes' `QuantState` fields).

    `absmax` is fp32 (one per block) or, with double quantization, uint8 codes; then `offset` (fp32 scalar, the
    mean that was subtracted) and `state2` (their per-256 scales) are set. `stored_bytes(q.packed, q)` counts it.
    """

    packed: torch.Tensor  # uint8 ((n + 1) // 2, 1): two 4-bit indices per byte, the earlier in the high nibble
    absmax: torch.Tensor  # (ceil(n / blocksize),) fp32, or uint8 when double-quantized
    shape: torch.Size  # the original shape
    dtype: torch.dtype  # the original dtype (dequantize_4bit returns it)
    blocksize: int
    quant_type: str  # "nf4" or "fp4"
    code: torch.Tensor  # fp32 (16,) the code book
    offset: torch.Tensor | None = None  # fp32 () with double quantization
    state2: DoubleQuantState | None = None  # with double quantization

    @property
    def nested(self) -> bool:
        """True when the absmax values are double-quantized."""
        return self.state2 is not None


def _scale_blocks(flat: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each block of `flat` (fp32, (n,)) into [-1, 1]; returns (scaled (n,), absmax (blocks,))."""
    n = flat.numel()
    full = n - n % blocksize
    blocks = flat[:full].view(-1, blocksize)  # (full_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)  # (full_blocks,) stored unclamped: an all-zero block keeps 0.0
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=TINY))[:, None], -1, 1).reshape(-1)  # reciprocal, multiply
    if full < n:  # the short last block: bitsandbytes clamps the stored absmax and divides (not 1/x then multiply)
        tail = flat[full:]  # (n - full,)
        tail_max = tail.abs().amax().clamp(min=TINY)
        absmax = torch.cat([absmax, tail_max[None]])
        scaled = torch.cat([scaled, torch.clamp(tail / tail_max, -1, 1)])
    return scaled, absmax


def _nearest_index(scaled: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code value for each scaled value; a value exactly on a midpoint takes the lower code."""
    order = torch.argsort(code, stable=True)  # FP4's table is not sorted (NF4's is: order = 0..15)
    ascending = code[order]
    midpoints = (ascending[:-1] + ascending[1:]) / 2  # (15,) fp32
    rank = torch.bucketize(scaled, midpoints)  # how many midpoints lie strictly below each value
    return order[rank]


def quantize_4bit(x: torch.Tensor, blocksize: int = NF4_BLOCK, quant_type: str = "nf4",
                  compress_statistics: bool = False) -> Quantized4bit:
    """Quantize `x` (fp32/bf16/fp16, any shape) to 4-bit indices in blocks of `blocksize`, as bitsandbytes does.

    Same result, bit for bit, as `bitsandbytes.functional.quantize_4bit(x, blocksize=blocksize,
    quant_type=quant_type, compress_statistics=compress_statistics)` on CPU. Note the defaults differ:
    bitsandbytes defaults to "fp4", this function to "nf4" (the QLoRA choice).
    """
    _check_tensor(x)
    _check_blocksize(blocksize)
    check_choice("quant_type", quant_type, QUANT_TYPES)
    check_bool("compress_statistics", compress_statistics)
    code = code_book(quant_type)  # (16,) fp32

    flat = x.reshape(-1).float()  # (n,) row-major; exact for bf16/fp16
    scaled, absmax = _scale_blocks(flat, blocksize)  # (n,), (blocks,)
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))  # an odd count: one extra 0.0 fills the last byte
    index = _nearest_index(scaled, code).to(torch.uint8).view(-1, 2)  # (ceil(n/2), 2)
    packed = ((index[:, 0] << 4) | index[:, 1])[:, None]  # (ceil(n/2), 1) uint8: element 2k high, 2k+1 low

    fields = {"packed": packed, "shape": x.shape, "dtype": x.dtype, "blocksize": blocksize, "quant_type": quant_type,
              "code": code}
    if not compress_statistics:
        return Quantized4bit(absmax=absmax, **fields)
    offset = absmax.mean()  # fp32 (); the same torch call as bitsandbytes, so the same rounding
    codes8, absmax2 = quantize_dynamic_8bit(absmax - offset, DQ_BLOCK)  # (blocks,) uint8, (ceil(blocks / 256),)
    return Quantized4bit(absmax=codes8, offset=offset, state2=DoubleQuantState(absmax=absmax2, code=dynamic_map()),
                         **fields)


def block_absmax(q: Quantized4bit) -> torch.Tensor:
    """Each block's fp32 absmax; under double quantization rebuilt as map[code] * scale, then + offset."""
    if not q.nested:
        return q.absmax
    return dequantize_dynamic_8bit(q.absmax, q.state2.absmax, q.state2.blocksize) + q.offset  # two fp32 roundings


def dequantize_4bit(q: Quantized4bit, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The values back: code[index] * absmax of its block (one fp32 multiply), in `q.shape` and `q.dtype`.

    `dtype` overrides the output dtype (fp32/bf16/fp16; rounded to nearest even from fp32).
    """
    dtype = q.dtype if dtype is None else dtype
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype={dtype} is not valid; valid choices: {', '.join(map(str, FLOAT_DTYPES))}")
    n = math.prod(q.shape)
    packed = q.packed.reshape(-1)  # (ceil(n/2),) uint8
    index = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[:n].long()  # (n,) high nibble first
    scale = block_absmax(q).repeat_interleave(q.blocksize)[:n]  # (n,) fp32
    return (q.code[index] * scale).reshape(q.shape).to(dtype)


def bits_per_parameter(q: Quantized4bit) -> float:
    """Stored bits per weight value: every tensor kept (packed, absmax, code books, nested scales, offset)."""
    return 8 * sum(stored_bytes(q.packed, q).values()) / math.prod(q.shape)


__all__ = ["BLOCKSIZES", "DoubleQuantState", "FLOAT_DTYPES", "NF4_OFFSET", "QUANT_TYPES", "Quantized4bit",
           "bits_per_parameter", "block_absmax", "code_book", "dequantize_4bit", "dequantize_dynamic_8bit",
           "dynamic_map", "fp4_code_book", "nf4_code_book", "quantize_4bit", "quantize_dynamic_8bit"]
