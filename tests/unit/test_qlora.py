"""`ftcourse.quant.qlora`: the embedded tiny model loaded in 4 bits by bitsandbytes with peft's LoRA on top.

The trap test follows reference/quant.md §3: on AVX512-BF16 CPUs an eval-mode no-grad forward repacks each
bnb `Linear4bit` in place, after which its base weight passes no gradient; `load_qlora` turns that off.
"""

import pytest
import torch
from ftcourse.compat import quiet
from ftcourse.models import load_tokenizer
from ftcourse.quant import bnb_4bit_config, default_compute_dtype, disable_cpu_repacking, linear4bit_modules, load_qlora

# the tiny Llama: 6 layers, hidden 192, 2 KV heads of 32, MLP 512 -> (in + out) of q, k, v, o, gate, up, down
LINEARS_PER_LAYER = 7
IN_PLUS_OUT = (192 + 192) + (192 + 64) * 2 + (192 + 192) + (192 + 512) * 3
LAYERS = 6
TEXTS = ["the cat sat on the mat and looked at the dog", "a small model learns to repeat a short sentence"]


@pytest.fixture(scope="module")
def bnb():
    with quiet():
        import bitsandbytes
    return bitsandbytes


@pytest.fixture(scope="module")
def batch():
    tok = load_tokenizer("small")
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def trainable(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def loss_and_grads(model, batch) -> tuple[float, dict[str, torch.Tensor]]:
    """One forward/backward at the current weights: the loss and a copy of every trainable gradient."""
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in trainable(model).items()}


def eval_forward_and_generate(model, batch) -> None:
    """What a lesson does between training runs: an eval no-grad forward and a short greedy generation."""
    model.eval()
    with torch.no_grad():
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out = model.generate(input_ids=batch["input_ids"][:1], max_new_tokens=3, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 3
    model.train()


def base_input_grad(layer, seed=0) -> torch.Tensor | None:
    """The input gradient of one bnb Linear4bit alone (train mode), for a fixed input."""
    x = torch.randn(3, layer.in_features, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    y = layer(x)
    if y.requires_grad:
        y.float().square().sum().backward()
    return x.grad


# ---------------------------------------------------------------------------------------------------- loading

def test_config_is_the_qlora_recipe_not_transformers_defaults():
    config = bnb_4bit_config()
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == default_compute_dtype()
    assert bnb_4bit_config(torch.float32).bnb_4bit_compute_dtype == torch.float32
    with pytest.raises(ValueError, match="compute_dtype.*torch.int8"):
        bnb_4bit_config(torch.int8)


def test_causal_lm_is_nf4_double_quant_with_only_lora_trainable(bnb, capsys):
    model = load_qlora("small")
    layers = linear4bit_modules(model)
    assert len(layers) == LINEARS_PER_LAYER * LAYERS  # every linear but the (tied, unquantized) lm_head
    for name, layer in layers:
        assert layer.weight.quant_type == "nf4" and layer.weight.quant_state.nested, name
        assert layer.weight.dtype == torch.uint8 and not layer.weight.requires_grad, name
        assert layer.compute_dtype == default_compute_dtype(), name
        assert layer.support_avx512bf16_for_cpu is False, name
    assert not isinstance(model.get_output_embeddings(), bnb.nn.Linear4bit)
    params = trainable(model)
    assert params and all(".lora_A." in n or ".lora_B." in n for n in params)
    n_trainable, n_all = model.get_nb_trainable_parameters()
    assert sum(p.numel() for p in params.values()) == n_trainable == 16 * IN_PLUS_OUT * LAYERS  # r=16: 325,632
    model.print_trainable_parameters()
    assert f"trainable params: {n_trainable:,} || all params: {n_all:,}" in capsys.readouterr().out
    assert model.training and model.base_model.model.is_activation_checkpointing


def test_classifier_trains_lora_and_the_head():
    model = load_qlora("small", classifier=True, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                       compute_dtype=torch.float32, checkpointing=False)
    assert len(linear4bit_modules(model)) == LINEARS_PER_LAYER * LAYERS
    assert all(layer.compute_dtype == torch.float32 for _, layer in linear4bit_modules(model))
    params = trainable(model)
    lora = {n for n in params if ".lora_" in n}
    head = set(params) - lora
    assert len(lora) == 2 * 2 * LAYERS and all(("q_proj" in n or "v_proj" in n) for n in lora)
    assert head and all(".score." in n for n in head)  # peft's modules_to_save copy of the new head
    head_size = sum(params[n].numel() for n in head)
    assert head_size == 2 * 192
    lora_size = sum(params[n].numel() for n in lora)
    assert lora_size == 4 * ((192 + 192) + (192 + 64)) * LAYERS
    assert model.get_nb_trainable_parameters()[0] == lora_size + head_size
    assert model(input_ids=torch.tensor([[5, 6, 7]])).logits.shape == (1, 2)


# ---------------------------------------------------------------------------------------------------- training

def test_a_few_steps_lower_the_loss(batch):
    torch.manual_seed(0)
    model = load_qlora("small", r=8, lora_alpha=16)
    optimizer = torch.optim.AdamW(trainable(model).values(), lr=1e-2)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable(model).values())


def test_train_eval_generate_train_keeps_training(batch):
    """THE TRAP, fixed: after an eval forward and a generate, the same weights give the same loss and
    gradients as before, every base layer still passes its input gradient, and another step lowers the loss."""
    torch.manual_seed(0)
    model = load_qlora("small", r=8, lora_alpha=16)
    optimizer = torch.optim.AdamW(trainable(model).values(), lr=1e-2)
    name, probe = linear4bit_modules(model)[0]
    probe_grad = base_input_grad(probe)
    assert probe_grad is not None and probe_grad.abs().sum() > 0

    loss_0, _ = loss_and_grads(model, batch)
    optimizer.step()
    loss_1, grads_1 = loss_and_grads(model, batch)
    eval_forward_and_generate(model, batch)
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for _, m in
                   linear4bit_modules(model))
    loss_1b, grads_1b = loss_and_grads(model, batch)
    assert loss_1b == loss_1
    for n, g in grads_1.items():
        assert torch.equal(g, grads_1b[n]), n
    assert torch.equal(base_input_grad(probe), probe_grad), name

    before = {n: p.detach().clone() for n, p in trainable(model).items()}
    optimizer.step()
    assert all(not torch.equal(before[n], p) for n, p in trainable(model).items() if ".lora_B." in n)
    loss_2, _ = loss_and_grads(model, batch)
    assert loss_0 > loss_1 > loss_2, (loss_0, loss_1, loss_2)


