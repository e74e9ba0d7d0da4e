"""ftcourse.quant by hand against bitsandbytes 0.50 on CPU: the same bits, and the one place bitsandbytes is wrong.

Quantization (`quantize_4bit`) is compared bit for bit (packed bytes, absmax, offset, nested absmax) with
`bitsandbytes.functional.quantize_4bit`, which on CPU is plain PyTorch; dequantization with
`dequantize_4bit`, whose CPU C kernel is right except on AVX512 CPUs for widths that are a multiple of 16 but
not of the block size: there it takes each block's absmax per row, and the tests assert that it equals that
row-indexed formula, not ours (`test_bitsandbytes_dequantizes_some_widths_wrongly_on_avx512`).
"""

import copy
import math

import pytest
import torch
from budget import examples
from ftcourse.numerics import assert_equal
from ftcourse.quant import (
    BLOCKSIZES,
    NF4_CODE,
    NF4_OFFSET,
    QUANT_TYPES,
    absmax_dequantize,
    absmax_error,
    absmax_quantize,
    bits_per_parameter,
    block_absmax,
    code_book,
    dequantize_4bit,
    dequantize_dynamic_8bit,
    dynamic_map,
    fp4_code_book,
    nf4_code_book,
    quantize_4bit,
    quantize_dynamic_8bit,
    stored_bytes,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.numeric

DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@pytest.fixture(scope="module")
def bnb():
    """bitsandbytes.functional, imported without its CPU 'kernels' warning."""
    from ftcourse.compat import quiet

    with quiet():
        import bitsandbytes.functional as F
    return F


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a tensor, so that -0.0 and 0.0 count as different."""
    if not t.dtype.is_floating_point:
        return t
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_bits(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    assert got.dtype == want.dtype, f"{what}: {got.dtype} vs {want.dtype}"
    assert_equal(bits(got), bits(want), what)


def assert_same_as_bnb(q, packed, state, what: str) -> None:
    """Every stored tensor and field of ours equals bitsandbytes' QuantState, bit for bit."""
    assert_bits(q.packed, packed, f"{what}: packed")
    assert_bits(q.absmax, state.absmax, f"{what}: absmax")
    assert_bits(q.code, state.code, f"{what}: code book")
    assert (q.shape, q.dtype, q.blocksize, q.quant_type, q.nested) == (
        state.shape, state.dtype, state.blocksize, state.quant_type, state.nested), what
    if state.nested:
        assert_bits(q.offset, state.offset, f"{what}: offset")
        assert_bits(q.state2.absmax, state.state2.absmax, f"{what}: nested absmax")
        assert_bits(q.state2.code, state.state2.code, f"{what}: nested code")
        assert q.state2.blocksize == state.state2.blocksize == 256


def bnb_dequantize(F, packed, state) -> torch.Tensor:
    """bitsandbytes' dequantize_4bit in the original shape (it returns 1-D inputs as (1, N)).

    Odd widths and blocksize >= 2048 take a torch.compile'd fallback there; eager runs the same arithmetic
    without seconds of compiling, so dynamo is switched off for the call. A packed tensor of one byte (one or
    two values) meets its back-compat shim, which transposes the result and fails on 3-D shapes: those few are
    dequantized as 1-D (one row, so no kernel branch differs).
    """
    shape = state.shape
    if packed.shape[0] == 1 and len(shape) > 2:
        state = copy.copy(state)
        state.shape = torch.Size([math.prod(shape)])
    with torch._dynamo.config.patch(disable=True):
        return F.dequantize_4bit(packed, state).reshape(shape)


def row_indexed(q) -> torch.Tensor:
    """What bitsandbytes' AVX512 C kernel computes: value (r, k) scaled by absmax[r * (width // bs) + k // bs].

    Right when every row starts a block (width % blocksize == 0); otherwise it takes other blocks' scales.
    """
    rows, width = math.prod(q.shape[:-1]), q.shape[-1]
    packed = q.packed.reshape(-1)
    index = torch.stack([packed >> 4, packed & 0xF], 1).reshape(-1).long().view(rows, width)  # (rows, width)
    which = torch.arange(rows)[:, None] * (width // q.blocksize) + (torch.arange(width) // q.blocksize)[None, :]
    return (q.code[index] * block_absmax(q)[which]).reshape(q.shape).to(q.dtype)


def c_kernel_branch(F, shape, blocksize) -> str | None:
    """Which part of bitsandbytes' CPU C kernel dequantize_4bit runs: "avx512", "scalar", or None (torch fallback).

    The C kernel runs unless the width is odd or (ATen's capability is AVX512 and blocksize >= 2048); inside it,
    rows go through its AVX512 branch when the CPU has AVX512F and the width is a multiple of 16.
    """
    from bitsandbytes.backends.cpu import ops as cpu_ops

    width = shape[-1]
    if width % 2 or (cpu_ops._has_avx512 and blocksize >= 2048):
        return None
    return "avx512" if F.lib.has_avx512f_cpu() and width % 16 == 0 else "scalar"


def c_kernel_indexes_per_row(F, shape, blocksize) -> bool:
    """Whether bitsandbytes' AVX512 branch takes absmax per row here, which is wrong (width % blocksize != 0)."""
    return c_kernel_branch(F, shape, blocksize) == "avx512" and shape[-1] % blocksize != 0


def expected_bnb_dequant(F, q) -> torch.Tensor:
    """What bitsandbytes' dequantize_4bit returns: our exact result, except in two places.

    - its AVX512 branch indexes absmax per row (wrong values: `row_indexed`);
    - its scalar branch decodes FP4 index 8 (sign bit, magnitude 0) as -0.0, where the code book, its torch
      fallback and its AVX512 branch hold +0.0: equal values, another sign bit.
    """
    if c_kernel_indexes_per_row(F, q.shape, q.blocksize):
        return row_indexed(q)
    out = dequantize_4bit(q)
    if q.quant_type == "fp4" and c_kernel_branch(F, q.shape, q.blocksize) == "scalar":
        packed = q.packed.reshape(-1)
        index = torch.stack([packed >> 4, packed & 0xF], 1).reshape(-1)[: out.numel()].view(out.shape)
        out = torch.where(index == 8, torch.tensor(-0.0, dtype=out.dtype), out)
    return out


# ---------------------------------------------------------------------------------------------------- code books

def test_the_nf4_code_book_derived_from_normal_quantiles_is_bitsandbytes_to_the_last_bit(bnb):
    derived = nf4_code_book()
    assert_bits(derived, bnb.get_4bit_type("nf4", device="cpu"), "NF4 from quantiles")
    assert_bits(derived, torch.tensor(NF4_CODE, dtype=torch.float32), "NF4 hard-coded")
    assert_bits(code_book("nf4"), derived, "the table quantize_4bit uses")
    assert (derived < 0).sum() == 7 and (derived == 0).sum() == 1 and (derived > 0).sum() == 8
    assert derived[0] == -1 and derived[-1] == 1 and bool((derived.diff() > 0).all())
    assert abs(NF4_OFFSET - (1 - (1 / 30 + 1 / 32) / 2)) < 1e-7


def test_normalising_the_nf4_levels_in_float64_is_one_ulp_off():
    """Why the fp32 division step matters: dividing the float64 quantiles and rounding after is off by 1 ulp."""
    positive, negative = (torch.linspace(NF4_OFFSET, 0.5, k)[:-1].double() for k in (9, 8))
    levels = torch.cat([torch.special.ndtri(positive), -torch.special.ndtri(negative), torch.zeros(1).double()])
    levels = levels.sort().values
    in_float64 = (levels / levels.max()).float()
    ulps = (bits(in_float64) - bits(nf4_code_book())).abs()
    assert ulps.max() == 1 and ulps.sum() > 0


def test_fp4_and_the_dynamic_8bit_map_are_bitsandbytes(bnb):
    assert_bits(fp4_code_book(), bnb.get_4bit_type("fp4", device="cpu"), "FP4")
    assert_bits(code_book("fp4"), fp4_code_book(), "FP4 table")
    assert sorted(fp4_code_book().mul(12).tolist()) == sorted([0, 0.0625, 2, 3, 4, 6, 8, 12, 0, -0.0625, -2, -3,
                                                                -4, -6, -8, -12])
    code8 = dynamic_map()
    assert_bits(code8, bnb.create_dynamic_map(), "signed dynamic map")
    assert code8.numel() == code8.unique().numel() == 256 and bool((code8.diff() > 0).all())
    assert code8[-1] == 1.0 and (code8 == 0).sum() == 1 and (code8 < 0).sum() == 127


# ---------------------------------------------------------------------------------------------------- bit identity

# 8193 values: odd, a tail for every blocksize (torch fallback); width 96: AVX512 branch; width 50: scalar branch
SHAPES = [(3, 2731), (7, 96), (4, 50), (2, 3, 5), (5,), (1,), (128,)]


@pytest.mark.parametrize("blocksize", BLOCKSIZES)
@pytest.mark.parametrize("quant_type", QUANT_TYPES)
@pytest.mark.parametrize("compress_statistics", [False, True], ids=["plain", "double-quant"])
def test_quantize_and_dequantize_are_bitsandbytes_bit_for_bit(bnb, blocksize, quant_type, compress_statistics):
    gen = torch.Generator().manual_seed(blocksize)
    for shape in SHAPES:
        x32 = torch.randn(shape, generator=gen) * torch.rand(shape, generator=gen).pow(3) * 3  # mixed magnitudes
        for dtype in DTYPES:
            x = x32.to(dtype)
            what = f"{shape} {dtype} bs={blocksize} {quant_type} dq={compress_statistics}"
            packed, state = bnb.quantize_4bit(x, blocksize=blocksize, quant_type=quant_type,
                                              compress_statistics=compress_statistics)
            q = quantize_4bit(x, blocksize, quant_type, compress_statistics)
            assert_same_as_bnb(q, packed, state, what)
            assert_bits(bnb_dequantize(bnb, packed, state), expected_bnb_dequant(bnb, q), f"{what}: dequantized")


def test_a_value_on_a_midpoint_takes_the_lower_code_and_the_earlier_value_the_high_nibble(bnb):
    for quant_type in QUANT_TYPES:
        code = code_book(quant_type)
        ascending = code.sort(stable=True).values
        midpoints = (ascending[:-1] + ascending[1:]) / 2
        x = torch.cat([torch.ones(1), midpoints, torch.zeros(48)])  # one block of 64 with absmax 1.0
        packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type=quant_type)
        q = quantize_4bit(x, 64, quant_type)
        assert_same_as_bnb(q, packed, state, quant_type)
        if quant_type == "nf4":  # nibble i+1 and i meet at midpoint i: it gets i
            nibbles = torch.stack([q.packed[:, 0] >> 4, q.packed[:, 0] & 0xF], 1).reshape(-1)
            assert nibbles[1:16].tolist() == list(range(15))
    q = quantize_4bit(torch.tensor([-1.0, 1.0, 0.0, 0.0, 0.5]), 64, "nf4")
    assert q.packed.reshape(-1).tolist() == [0x0F, 0x77, 0xC7]  # -1 -> 0, 1 -> 15, 0 -> 7; 0.5 -> 12, pad -> 7


def test_full_blocks_multiply_by_the_reciprocal_and_the_tail_divides(bnb):
    """Adversarial values where x * (1/absmax) and x / absmax round to different codes: ours picks as bitsandbytes."""
    gen = torch.Generator().manual_seed(1)
    midpoints = (code_book("nf4")[:-1] + code_book("nf4")[1:]) / 2
    scale = (1 + torch.rand(40, generator=gen)).repeat_interleave(64)  # (2560,) one absmax in [1, 2) per block
    picks = midpoints[torch.randint(0, 15, (64 * 40,), generator=gen)]
    x = picks * scale  # scaled back, each lands within an ulp or two of a midpoint
    for _ in range(2):  # walk one ulp either way: some land on the other side of a midpoint under one rule only
        x = torch.where(torch.rand(x.shape, generator=gen) < 0.5, x.nextafter(x + 1), x.nextafter(x - 1))
    blocks = torch.cat([scale.view(40, 64)[:, :1], x.view(40, 64)[:, 1:]], 1).reshape(-1)  # element 0 sets absmax
    x = torch.cat([blocks, blocks[:63]])  # 40 full blocks and a tail of 63 (the tail's absmax is blocks[0])
    packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type="nf4")
    q = quantize_4bit(x, 64, "nf4")
    assert_same_as_bnb(q, packed, state, "adversarial scaling")
    absmax = state.absmax.repeat_interleave(64)[: x.numel()]
    divided = torch.bucketize(torch.clamp(x / absmax, -1, 1), midpoints)
    multiplied = torch.bucketize(torch.clamp(x * (1.0 / absmax), -1, 1), midpoints)
    assert (divided[:2560] != multiplied[:2560]).any() and (divided[2560:] != multiplied[2560:]).any()  # it matters


