"""The estimator against measurement (byte-exact on small models), the FACTS figures, hardware and the CLI."""

import pytest
import torch
from ftcourse.bench.memory import build_model
from ftcourse.memory import (
    GIB,
    accelerate_style,
    estimate_training_memory,
    gib,
    load_config,
    rule_of_thumb,
    suggest_hardware,
)
from ftcourse.memory.estimate import estimate_main
from ftcourse.memory.measure import SavedTensorTracker, measure_training_memory
from ftcourse.models.registry import CONFIG_DIR
from test_memory_params import shrink

FIELDS = ("weights", "quant_constants", "adapter_weights", "gradients", "optimizer_states", "activations")


def build_and_measure(config, method, targets, precision, checkpointing, optimizer="adamw", batch=2, seq=32):
    model = build_model(config, method, targets, precision, checkpointing, rank=4)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(params)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=0.1)
    else:
        import bitsandbytes as bnb

        opt = (bnb.optim.PagedAdamW8bit if optimizer.startswith("paged") else bnb.optim.AdamW8bit)(params)
    ids = torch.randint(0, config["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(0))
    autocast = torch.bfloat16 if precision == "mixed" else None
    measured = measure_training_memory(model, {"input_ids": ids}, opt, autocast_dtype=autocast)
    estimate = estimate_training_memory(config, method=method, precision=precision, optimizer=optimizer,
                                        batch_size=batch, seq_len=seq, activation_checkpointing=checkpointing,
                                        r=4, target_modules=targets)
    return estimate, measured


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "mixed"])
@pytest.mark.parametrize("method,targets", [("full", None), ("lora", ["q_proj", "v_proj"]), ("lora", "all-linear"),
                                            ("lora", ["o_proj", "down_proj"])])
def test_estimate_equals_measurement_to_the_byte(method, targets, precision, checkpointing):
    est, meas = build_and_measure(shrink(load_config("tiny")), method, targets, precision, checkpointing)
    assert {f: getattr(est, f) for f in FIELDS} == {f: getattr(meas, f) for f in FIELDS}
    assert meas.activations > 0 and meas.overhead == 0  # CPU: no allocator peak to compare


def test_qlora_nf4_double_quant_matches_to_the_byte():
    est, meas = build_and_measure(shrink(load_config("tiny"), hidden_size=128, intermediate_size=256), "qlora",
                                  "all-linear", "bf16", False)
    assert {f: getattr(est, f) for f in FIELDS} == {f: getattr(meas, f) for f in FIELDS}
    assert meas.quant_constants > 0 and meas.adapter_weights > 0


@pytest.mark.parametrize("name", ["Qwen2.5-0.5B", "Mistral-7B", "SmolLM2-360M"])
@pytest.mark.parametrize("method,targets", [("full", None), ("lora", "all-linear")])
def test_other_families_match_too(name, method, targets):
    config = shrink(load_config(name), tie_word_embeddings=name != "Mistral-7B")
    est, meas = build_and_measure(config, method, targets, "fp32", False, batch=1, seq=48)
    assert est.total == meas.total and est.activations == meas.activations


@pytest.mark.parametrize("optimizer", ["sgd", "adamw_8bit", "paged_adamw_8bit"])
def test_optimizer_states_are_exact(optimizer):
    config = shrink(load_config("tiny"))  # 64×96 MLP weights (6144 values) take the 8-bit path, norms stay fp32
    est, meas = build_and_measure(config, "full", None, "fp32", False, optimizer=optimizer, batch=1, seq=16)
    assert est.optimizer_states == meas.optimizer_states
    if optimizer == "sgd":
        assert meas.optimizer_states == 0
    else:
        assert meas.optimizer_states < 0.35 * 2 * meas.weights  # vs fp32 AdamW: 8 B/param = 2 × weights


