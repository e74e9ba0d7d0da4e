"""ftcourse.lora: the hand-written layer, injection and merging against peft, on tiny Llama models."""

import copy
import math

import pytest
import torch
from budget import examples
from ftcourse.lora import (
    LoRALinear,
    inject_lora,
    lora_modules,
    merge_lora,
    print_trainable_parameters,
    trainable_parameters,
)
from ftcourse.lora.twin import copy_into_peft, peft_config, peft_grads, peft_linear
from ftcourse.numerics import assert_close, assert_equal, model_depth
from hypothesis import given, settings
from hypothesis import strategies as st
from lora_helpers import randomize_lora, small_llama
from peft import get_peft_model
from torch import nn

pytestmark = pytest.mark.numeric


def token_batch(vocab: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (2, 24), generator=gen)


# ---------------------------------------------------------------- the layer

def test_fresh_layer_computes_exactly_the_base_and_has_peft_names():
    base = nn.Linear(48, 40)
    layer = LoRALinear(base, r=4, lora_alpha=8)
    x = torch.randn(3, 5, 48)
    assert torch.equal(layer(x), base(x))  # B = 0, so BA = 0
    assert layer.lora_A.weight.shape == (4, 48) and layer.lora_B.weight.shape == (40, 4)
    assert layer.lora_A.bias is None and layer.lora_B.bias is None
    assert torch.count_nonzero(layer.lora_B.weight) == 0
    assert layer.lora_A.weight.abs().max() <= 1 / math.sqrt(48)  # kaiming-uniform a=√5: bound 1/√fan_in
    assert set(layer.state_dict()) == {"base_layer.weight", "base_layer.bias", "lora_A.weight", "lora_B.weight"}
    assert not any(p.requires_grad for p in base.parameters())


@pytest.mark.parametrize("r,alpha,rslora,expected", [(8, 16, False, 2.0), (16, 16, False, 1.0),
                                                     (16, 32, True, 8.0), (4, 8, True, 4.0)])
def test_scaling_is_alpha_over_r_or_over_sqrt_r(r, alpha, rslora, expected):
    layer = LoRALinear(nn.Linear(8, 8), r=r, lora_alpha=alpha, use_rslora=rslora)
    peft_layer = peft_linear(nn.Linear(8, 8), r=r, lora_alpha=alpha, use_rslora=rslora)
    assert layer.scaling == expected == peft_layer.scaling["default"]


@pytest.mark.parametrize("r,alpha,rslora,bias", [(1, 1, False, False), (4, 8, False, True), (16, 4, True, False),
                                                 (32, 64, True, True)])
def test_layer_matches_peft_lora_linear_outputs_and_gradients(r, alpha, rslora, bias):
    torch.manual_seed(0)
    base = nn.Linear(40, 24, bias=bias)
    ours = LoRALinear(copy.deepcopy(base), r=r, lora_alpha=alpha, use_rslora=rslora)
    theirs = peft_linear(base, r=r, lora_alpha=alpha, use_rslora=rslora)
    with torch.no_grad():
        ours.lora_B.weight.normal_()
    copy_into_peft(ours, theirs)
    x1 = torch.randn(3, 7, 40, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs(x2)
    assert_equal(y1, y2, "output")  # peft's operations in peft's order: bitwise, on any CPU
    grad = torch.randn_like(y1)
    y1.backward(grad)
    y2.backward(grad)
    assert_equal(x1.grad, x2.grad, "input gradient")
    for name, (mine, peft_grad) in peft_grads(ours, theirs).items():
        assert_equal(mine, peft_grad, f"gradient of {name}")
    assert ours.base_layer.weight.grad is None


def test_delta_weight_merge_and_unmerge():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(32, 20), r=4, lora_alpha=12)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    w0 = layer.base_layer.weight.detach().clone()
    expected = (layer.lora_B.weight @ layer.lora_A.weight * 3.0).detach()
    assert_close(layer.delta_weight(), expected, depth=2, what="ΔW")
    x = torch.randn(6, 32)
    unmerged = layer(x).detach()
    layer.merge()
    assert layer.merged
    assert_close(layer.base_layer.weight, w0 + expected, depth=2, what="merged weight")
    assert_close(layer(x), unmerged, depth=3, what="merged output")
    merged_once = layer.base_layer.weight.detach().clone()
    layer.merge()  # idempotent: merging twice does not add ΔW twice
    assert_equal(layer.base_layer.weight.detach(), merged_once, "second merge")
    layer.unmerge()
    assert not layer.merged
    assert_close(layer.base_layer.weight, w0, depth=4, what="unmerged weight")
    assert_close(layer(x), unmerged, depth=4, what="unmerged output")