def test_all_zero_blocks_store_zero_but_an_all_zero_tail_stores_1e_38(bnb):
    x = torch.zeros(64 + 10)
    packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type="nf4")
    q = quantize_4bit(x, 64, "nf4")
    assert_same_as_bnb(q, packed, state, "zeros")
    assert q.absmax[0] == 0 and q.absmax[1] == torch.tensor(1e-38)
    assert bool((dequantize_4bit(q) == 0).all())


def test_double_quantization_snaps_to_the_cpu_kernel_grid_not_to_the_nearest_code(bnb):
    """The 8-bit CPU kernel rounds to a 65,536-step grid first; on values near a midpoint that is not the nearest."""
    code8 = dynamic_map()
    midpoints = (code8[:-1] + code8[1:]) / 2
    near = midpoints.repeat_interleave(16)  # (4080,) every midpoint, walked a few ulps to each side
    steps = torch.arange(-8, 8).repeat(255).float()
    near = near + steps * torch.finfo(torch.float32).eps * near.abs().clamp(min=1e-6)
    gen = torch.Generator().manual_seed(2)
    probes = torch.cat([torch.cat([torch.ones(1), chunk]) for chunk in near.split(255)])  # 16 blocks, absmax 1
    x = torch.cat([probes, torch.randn(3072, generator=gen), torch.zeros(256), torch.randn(77, generator=gen) * 5])
    codes, absmax = quantize_dynamic_8bit(x, 256)
    want_codes, want_state = bnb.quantize_blockwise(x, code=bnb.create_dynamic_map(), blocksize=256)
    assert_bits(codes, want_codes, "8-bit codes")
    assert_bits(absmax, want_state.absmax, "8-bit absmax")
    nearest = torch.bucketize(torch.clamp(x * (1.0 / absmax.repeat_interleave(256)[: x.numel()]), -1, 1), midpoints)
    assert (nearest[:4096] != codes[:4096].long()).any()  # the grid differs from exact nearest here
    assert_bits(dequantize_dynamic_8bit(codes, absmax, 256), bnb.dequantize_blockwise(codes, want_state),
                "8-bit dequantized")


