"""Linear4bit and QLoRA by hand against bitsandbytes 0.50 (`bnb.nn.Linear4bit`) and peft's LoRA on it, on CPU.

Widths are multiples of the blocksize: bitsandbytes' AVX512 dequantize takes each block's absmax per row, which is
wrong when a row does not start a block (width % blocksize != 0, width % 16 == 0; reference/quant.md §1.6), so only
there can its layer be the reference. `test_a_width_that_trips_the_avx512_bug` shows that case. bitsandbytes is
compared in train mode: in eval mode on AVX512-BF16 CPUs it repacks the weight in place (quant.md §3), see
`test_bnb_eval_repacking_breaks_training_after_train_again`.
"""

import warnings

import pytest
import torch
from ftcourse.compat import import_peft, quiet
from ftcourse.lora import LoRALinear
from ftcourse.numerics import assert_close, assert_equal, relative_error
from ftcourse.quant import Linear4bit, dequantize_4bit, quantize_4bit
from torch import nn

pytestmark = pytest.mark.numeric

# (weight dtype, compute_dtype, input dtype): fp32 throughout, bf16 compute on fp32 weights, a bf16 model
CASES = [(torch.float32, torch.float32, torch.float32), (torch.float32, torch.bfloat16, torch.float32),
         (torch.bfloat16, torch.bfloat16, torch.bfloat16), (torch.bfloat16, None, torch.bfloat16)]
IDS = ["fp32", "fp32-weight-bf16-compute", "bf16", "bf16-compute-None"]


@pytest.fixture(scope="module")
def bnb():
    """bitsandbytes, imported without its CPU 'kernels' log line."""
    with quiet():
        import bitsandbytes
    return bitsandbytes


def bnb_layer(bnb, linear: nn.Linear, quant_type="nf4", compress_statistics=True, blocksize=64, compute_dtype=None):
    """bnb.nn.Linear4bit holding `linear`'s weights (its blocksize lives on Params4bit; .to() quantizes)."""
    layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                              compute_dtype=compute_dtype, compress_statistics=compress_statistics,
                              quant_type=quant_type)
    layer.weight = bnb.nn.Params4bit(linear.weight.data.clone(), requires_grad=False, blocksize=blocksize,
                                     compress_statistics=compress_statistics, quant_type=quant_type, module=layer)
    if linear.bias is not None:
        layer.bias = nn.Parameter(linear.bias.data.clone())
    return layer.to("cpu")


def linear(in_features=128, out_features=48, bias=True, dtype=torch.float32, seed=0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features, bias=bias).to(dtype)


def upstream(y: torch.Tensor) -> torch.Tensor:
    """A fixed gradient dL/dy, so that both layers' backward passes start from the same bits."""
    return torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(y.dtype)


def forward_backward(layer: nn.Module, x: torch.Tensor):
    """(output, input gradient) for dL/dy = upstream(y), with dynamo off (bnb compiles some dequantize fallbacks)."""
    x = x.detach().clone().requires_grad_(True)
    with torch._dynamo.config.patch(disable=True):
        y = layer(x)
        y.backward(upstream(y))
    return y.detach(), x.grad


# ---------------------------------------------------------------------------------------------------- the layer

@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("compress_statistics", [True, False], ids=["double-quant", "plain"])
@pytest.mark.parametrize(("weight_dtype", "compute_dtype", "input_dtype"), CASES, ids=IDS)
def test_linear4bit_is_bnb_bit_for_bit(bnb, quant_type, compress_statistics, weight_dtype, compute_dtype,
                                       input_dtype):
    """Same packed bytes, outputs, input and bias gradients as bnb.nn.Linear4bit (train mode), bitwise.

    Exact because the operations are the same: dequantize to the compute dtype (one fp32 multiply, one rounding),
    F.linear, and in backward grad @ W dequantized again. Widths 128 and 48 rows at blocksize 64: every row of
    128 starts a block, so bitsandbytes' AVX512 dequantize is right here.
    """
    base = linear(dtype=weight_dtype)
    ours = Linear4bit.from_linear(base, quant_type, compress_statistics, 64, compute_dtype)
    theirs = bnb_layer(bnb, base, quant_type, compress_statistics, 64, compute_dtype)
    assert_equal(ours.weight, theirs.weight.data, "packed weight")
    x = torch.randn(2, 3, 128).to(input_dtype)
    y, grad = forward_backward(ours, x)
    y_bnb, grad_bnb = forward_backward(theirs, x)
    assert y.dtype == input_dtype and grad.dtype == input_dtype
    assert_equal(y, y_bnb, "output")
    assert_equal(grad, grad_bnb, "input gradient")
    # the bias gradient: ours sums (batch·seq) rows at once, bitsandbytes sums dim 0 and autograd the rest, in
    # the compute dtype (bnb also casts its bias there for good): one reduction order apart
    assert_close(ours.bias.grad.to(theirs.bias.grad.dtype), theirs.bias.grad, depth=2, what="bias gradient")