def test_tracker_deduplicates_by_storage_and_excludes_parameters():
    w = torch.nn.Parameter(torch.randn(100))
    x = torch.randn(100, requires_grad=True)
    with SavedTensorTracker(exclude=[w]) as tracker:
        y = x.exp()  # saves its result y
        z = (y * y).sum()  # saves y twice: the same storage, counted once
        u = (x * w).sum()  # saves x (new) and w (a parameter: excluded)
        assert tracker.current == 2 * 400
        (z + u).backward()
    assert tracker.peak == 800 and tracker.current == 0  # freed as backward consumed them


def test_facts_figures_for_smollm2_135m():
    est = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512)
    assert round(gib(est.total), 2) == 4.94
    assert [round(gib(v), 2) for v in (est.weights, est.gradients, est.optimizer_states, est.activations)] == \
        [0.50, 0.50, 1.00, 2.94]
    assert round(gib(rule_of_thumb("SmolLM2-135M")), 2) == 2.51
    assert round(gib(accelerate_style("SmolLM2-135M")), 2) == 2.00
    lora = estimate_training_memory("SmolLM2-135M", method="lora", batch_size=8, seq_len=1024)
    assert round(gib(lora.total), 2) == 9.26


def test_accounting_rules():
    full = estimate_training_memory("SmolLM2-135M", precision="bf16", seq_len=8)
    params = full.notes["parameters"]
    assert full.weights == full.gradients == 2 * params
    assert full.optimizer_states == 4 * params + 4 * 272  # bf16 m and v, one fp32 step per tensor
    mixed = estimate_training_memory("SmolLM2-135M", precision="mixed", seq_len=8)
    assert mixed.weights + mixed.gradients + mixed.optimizer_states == 16 * params + 4 * 272
    # activations are linear in tokens plus a constant: autocast's bf16 copy of every linear weight (the tied
    # head once), plus the labels' padding slot (8 B) and the loss scalar (4 B)
    def constant(precision):
        short, long = (estimate_training_memory("SmolLM2-135M", precision=precision, seq_len=s) for s in (8, 16))
        return 2 * short.activations - long.activations

    assert constant("mixed") == 2 * (params - 576 * 61) + 12
    assert constant("bf16") == 12
    qlora = estimate_training_memory("Llama-3.2-1B", method="qlora", precision="bf16", seq_len=8)
    linear = 16 * (2048 * (2048 + 512 + 512 + 2048) + 3 * 2048 * 8192)
    assert qlora.weights == (qlora.notes["parameters"] - linear) * 2 + linear // 2
    assert 0.125 * linear / 8 < qlora.quant_constants < 0.135 * linear / 8  # ≈ 0.127 bits/param with double quant
    no_dq = estimate_training_memory("Llama-3.2-1B", method="qlora", precision="bf16", seq_len=8, double_quant=False)
    assert no_dq.quant_constants - qlora.quant_constants == pytest.approx(0.373 * linear / 8, rel=0.01)
    assert qlora.gradients == qlora.adapter_weights and qlora.optimizer_states > 2 * qlora.adapter_weights


def test_nf4_constants_match_bitsandbytes():
    import bitsandbytes.functional as F
    from ftcourse.quant import nf4_constant_bytes as _nf4_constant_bytes

    w = torch.randn(96, 200, dtype=torch.bfloat16)  # 19200 values: 300 blocks of 64, 2 double-quant blocks
    for double in (False, True):
        packed, qs = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=double)
        tensors = [qs.absmax, qs.code, *([qs.offset, qs.state2.absmax, qs.state2.code] if double else [])]
        assert packed.numel() == w.numel() // 2
        assert _nf4_constant_bytes(w.numel(), double) == sum(t.numel() * t.element_size() for t in tensors)


