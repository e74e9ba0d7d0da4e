"""ftcourse.quant owns the NF4 facts: its code book is bitsandbytes', and its sizes are what bitsandbytes stores."""

import pytest
import torch
from ftcourse.numerics import assert_equal
from ftcourse.quant import DQ_BLOCK, NF4_BLOCK, NF4_CODE, nf4_constant_bytes, packed_bytes

pytestmark = pytest.mark.numeric


def test_the_code_book_is_bitsandbytes_to_the_last_bit():
    from ftcourse.compat import quiet

    with quiet():
        import bitsandbytes.functional as F

    ours = torch.tensor(NF4_CODE, dtype=torch.float32)
    assert_equal(ours, F.get_4bit_type("nf4", device="cpu").to(torch.float32), "NF4 code book")
    assert (ours < 0).sum() == 7 and (ours == 0).sum() == 1 and (ours > 0).sum() == 8


@pytest.mark.parametrize("numel", [1, 63, 64, 65, 64 * 256, 64 * 256 + 1, 1000 * 77])
def test_sizes_follow_the_block_rules(numel):
    blocks = -(-numel // NF4_BLOCK)
    assert packed_bytes(numel) == -(-numel // 2)
    assert nf4_constant_bytes(numel, double_quant=False) == 4 * blocks + 16 * 4
    nested = -(-blocks // DQ_BLOCK)
    assert nf4_constant_bytes(numel, double_quant=True) == blocks + 4 * nested + 256 * 4 + 4 + 16 * 4


def test_bits_per_parameter_are_4_5_and_4_127_on_a_large_weight():
    numel = 4096 * 4096
    plain = 8 * (packed_bytes(numel) + nf4_constant_bytes(numel, False)) / numel
    double = 8 * (packed_bytes(numel) + nf4_constant_bytes(numel, True)) / numel
    assert round(plain, 3) == 4.5 and round(double, 3) == 4.127
    assert round(plain - double, 3) == 0.373  # what double quantization saves (the seeds' "0.127" is what remains)


@pytest.mark.parametrize("shape", [(1000, 77), (333, 333), (64 * 256 + 1,), (1024, 1024)])
@pytest.mark.parametrize("double_quant", [False, True])
def test_stored_bytes_read_off_bitsandbytes_match_the_size_rule(shape, double_quant):
    from ftcourse.compat import quiet
    from ftcourse.quant import stored_bytes

    with quiet():
        import bitsandbytes.functional as F

    weight = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    packed, state = F.quantize_4bit(weight, blocksize=NF4_BLOCK, compress_statistics=double_quant, quant_type="nf4")
    parts = stored_bytes(packed, state)
    numel, blocks = weight.numel(), -(-weight.numel() // NF4_BLOCK)
    expected = {"packed": -(-numel // 2), "absmax": blocks * (1 if double_quant else 4), "code": 16 * 4}
    if double_quant:
        expected.update(nested_absmax=4 * -(-blocks // DQ_BLOCK), nested_code=256 * 4, offset=4)
    assert parts == expected
    assert parts.pop("packed") == packed_bytes(numel)
    assert sum(parts.values()) == nf4_constant_bytes(numel, double_quant)  # the estimator's rule is what is stored


def test_stored_bytes_names_a_state_that_is_not_4_bit():
    from types import SimpleNamespace

    from ftcourse.quant import stored_bytes

    with pytest.raises(ValueError, match="valid choices: 'nf4', 'fp4'"):
        stored_bytes(torch.zeros(2, dtype=torch.uint8), SimpleNamespace(quant_type=None))