def with_absmax(values: torch.Tensor, absmax: torch.Tensor) -> torch.Tensor:
    """Blocks of 256: each block's first value is its absmax, then 255 of `values` (all |values| <= absmax)."""
    chunks = values.split(255)
    return torch.cat([torch.cat([absmax[i : i + 1], chunk]) for i, chunk in enumerate(chunks)])


def test_the_8bit_kernel_rounds_in_float32_steps_after_a_reciprocal(bnb):
    """Values on each side of every grid step where the code changes, scaled by 1 and by random absmax values."""
    from ftcourse.quant.nf4 import _grid_lookup

    lookup = _grid_lookup()
    change = (lookup[1:] != lookup[:-1]).nonzero().flatten() + 1  # grid points where the code changes
    edge = (2 * (change.double() - 0.5) / 65535).float()  # (u + 1) on the step between grid points
    walk = [edge]
    for direction in (1.0, -1.0):  # 16 float32 neighbours of (u + 1) to each side
        w = edge
        for _ in range(16):
            w = w.nextafter(w + direction)
            walk.append(w)
    w = torch.cat(walk)
    u = (w - 1)[(w - 1) + 1 == w]  # values u for which u + 1 is exactly that w
    x = with_absmax(u, torch.ones(math.ceil(u.numel() / 255)))
    gen = torch.Generator().manual_seed(10)
    picks = u[torch.randint(0, u.numel(), (255 * 40,), generator=gen)]
    absmax = 0.1 + 5 * torch.rand(40, generator=gen)
    scaled = torch.clamp(picks * absmax.repeat_interleave(255), -absmax.repeat_interleave(255),
                         absmax.repeat_interleave(255))
    y = with_absmax(scaled, absmax)
    for values, what in ((x, "absmax 1"), (y, "random absmax")):
        codes, got_absmax = quantize_dynamic_8bit(values, 256)
        want, state = bnb.quantize_blockwise(values, code=bnb.create_dynamic_map(), blocksize=256)
        assert_bits(codes, want, f"{what}: 8-bit codes")
        assert_bits(got_absmax, state.absmax, f"{what}: 8-bit absmax")
    in_float64 = lookup[((x.double() + 1) * 0.5 * 65535 + 0.5).long()]  # the same grid rule in float64 ...
    assert (in_float64 != quantize_dynamic_8bit(x, 256)[0].long()).any()  # ... picks other codes: fp32 steps matter
    divided = with_absmax(scaled / absmax.repeat_interleave(255), torch.ones(40))  # x / absmax, then scale 1
    pairs = torch.ones(y.numel(), dtype=torch.bool)
    pairs[::256] = False  # compare the 255 values of each block, not its first
    assert (quantize_dynamic_8bit(divided, 256)[0][pairs] != quantize_dynamic_8bit(y, 256)[0][pairs]).any()