def test_an_fp64_merge_stays_fp64_and_is_exact_to_1e_12():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(32, 20).double(), r=4, lora_alpha=12)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    assert layer.lora_A.weight.dtype == torch.float64
    w0 = layer.base_layer.weight.detach().clone()
    want = w0 + 3.0 * (layer.lora_B.weight @ layer.lora_A.weight).detach()
    assert layer.delta_weight().dtype == torch.float64
    layer.merge()
    assert layer.base_layer.weight.dtype == torch.float64
    assert (layer.base_layer.weight - want).abs().max() <= 1e-12  # an fp32 merge would be ~1e-7 off
    layer.unmerge()
    assert (layer.base_layer.weight - w0).abs().max() <= 1e-12


def test_merge_refuses_non_finite_result_and_leaves_weight_alone():
    layer = LoRALinear(nn.Linear(8, 8), r=2, lora_alpha=2)
    w0 = layer.base_layer.weight.detach().clone()
    with torch.no_grad():
        layer.lora_B.weight.fill_(float("inf"))
    with pytest.raises(ValueError, match="NaN or inf"):
        layer.merge()
    assert not layer.merged and torch.equal(layer.base_layer.weight, w0)


def test_dropout_touches_only_the_lora_branch():
    torch.manual_seed(0)
    base = nn.Linear(64, 32)
    layer = LoRALinear(base, r=8, lora_alpha=16, lora_dropout=0.5).train()
    x = torch.randn(4, 64)
    assert torch.equal(layer(x), base(x))  # B = 0: dropout on the branch cannot show up in the output
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    torch.manual_seed(123)
    out = layer(x)
    torch.manual_seed(123)
    dropped = nn.functional.dropout(x, p=0.5, training=True)
    branch = layer.lora_B(layer.lora_A(dropped)) * layer.scaling
    assert_equal(out, base(x) + branch, "train-mode output")  # the base path saw the undropped x
    undropped = base(x) + layer.lora_B(layer.lora_A(x)) * layer.scaling
    assert not torch.equal(out, undropped)
    layer.eval()
    assert_equal(layer(x), layer(x), "two eval passes")  # eval: deterministic, no dropout
    assert_equal(layer(x), undropped, "eval-mode output")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_base_keeps_fp32_adapter_like_peft(dtype):
    torch.manual_seed(0)
    base = nn.Linear(64, 48).to(dtype)
    ours = LoRALinear(copy.deepcopy(base), r=8, lora_alpha=16)
    theirs = peft_linear(base, r=8, lora_alpha=16)  # fp32 adapters, as get_peft_model's autocast_adapter_dtype
    assert ours.lora_A.weight.dtype == theirs.lora_A["default"].weight.dtype == torch.float32
    with torch.no_grad():
        ours.lora_B.weight.normal_(std=0.1)
    copy_into_peft(ours, theirs)
    x = torch.randn(5, 64).to(dtype)
    y1, y2 = ours(x), theirs(x)
    assert y1.dtype == dtype
    assert_equal(y1, y2, "low-precision output")
    y1.float().sum().backward()
    y2.float().sum().backward()
    assert ours.lora_A.weight.grad.dtype == torch.float32
    for name, (mine, peft_grad) in peft_grads(ours, theirs).items():
        assert_equal(mine, peft_grad, f"gradient of {name}")
    assert ours.delta_weight().dtype == dtype
    w0 = ours.base_layer.weight.detach().clone()
    ours.merge()
    assert ours.base_layer.weight.dtype == dtype
    assert_close(ours(x), y1, depth=3, what="merged in 16 bits")  # the merged weight is rounded to 16 bits once
    ours.unmerge()
    assert_close(ours.base_layer.weight, w0, depth=2, what="unmerged in 16 bits")  # lossy in 16 bits, but close