def test_without_the_fix_bnb_repacks_and_the_base_stops_passing_gradients(bnb, batch):
    """The control: with bnb's flag back on, the same eval forward repacks every layer in place."""
    if not bnb.functional.has_avx512bf16():
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes never repacks here, nothing to show")
    model = load_qlora("small", r=8, lora_alpha=16)
    layers = linear4bit_modules(model)
    for _, layer in layers:
        layer.support_avx512bf16_for_cpu = True
    name, probe = layers[0]
    probe_grad = base_input_grad(probe)
    loss_1, grads_1 = loss_and_grads(model, batch)
    eval_forward_and_generate(model, batch)
    assert all(m.weight.quant_state.packing_format_for_cpu for _, m in layers)
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        broken = base_input_grad(probe)
    assert broken is None or not torch.allclose(broken, probe_grad), name
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        loss_1b, grads_1b = loss_and_grads(model, batch)
    assert loss_1b != loss_1  # now the bf16 inference kernel's numbers
    assert any(not torch.allclose(g, grads_1b[n]) for n, g in grads_1.items())
    assert disable_cpu_repacking(model) == len(layers)  # the fix counts the layers it turned off
    assert disable_cpu_repacking(model) == 0


# ---------------------------------------------------------------------------------------------------- bad input

def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown model 'no-such-preset'"):
        load_qlora("no-such-preset")
    with pytest.raises(ValueError, match="r=0 must be a positive integer"):
        load_qlora("small", r=0)
    with pytest.raises(ValueError, match="lora_dropout=1.5"):
        load_qlora("small", lora_dropout=1.5)