def test_the_weight_is_a_buffer_with_no_gradient():
    base = linear()
    layer = Linear4bit.from_linear(base)
    assert [name for name, _ in layer.named_parameters()] == ["bias"]  # the 4-bit weight is not a parameter
    assert {"weight", "absmax", "quant_map", "offset", "nested_absmax", "nested_quant_map"} <= set(layer.state_dict())
    assert layer.weight.dtype == torch.uint8 and layer.weight.shape == (128 * 48 // 2, 1)
    assert not layer.weight.requires_grad
    _, grad = forward_backward(layer, torch.randn(4, 128))
    assert grad is not None and grad.abs().sum() > 0
    assert layer.weight.grad is None
    w_hat = dequantize_4bit(quantize_4bit(base.weight.detach(), 64, "nf4", True))
    assert_equal(layer.dequantized_weight(), w_hat, "dequantized weight")
    assert relative_error(w_hat, base.weight) > 0.01  # 4 bits lose something: the weight is not stored as is


def test_a_width_that_trips_the_avx512_bug(bnb):
    """Width 96 at blocksize 64: rows start mid-block. Ours follows the definition (blocks over the flat weight);
    bitsandbytes' layer matches it only on CPUs without AVX512F, where its C kernel takes the scalar branch."""
    base = linear(96, 64)
    ours = Linear4bit.from_linear(base, blocksize=64, compute_dtype=torch.float32)
    theirs = bnb_layer(bnb, base, blocksize=64, compute_dtype=torch.float32)
    x = torch.randn(5, 96)
    y, _ = forward_backward(ours, x)
    definition = nn.functional.linear(x, dequantize_4bit(quantize_4bit(base.weight.detach(), 64, "nf4", True)),
                                      base.bias.detach())
    assert_equal(y, definition, "ours at width 96")
    y_bnb, _ = forward_backward(theirs, x)
    if bnb.functional.lib.has_avx512f_cpu():
        assert relative_error(y_bnb, y) > 1e-3  # other blocks' scales: wrong by far more than rounding
    else:
        assert_equal(y_bnb, y, "bitsandbytes without AVX512")


def test_compute_dtype_none_follows_each_input():
    """compute_dtype=None computes in each input's dtype, every call (bitsandbytes keeps the first one's)."""
    layer = Linear4bit.from_linear(linear())
    x = torch.randn(3, 128)
    assert layer(x).dtype == torch.float32 and layer(x.bfloat16()).dtype == torch.bfloat16
    w = layer.dequantized_weight(torch.bfloat16)
    want = nn.functional.linear(x.bfloat16(), w, layer.bias.detach().bfloat16())
    assert_equal(layer(x.bfloat16()).detach(), want, "bf16 call")
    assert layer.bias.dtype == torch.float32  # unlike bitsandbytes, the stored bias is not converted


# ---------------------------------------------------------------------------------------------------- QLoRA

def peft_qlora(theirs_base, ours: LoRALinear):
    """peft's LoRA on a bnb Linear4bit, fp32 adapters (as get_peft_model casts them), with our A and B copied in."""
    import_peft()
    from ftcourse.lora.twin import copy_into_peft, peft_config
    from peft.tuners.lora.bnb import Linear4bit as PeftLinear4bit
    from peft.tuners.tuners_utils import cast_adapter_dtype

    with quiet():
        layer = PeftLinear4bit(theirs_base, "default", config=peft_config(r=ours.r, lora_alpha=ours.lora_alpha),
                               r=ours.r, lora_alpha=ours.lora_alpha)
    cast_adapter_dtype(layer, "default")  # a bare layer on a bf16 base would keep bf16 adapters
    layer.base_layer.requires_grad_(False)
    with torch.no_grad():
        copy_into_peft(ours, layer)
    return layer


@pytest.mark.parametrize(("weight_dtype", "compute_dtype", "input_dtype"), CASES[::2], ids=IDS[::2])
def test_qlora_by_hand_is_peft_on_bnb(bnb, weight_dtype, compute_dtype, input_dtype):
    """Our Linear4bit + LoRALinear vs peft's lora.bnb.Linear4bit on bnb.nn.Linear4bit, same A and B (B ≠ 0).

    fp32: bitwise (same operations). bf16: the gradients are bitwise, the output within one bf16 rounding
    (tolerance(bf16, depth 2)): peft rounds the fp32 LoRA branch to bf16 before adding it to the base output,
    ours adds in fp32 and rounds once (LoRALinear's order, peft's plain lora.Linear).
    """
    base = linear(dtype=weight_dtype)
    ours = LoRALinear(Linear4bit.from_linear(base, compute_dtype=compute_dtype), r=4, lora_alpha=8)
    assert ours.lora_A.weight.dtype == torch.float32  # fp32 adapters beside a 4-bit weight
    with torch.no_grad():
        ours.lora_B.weight.normal_()  # a trained-looking B, so the branch and its gradients are not zero
    theirs = peft_qlora(bnb_layer(bnb, base, compute_dtype=compute_dtype), ours)
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == ["lora_A.weight", "lora_B.weight"]
    x = torch.randn(2, 3, 128).to(input_dtype)
    y, grad = forward_backward(ours, x)
    y_peft, grad_peft = forward_backward(theirs, x)
    if input_dtype == torch.float32:
        assert_equal(y, y_peft, "output")
    else:
        assert_close(y, y_peft, depth=2, what="output")
        assert not torch.equal(y, y_peft)  # the two orders do round differently somewhere
    assert theirs.lora_A["default"].weight.dtype == torch.float32
    assert_equal(grad, grad_peft, "input gradient")
    assert_equal(ours.lora_A.weight.grad, theirs.lora_A["default"].weight.grad, "lora_A gradient")
    assert_equal(ours.lora_B.weight.grad, theirs.lora_B["default"].weight.grad, "lora_B gradient")
    assert ours.base_layer.weight.grad is None and ours.base_layer.bias.grad is None


def test_qlora_delta_weight_and_merge_on_a_4bit_base():
    layer = LoRALinear(Linear4bit.from_linear(linear()), r=4, lora_alpha=8)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    delta = layer.delta_weight()
    assert delta.dtype == torch.float32 and delta.shape == (48, 128)
    assert_close(delta, layer.lora_B.weight.detach() @ layer.lora_A.weight.detach() * 2.0, what="ΔW")
    with pytest.raises(ValueError, match="quantized"):
        layer.merge()
    assert not layer.merged


# ---------------------------------------------------------------------------------------------------- eval trap

def bnb_lora_train_eval_train(bnb, bias: bool, packing: bool):
    """peft LoRA on a bnb layer: a training step, an eval forward, a training step; the two steps' results."""
    base = linear(out_features=64, bias=bias)  # the repacked layout needs out_features % 32 == 0
    hand = LoRALinear(Linear4bit.from_linear(base, compute_dtype=torch.float32), r=4, lora_alpha=8)
    with torch.no_grad():
        hand.lora_B.weight.normal_()
    theirs_base = bnb_layer(bnb, base, compute_dtype=torch.float32)
    theirs_base.support_avx512bf16_for_cpu = packing and theirs_base.support_avx512bf16_for_cpu
    theirs = peft_qlora(theirs_base, hand)
    x = torch.randn(2, 3, 128)

    def step():
        theirs.zero_grad()
        y, grad = forward_backward(theirs, x)
        return y, grad, theirs.lora_A["default"].weight.grad.clone(), theirs.lora_B["default"].weight.grad.clone()

    before = step()
    theirs.eval()
    with torch.no_grad():
        theirs(x)
    theirs.train()
    return theirs, before, step


def test_bnb_eval_repacking_breaks_training_after_train_again(bnb):
    """quant.md §3: on AVX512-BF16 CPUs an eval forward (no grad) repacks bnb's weight in place for a bf16
    kernel; back in train mode that kernel has no autograd, so the base passes no gradient to x, and with a bias
    the step fails. `support_avx512bf16_for_cpu = False` avoids it. Our layer has no such state."""
    theirs, before, step = bnb_lora_train_eval_train(bnb, bias=False, packing=True)
    if not theirs.base_layer.support_avx512bf16_for_cpu:
        pytest.skip("no AVX512-BF16 on this CPU: bitsandbytes does not repack")
    assert theirs.base_layer.weight.quant_state.packing_format_for_cpu
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y, grad, grad_a, grad_b = step()
    assert any("autograd kernel was not registered" in str(w.message) for w in caught)
    assert relative_error(y, before[0]) > 1e-4  # now the bf16 kernel's output, not the fp32 path's
    # x's gradient is the LoRA branch's alone: the base's share, grad · W, is missing
    lora_only = upstream(y) @ theirs.lora_B["default"].weight.detach() @ theirs.lora_A["default"].weight.detach() * 2.0
    assert_close(grad, lora_only, depth=4, what="input gradient = LoRA branch only")
    assert relative_error(grad, before[1]) > 0.01
    assert grad_a is not None and grad_b is not None  # the adapters still train, on a wrong base output

    theirs, _, step = bnb_lora_train_eval_train(bnb, bias=True, packing=True)
    with pytest.raises(RuntimeError, match="in-place operation"):
        step()

    odd = bnb_layer(bnb, linear(out_features=48), compute_dtype=torch.float32).eval()  # 48 rows: cannot repack
    with torch.no_grad(), pytest.raises(AssertionError, match="N must be divisible by block_n"):
        odd(torch.randn(2, 128))


def test_bnb_without_repacking_and_ours_survive_train_eval_train(bnb):
    theirs, before, step = bnb_lora_train_eval_train(bnb, bias=True, packing=False)
    assert not getattr(theirs.base_layer.weight.quant_state, "packing_format_for_cpu", False)
    for got, want, what in zip(step(), before, ("output", "input gradient", "lora_A", "lora_B"), strict=True):
        assert_equal(got, want, f"bnb without repacking: {what}")

    ours = LoRALinear(Linear4bit.from_linear(linear(), compute_dtype=torch.float32), r=4, lora_alpha=8)
    x = torch.randn(2, 3, 128)
    y, grad = forward_backward(ours, x)
    ours.eval()
    with torch.no_grad():
        assert_equal(ours(x), y, "ours in eval mode")
    ours.train()
    assert_equal(forward_backward(ours, x)[1], grad, "ours after train → eval → train")


# ---------------------------------------------------------------------------------------------------- bad input

def test_bad_input_is_named():
    base = linear()
    with pytest.raises(ValueError, match=r"quant_type='int4'.*nf4, fp4"):
        Linear4bit.from_linear(base, quant_type="int4")
    with pytest.raises(ValueError, match=r"blocksize=48.*32, 64, 128"):
        Linear4bit.from_linear(base, blocksize=48)
    with pytest.raises(ValueError, match=r"compute_dtype=torch.int8.*torch.float32"):
        Linear4bit.from_linear(base, compute_dtype=torch.int8)
    with pytest.raises(TypeError, match="nn.Linear, got Conv1d"):
        Linear4bit.from_linear(nn.Conv1d(4, 4, 1))
    with pytest.raises(TypeError, match="Quantized4bit of a 2-D"):
        Linear4bit(quantize_4bit(torch.randn(64)))
    with pytest.raises(TypeError, match="nn.Linear or an ftcourse.quant.Linear4bit, got Conv1d"):
        LoRALinear(nn.Conv1d(4, 4, 1))