def test_the_dequantized_absmax_is_bitsandbytes(bnb):
    x = torch.randn(300, 300, generator=torch.Generator().manual_seed(3))
    packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=True)
    q = quantize_4bit(x, 64, "nf4", compress_statistics=True)
    want = bnb.dequantize_blockwise(state.absmax, state.state2) + state.offset
    assert_bits(block_absmax(q), want, "absmax rebuilt from 8 bits")
    exact = quantize_4bit(x, 64, "nf4").absmax
    assert ((block_absmax(q) - exact).abs() / exact).max() < 0.01  # double quantization costs < 1 % per scale


@pytest.mark.parametrize("shape", [(8, 96), (10, 32), (4, 48)])
def test_bitsandbytes_dequantizes_some_widths_wrongly_on_avx512(bnb, shape):
    """Width a multiple of 16 but not of the block size (64): bitsandbytes' AVX512 kernel takes absmax per row.

    Blocks run over the flattened tensor, so row 1 of an (8, 96) weight starts inside block 1, yet the kernel
    scales it from block 1 at column 0 and block 2 at column 64. Ours follows the definition: value k is
    code[index k] * absmax[k // 64]; written out here element by element.
    """
    x = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type="nf4")
    q = quantize_4bit(x, 64, "nf4")
    assert_same_as_bnb(q, packed, state, "quantized (right in both)")
    nibbles = [nibble for byte in q.packed.reshape(-1).tolist() for nibble in (byte >> 4, byte & 0xF)]
    absmax = q.absmax.tolist()
    by_definition = torch.tensor([NF4_CODE[nibbles[k]] for k in range(x.numel())])  # fp32 (n,)
    by_definition *= torch.tensor([absmax[k // 64] for k in range(x.numel())])  # one fp32 multiply each
    ours, theirs = dequantize_4bit(q), bnb_dequantize(bnb, packed, state)
    assert_bits(ours, by_definition.view(shape), "ours is the definition")
    assert (ours - x).abs().max() <= q.absmax.max() * 0.16  # within half the widest NF4 gap of the true value
    if not c_kernel_indexes_per_row(bnb, shape, 64):
        pytest.skip("this CPU has no AVX512F: bitsandbytes' C kernel takes its scalar (correct) path")
    assert_bits(theirs, row_indexed(q), "bitsandbytes' result is the row-indexed formula")
    assert (theirs - ours).abs().max() > 0.01  # and it is wrong: values scaled by another block's absmax
    assert (theirs - x).abs().max() > (ours - x).abs().max()
    assert_bits(bnb_dequantize(bnb, *bnb.quantize_4bit(x.reshape(-1, 64), blocksize=64, quant_type="nf4")),
                ours.reshape(-1, 64), "width 64: right again")


def test_bitsandbytes_scalar_kernel_gives_fp4_index_8_a_negative_zero(bnb):
    """FP4 index 8 is +0.0 in the code book; bitsandbytes' scalar C branch (width not a multiple of 16) returns -0.0.

    Equal values (torch.equal holds), different bits; ours follows the code book, as bitsandbytes' AVX512
    branch and torch fallback do.
    """
    x = torch.tensor([1.0, 0.001, -0.001] * 6).repeat(2, 1)  # (2, 18): 0.001 -> index 8, -0.001 -> index 0
    packed, state = bnb.quantize_4bit(x, blocksize=32, quant_type="fp4")
    q = quantize_4bit(x, 32, "fp4")
    assert_same_as_bnb(q, packed, state, "fp4 zeros")
    assert fp4_code_book()[8].item() == 0.0 and not torch.signbit(fp4_code_book()[8])
    ours, theirs = dequantize_4bit(q), bnb_dequantize(bnb, packed, state)
    assert torch.equal(ours, theirs) and not torch.signbit(ours[:, 1]).any()
    if c_kernel_branch(bnb, x.shape, 32) != "scalar":
        pytest.skip("bitsandbytes runs another branch here")
    assert torch.signbit(theirs[:, 1]).all() and not torch.equal(bits(ours), bits(theirs))
    wide = torch.tensor([1.0, 0.001, -0.001, 0.0] * 8).repeat(2, 1)  # width 32: the AVX512 branch, if the CPU has it
    wide_out = bnb_dequantize(bnb, *bnb.quantize_4bit(wide, blocksize=32, quant_type="fp4"))
    assert bool(torch.signbit(wide_out[:, 1]).all()) == (c_kernel_branch(bnb, wide.shape, 32) == "scalar")


@settings(max_examples=examples(100))
@given(shape=st.one_of(st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple),
                       st.tuples(st.integers(1, 9), st.sampled_from([16, 32, 48, 64, 96, 128]))),
       dtype=st.sampled_from(DTYPES), blocksize=st.sampled_from(BLOCKSIZES), quant_type=st.sampled_from(QUANT_TYPES),
       compress_statistics=st.booleans(), seed=st.integers(0, 2**16), log_scale=st.integers(-6, 2),
       zero_fraction=st.sampled_from([0.0, 0.3, 1.0]))
def test_any_shape_and_values_give_bitsandbytes_bits(bnb, shape, dtype, blocksize, quant_type, compress_statistics,
                                                      seed, log_scale, zero_fraction):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen) * 10.0 ** log_scale
    x = torch.where(torch.rand(shape, generator=gen) < zero_fraction, 0.0, x).to(dtype)
    packed, state = bnb.quantize_4bit(x, blocksize=blocksize, quant_type=quant_type,
                                      compress_statistics=compress_statistics)
    q = quantize_4bit(x, blocksize, quant_type, compress_statistics)
    assert_same_as_bnb(q, packed, state, "hypothesis")
    assert_bits(bnb_dequantize(bnb, packed, state), expected_bnb_dequant(bnb, q), "dequantized")


# ---------------------------------------------------------------------------------------------------- sizes

@pytest.fixture(scope="module")
def large_weight():
    return torch.randn(4096, 4096, generator=torch.Generator().manual_seed(5), dtype=torch.bfloat16)


def test_bits_per_parameter_are_4_5_and_4_127_and_double_quant_saves_0_373(large_weight):
    plain = quantize_4bit(large_weight, 64, "nf4")
    double = quantize_4bit(large_weight, 64, "nf4", compress_statistics=True)
    assert plain.absmax.dtype == torch.float32 and double.absmax.dtype == torch.uint8
    assert stored_bytes(double.packed, double) == {"packed": 4096 * 4096 // 2, "absmax": 4096 * 4096 // 64,
                                                   "code": 64, "nested_absmax": 4096 * 4096 // 64 // 256 * 4,
                                                   "nested_code": 256 * 4, "offset": 4}
    assert round(bits_per_parameter(plain), 3) == 4.5
    assert round(bits_per_parameter(double), 3) == 4.127
    assert round(bits_per_parameter(plain) - bits_per_parameter(double), 3) == 0.373


@pytest.mark.parametrize("compress_statistics", [False, True])
def test_stored_bytes_of_ours_are_bitsandbytes(bnb, compress_statistics):
    x = torch.randn(1000, 77, generator=torch.Generator().manual_seed(6))
    packed, state = bnb.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=compress_statistics)
    q = quantize_4bit(x, 64, "nf4", compress_statistics)
    assert stored_bytes(q.packed, q) == stored_bytes(packed, state)
    assert bits_per_parameter(q) == 8 * sum(stored_bytes(packed, state).values()) / x.numel()