def test_adapter_dtype_can_be_chosen():
    layer = LoRALinear(nn.Linear(8, 8).to(torch.bfloat16), r=2, lora_alpha=2, adapter_dtype=torch.bfloat16)
    assert layer.lora_A.weight.dtype == torch.bfloat16
    assert layer(torch.randn(2, 8, dtype=torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize("kwargs,match", [({"r": 0}, "r=0"), ({"r": -4}, "r=-4"), ({"r": 2.5}, "r=2.5"),
                                          ({"r": True}, "r=True"), ({"lora_alpha": 0}, "lora_alpha=0"),
                                          ({"lora_alpha": -1.0}, "lora_alpha=-1.0"),
                                          ({"lora_alpha": float("nan")}, "lora_alpha=nan"),
                                          ({"lora_dropout": 1.0}, "lora_dropout=1.0"),
                                          ({"lora_dropout": -0.1}, "lora_dropout=-0.1")])
def test_bad_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LoRALinear(nn.Linear(4, 4), **{"r": 2, "lora_alpha": 2, **kwargs})


def test_only_linear_layers_can_be_wrapped():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Embedding(10, 4), r=2, lora_alpha=2)


@settings(max_examples=examples(40))
@given(r=st.integers(-3, 70), alpha=st.floats(-2, 100, allow_nan=False), dropout=st.floats(-0.5, 1.5))
def test_hyperparameter_validation_accepts_exactly_the_valid_range(r, alpha, dropout):
    valid = r > 0 and alpha > 0 and 0 <= dropout < 1
    if valid:
        assert LoRALinear(nn.Linear(4, 4), r=r, lora_alpha=alpha, lora_dropout=dropout).r == r
    else:
        with pytest.raises(ValueError):
            LoRALinear(nn.Linear(4, 4), r=r, lora_alpha=alpha, lora_dropout=dropout)


# ---------------------------------------------------------------- injection into whole models

def test_trainable_line_is_peft_s_line(tiny, capsys):
    model = copy.deepcopy(tiny[0])
    inject_lora(model, ["q_proj", "v_proj"], r=8, lora_alpha=16)
    ours = capsys.readouterr().out.strip().splitlines()[-1]
    get_peft_model(copy.deepcopy(tiny[0]), peft_config(["q_proj", "v_proj"], r=8,
                                                       lora_alpha=16)).print_trainable_parameters()
    assert ours == capsys.readouterr().out.strip().splitlines()[-1]
    assert print_trainable_parameters(model).trainable == 6 * 2 * 8 * (192 + 192) - 6 * 8 * (192 - 64)


def test_targets_match_like_peft_exact_name_suffix_and_regex(tiny):
    model = tiny[0]
    exact = inject_lora(copy.deepcopy(model), ["model.layers.0.self_attn.q_proj"], verbose=False)
    assert [n for n, _ in lora_modules(exact)] == ["model.layers.0.self_attn.q_proj"]
    regex = r".*layers\.[01]\.mlp\.(up|down)_proj"
    ours = inject_lora(copy.deepcopy(model), regex, verbose=False)
    theirs = get_peft_model(copy.deepcopy(model), peft_config(regex))
    assert sorted(n for n, _ in lora_modules(ours)) == sorted(theirs.targeted_module_names) and len(
        list(lora_modules(ours))) == 4
    every = inject_lora(copy.deepcopy(model), "all-linear", verbose=False)
    names = [n for n, _ in lora_modules(every)]
    assert len(names) == 6 * 7 and "lm_head" not in names


def test_unknown_or_unsupported_targets_raise_and_leave_the_model_alone(tiny):
    model = copy.deepcopy(tiny[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"\['qproj'\] not found.*down_proj, gate_proj, k_proj, lm_head, o_proj"):
        inject_lora(model, ["q_proj", "qproj"])
    with pytest.raises(ValueError, match="input_layernorm is a LlamaRMSNorm"):
        inject_lora(model, ["model.layers.0.input_layernorm"])
    with pytest.raises(ValueError, match="matches no module"):
        inject_lora(model, r"nothing\.here")
    with pytest.raises(ValueError, match="r=0"):
        inject_lora(model, ["q_proj"], r=0)
    with pytest.raises(ValueError, match="non-empty list"):
        inject_lora(model, [])
    assert not list(lora_modules(model))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    inject_lora(model, ["q_proj"], verbose=False)
    with pytest.raises(ValueError, match="already has LoRA"):
        inject_lora(model, ["q_proj"])


def test_merge_lora_gives_plain_linears_and_refuses_a_second_merge(tiny):
    model = inject_lora(copy.deepcopy(tiny[0]), "all-linear", r=4, lora_alpha=8, verbose=False)
    randomize_lora(model)
    merge_lora(model)
    assert not list(lora_modules(model))
    assert all(type(m) is nn.Linear for n, m in model.named_modules() if n.endswith("_proj"))
    with pytest.raises(ValueError, match="no LoRA layers"):
        merge_lora(model)


def test_merge_then_unmerge_every_layer_restores_weights(tiny):
    model = inject_lora(copy.deepcopy(tiny[0]), "all-linear", r=8, lora_alpha=16, verbose=False)
    randomize_lora(model)
    originals = {n: layer.base_layer.weight.detach().clone() for n, layer in lora_modules(model)}
    ids = token_batch(4096)
    with torch.no_grad():
        unmerged = model(ids).logits
        for _, layer in lora_modules(model):
            layer.merge()
        merged = model(ids).logits
        for _, layer in lora_modules(model):
            layer.unmerge()
        again = model(ids).logits
    depth = model_depth(model.config.num_hidden_layers)
    assert_close(merged, unmerged, depth=depth, what="merged logits")
    assert_close(again, unmerged, depth=depth, what="unmerged again")
    for name, layer in lora_modules(model):
        assert_close(layer.base_layer.weight, originals[name], depth=4, what=name)


def test_merge_lora_with_a_broken_adapter_changes_nothing(tiny):
    model = inject_lora(copy.deepcopy(tiny[0]), ["q_proj", "v_proj"], verbose=False)
    randomize_lora(model)
    last = list(lora_modules(model))[-1][1]
    with torch.no_grad():
        last.lora_A.weight[0, 0] = float("nan")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="layers.5.self_attn.v_proj.*NaN"):
        merge_lora(model)
    assert len(list(lora_modules(model))) == 12
    assert all(torch.equal(v, before[k]) or torch.isnan(v).any() for k, v in model.state_dict().items())


def test_a_short_training_run_lowers_the_loss_and_keeps_the_base_frozen(tiny):
    model = inject_lora(copy.deepcopy(tiny[0]), ["q_proj", "v_proj", "up_proj"], r=8, lora_alpha=16, lora_dropout=0.05,
                        verbose=False)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    tok = tiny[1]
    batch = tok(["Return the number of items in a container.", "Open the file and return a stream."],
                return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    torch.manual_seed(0)
    losses = []
    for _ in range(12):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert all(torch.equal(v, frozen[k]) for k, v in model.state_dict().items() if k in frozen)


def test_a_layer_follows_the_train_or_eval_mode_of_the_layer_it_wraps(tiny):
    model = inject_lora(copy.deepcopy(tiny[0]).eval(), ["q_proj"], lora_dropout=0.3, verbose=False)
    assert not any(layer.training for _, layer in lora_modules(model))
    model.train()
    assert all(layer.lora_dropout.training for _, layer in lora_modules(model))


LEAVES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@settings(max_examples=examples(12))
@given(targets=st.lists(st.sampled_from(LEAVES + ["layers.1.mlp.up_proj", "model.layers.0.self_attn.k_proj"]),
                        min_size=1, max_size=4, unique=True))
def test_target_lists_select_what_peft_selects(targets):
    model = small_llama()
    ours = inject_lora(copy.deepcopy(model), targets, verbose=False)
    theirs = get_peft_model(copy.deepcopy(model), peft_config(targets))
    assert sorted(n for n, _ in lora_modules(ours)) == sorted(theirs.targeted_module_names)
    assert trainable_parameters(ours) == trainable_parameters(theirs)


def test_a_4bit_base_trains_an_fp32_adapter_and_refuses_a_lossy_merge():
    bnb = pytest.importorskip("bitsandbytes")
    base = bnb.nn.Linear4bit(64, 32, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4")
    base.weight = bnb.nn.Params4bit(torch.randn(32, 64) * 0.1, requires_grad=False, quant_type="nf4")
    layer = LoRALinear(base.to("cpu"), r=4, lora_alpha=8)
    assert layer.lora_A.weight.dtype == torch.float32
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    y = layer(x)
    assert y.dtype == torch.bfloat16 and torch.equal(y, base(x))  # B = 0
    y.float().sum().backward()
    assert layer.lora_B.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="quantized"):
        layer.merge()
    assert not layer.merged