def test_checkpointing_and_lora_shrink_what_they_should():
    base = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512)
    ckpt = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512, activation_checkpointing=True)
    lora = estimate_training_memory("SmolLM2-135M", method="lora", batch_size=4, seq_len=512)
    assert ckpt.activations < base.activations / 5 and ckpt.overhead >= base.overhead
    assert lora.gradients < base.gradients / 100 and lora.activations < base.activations
    double = estimate_training_memory("SmolLM2-135M", batch_size=8, seq_len=512)
    assert double.activations == pytest.approx(2 * base.activations, rel=1e-3)  # linear in batch


def test_suggest_hardware_margin_and_table():
    assert suggest_hardware(4 * GIB).gpu.name.startswith("T4")
    assert suggest_hardware(14 * GIB).gpu.name.startswith("L4")  # 14 GiB + 10 % + 1 GiB context > a T4's 15.1
    assert suggest_hardware(30 * GIB).gpu.name.startswith("A100 40")
    assert suggest_hardware(200 * GIB).gpu is None and "fits none" in suggest_hardware(200 * GIB).line()
    est = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512)
    assert suggest_hardware(est).estimate == est.peak
    for bad in (0, -1, float("nan"), "8GB", True):
        with pytest.raises(ValueError, match="total"):
            suggest_hardware(bad)


def test_estimate_command(capsys, tmp_path):
    assert estimate_main(["tiny", "--batch", "2", "--seq", "64"]) == 0
    out = capsys.readouterr().out
    assert "activations" in out and "20 B/param rule" in out and "T4" in out
    config = tmp_path / "config.json"
    config.write_text((CONFIG_DIR / "Mistral-7B.json").read_text())
    assert estimate_main([str(config), "--method", "lora", "--targets", "all-linear", "--rank", "8"]) == 0
    assert "Mistral" not in capsys.readouterr().err
    assert estimate_main(["tiny", "--method", "ia3"]) == 2
    assert "ia3" in capsys.readouterr().err
    assert estimate_main(["tiny", "--method", "lora", "--targets", "c_attn"]) == 2
    assert "q_proj" in capsys.readouterr().err


@pytest.mark.parametrize("method,targets", [("full", None), ("lora", "all-linear"), ("lora", ("q_proj", "v_proj"))])
@pytest.mark.parametrize("batch,seq", [(2, 64), (1, 128)])
def test_math_attention_is_exact_on_cpu(method, targets, batch, seq):
    """CUDA runs fp32 grouped-query attention with SDPA's math kernel; forced on CPU it saves the same."""
    import torch
    from ftcourse.memory.configs import load_config
    from torch.nn.attention import SDPBackend, sdpa_kernel

    cfg = load_config("tiny")
    model = build_model(cfg, method, targets or (), "fp32", False, 16)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, cfg["vocab_size"], (batch, seq), generator=torch.Generator().manual_seed(0))
    with sdpa_kernel(SDPBackend.MATH):
        measured = measure_training_memory(model, {"input_ids": ids}, opt)
    est = estimate_training_memory(cfg, method=method, batch_size=batch, seq_len=seq, r=16,
                                   target_modules=targets, attention="math")
    flash = estimate_training_memory(cfg, method=method, batch_size=batch, seq_len=seq, r=16,
                                     target_modules=targets)
    assert est.activations == measured.activations and flash.activations < est.activations


def test_peak_is_what_is_held_at_once():
    small = estimate_training_memory("SmolLM2-135M", batch_size=1, seq_len=128)
    big = estimate_training_memory("SmolLM2-135M", batch_size=8, seq_len=1024)
    # tiny activations: the optimizer step is the peak, weights + AdamW + gradients + a temporary = 20 B/param
    assert small.peak == small.persistent + small.gradients + small.step_transient == 20 * 134_515_008 + 4 * 272
    # large activations: the end of forward is the peak, and gradients are not yet there
    assert big.peak == big.persistent + big.activations + big.overhead == big.total + big.overhead - big.gradients
    with pytest.raises(ValueError, match="attention='paged' is not valid; valid choices: flash, math"):
        estimate_training_memory("tiny", attention="paged")