# ---------------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("kwargs", "match"), [
    ({"blocksize": 16}, r"blocksize=16 is not valid; valid choices: 32, 64, 128, 256, 512, 1024, 2048, 4096"),
    ({"blocksize": 100}, r"blocksize=100 is not valid; valid choices: 32, 64"),
    ({"blocksize": True}, r"blocksize=True is not valid"),
    ({"quant_type": "int4"}, r"quant_type='int4' is not valid; valid choices: nf4, fp4"),
    ({"quant_type": "NF4"}, r"quant_type='NF4' is not valid"),
    ({"compress_statistics": "yes"}, r"compress_statistics='yes' must be True or False"),
    ({"x": torch.ones(4, dtype=torch.int32)}, r"x.dtype=torch.int32 is not valid; valid choices: torch.float32, "
                                              r"torch.bfloat16, torch.float16"),
    ({"x": torch.ones(4, dtype=torch.float64)}, r"x.dtype=torch.float64 is not valid"),
    ({"x": torch.ones(4, dtype=torch.bool)}, r"x.dtype=torch.bool is not valid"),
    ({"x": torch.ones(0, 8)}, r"x has no elements \(shape \(0, 8\)\)"),
    ({"x": [1.0, 2.0]}, r"x=list is not a tensor"),
])
def test_bad_input_names_the_value_and_the_choices(kwargs, match):
    args = {"x": torch.ones(8), "blocksize": 64, "quant_type": "nf4", "compress_statistics": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        quantize_4bit(**args)


def test_bad_dequantize_dtype_is_named():
    with pytest.raises(ValueError, match=r"dtype=torch.int8 is not valid; valid choices"):
        dequantize_4bit(quantize_4bit(torch.ones(8)), dtype=torch.int8)


# ---------------------------------------------------------------------------------------------------- int8 absmax

def test_int8_absmax_per_row_is_bitsandbytes_vectorwise_quant(bnb):
    x = torch.randn(33, 70, generator=torch.Generator().manual_seed(7))
    for dtype in DTYPES:
        codes, absmax = absmax_quantize(x.to(dtype), scope="row")
        want_codes, want_absmax, _ = bnb.int8_vectorwise_quant(x.to(dtype))
        assert_bits(codes, want_codes, f"{dtype} codes")
        assert_bits(absmax, want_absmax, f"{dtype} row absmax")


@pytest.mark.parametrize(("scope", "groups"), [("tensor", ()), ("row", (6,)), ("block", (8,))])
def test_int8_round_trip_is_within_half_a_step_of_its_group(scope, groups):
    x = torch.randn(6, 75, generator=torch.Generator().manual_seed(8)) * 3  # 450 values: 7 blocks of 64 and a tail
    codes, absmax = absmax_quantize(x, scope, blocksize=64)
    assert codes.dtype == torch.int8 and codes.shape == x.shape and absmax.shape == groups
    assert int(codes.abs().max()) == 127  # the largest |value| of each group gets ±127
    step = absmax_dequantize(torch.ones_like(codes), absmax, scope, blocksize=64)  # each value's step, absmax / 127
    error = (absmax_dequantize(codes, absmax, scope, blocksize=64) - x).abs()
    assert bool((error <= step * (0.5 + 1e-4)).all())  # half a step, plus fp32 rounding
    assert absmax_error(x, scope, 64).max_abs == pytest.approx(float(error.max()))


def test_one_outlier_spoils_per_tensor_scaling_but_only_its_own_block():
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(9))
    spiked = x.clone()
    spiked[0, 0] = 50.0
    per_tensor, blockwise = absmax_error(spiked, "tensor"), absmax_error(spiked, "block", 64)
    assert per_tensor.rms > 10 * absmax_error(x, "tensor").rms  # every value now rounds to a step of 50/127
    assert blockwise.rms < per_tensor.rms / 3
    before = absmax_dequantize(*absmax_quantize(x, "block", 64), "block", 64)
    after = absmax_dequantize(*absmax_quantize(spiked, "block", 64), "block", 64)
    assert_bits(after[1:], before[1:], "the other 15 blocks")  # untouched, bit for bit
    assert not torch.equal(after[0], before[0])


def test_int8_zeros_and_bad_input():
    codes, absmax = absmax_quantize(torch.zeros(3, 5), "row")
    assert bool((codes == 0).all()) and bool((absmax_dequantize(codes, absmax, "row") == 0).all())
    with pytest.raises(ValueError, match=r"scope='col' is not valid; valid choices: tensor, row, block"):
        absmax_quantize(torch.ones(4), "col")
    with pytest.raises(ValueError, match=r"blocksize=0 must be a positive integer"):
        absmax_quantize(torch.ones(4), "block", 0)
    with pytest.raises(ValueError, match=r"x.dtype=torch.int64 is not valid"):
        absmax_quantize(torch.ones(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"x has no elements"):
        absmax_quantize(torch.ones(0))
