"""ftcourse.lora save/load: our adapters load in peft, peft's load in ours, bad files change nothing."""

import copy
import json
import warnings

import pytest
import torch
from ftcourse.lora import (
    AdapterMismatchError,
    from_peft_key,
    inject_lora,
    load_adapter,
    lora_state_dict,
    save_adapter,
    to_peft_key,
)
from ftcourse.lora import io as lora_io
from ftcourse.lora.twin import peft_config
from lora_helpers import randomize_lora, small_llama
from peft import PeftModel, get_peft_model
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file, save_file

pytestmark = pytest.mark.numeric


def randomize_peft(model, seed: int = 2, std: float = 0.05):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * std)


def logits(model, vocab: int):
    ids = torch.randint(0, vocab, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(input_ids=ids).logits


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [type(m) for m in model.modules()]


def unchanged(model, snap) -> bool:
    state, types = snap
    now = model.state_dict()
    return set(now) == set(state) and all(torch.equal(now[k], v) for k, v in state.items()) and \
        [type(m) for m in model.modules()] == types


def peft_quiet_load(base, path):
    """PeftModel.from_pretrained, failing on any warning about missing or unexpected keys."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base, str(path))
    keys = [str(w.message) for w in caught if "key" in str(w.message).lower()]
    assert not keys, keys
    return model


CONFIGS = [(["q_proj", "v_proj"], 8, 16, False, 0.0), ("all-linear", 4, 8, True, 0.1),
           (["k_proj", "o_proj", "down_proj"], 2, 3, False, 0.05)]


def test_files_match_what_peft_writes_for_the_same_config(tiny, tmp_path):
    for targets, r, alpha, rslora, dropout in CONFIGS:
        hp = dict(r=r, lora_alpha=alpha, lora_dropout=dropout, use_rslora=rslora)
        ours = inject_lora(copy.deepcopy(tiny[0]), targets, verbose=False, **hp)
        theirs = get_peft_model(copy.deepcopy(tiny[0]), peft_config(targets, **hp))
        save_adapter(ours, tmp_path / "ours")
        theirs.save_pretrained(tmp_path / "peft")
        mine = json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
        peft_cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
        assert set(mine.pop("target_modules")) == set(peft_cfg.pop("target_modules"))
        assert mine == peft_cfg
        a, b = load_file(tmp_path / "ours" / "adapter_model.safetensors"), \
            load_file(tmp_path / "peft" / "adapter_model.safetensors")
        assert {k: (v.shape, v.dtype) for k, v in a.items()} == {k: (v.shape, v.dtype) for k, v in b.items()}
    assert "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight" in a
    assert set(map(to_peft_key, lora_state_dict(ours))) == set(get_peft_model_state_dict(theirs))
    live = {from_peft_key(k) for k in theirs.state_dict() if ".lora_" in k}  # keys of a live PeftModel
    assert live == set(lora_state_dict(ours))


def test_full_names_are_written_when_leaf_names_would_select_more(tiny, tmp_path):
    ours = inject_lora(copy.deepcopy(tiny[0]), ["layers.1.self_attn.q_proj"], verbose=False)
    randomize_lora(ours)
    save_adapter(ours, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["target_modules"] == ["model.layers.1.self_attn.q_proj"]
    theirs = peft_quiet_load(copy.deepcopy(tiny[0]), tmp_path)
    assert theirs.targeted_module_names == ["model.layers.1.self_attn.q_proj"]
    assert torch.equal(logits(ours, 4096), logits(theirs, 4096))


def test_round_trip_ours_peft_ours_in_bf16(tmp_path):
    base = small_llama().to(torch.bfloat16)
    ours = inject_lora(copy.deepcopy(base), ["q_proj", "v_proj", "up_proj"], r=4, lora_alpha=8, verbose=False)
    randomize_lora(ours)
    save_adapter(ours, tmp_path / "a")
    theirs = peft_quiet_load(copy.deepcopy(base), tmp_path / "a")
    assert torch.equal(logits(ours, 128), logits(theirs, 128))
    theirs.save_pretrained(tmp_path / "b")
    back = load_adapter(copy.deepcopy(base), tmp_path / "b")
    assert torch.equal(logits(back, 128), logits(ours, 128))
    assert next(back.model.layers[0].self_attn.q_proj.lora_A.parameters()).dtype == torch.float32


def test_shape_mismatch_leaves_the_model_unchanged(tmp_path):
    donor = inject_lora(small_llama(hidden=64), ["q_proj"], verbose=False)
    save_adapter(donor, tmp_path)
    model = small_llama(hidden=96)
    snap = snapshot(model)
    with pytest.raises(AdapterMismatchError, match="shape mismatch at model.layers.0.self_attn.q_proj.*64→64.*96→96"):
        load_adapter(model, tmp_path)
    assert unchanged(model, snap)


def test_rank_mismatch_leaves_the_model_unchanged(tmp_path):
    save_adapter(inject_lora(small_llama(), ["v_proj"], r=8, verbose=False), tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, "r": 4}))
    model = small_llama()
    snap = snapshot(model)
    with pytest.raises(AdapterMismatchError, match="rank mismatch.*rank 8.*r=4"):
        load_adapter(model, tmp_path)
    assert unchanged(model, snap)


def test_other_base_model_leaves_the_model_unchanged(tmp_path, tiny):
    save_adapter(inject_lora(small_llama(), ["q_proj"], verbose=False), tmp_path)
    tensors = load_file(tmp_path / "adapter_model.safetensors")
    renamed = {k.replace("self_attn.q_proj", "attn.c_attn"): v for k, v in tensors.items()}
    save_file(renamed, tmp_path / "adapter_model.safetensors", metadata={"format": "pt"})
    model = copy.deepcopy(tiny[0])
    snap = snapshot(model)
    with pytest.raises(AdapterMismatchError, match="base-model mismatch.*attn.c_attn"):
        load_adapter(model, tmp_path)
    assert unchanged(model, snap)


def test_loading_into_a_model_with_other_lora_layers_is_refused(tmp_path):
    save_adapter(inject_lora(small_llama(), ["q_proj"], verbose=False), tmp_path)
    model = inject_lora(small_llama(), ["v_proj"], verbose=False)
    snap = snapshot(model)
    with pytest.raises(AdapterMismatchError, match="LoRA layers the adapter does not"):
        load_adapter(model, tmp_path)
    assert unchanged(model, snap)


def test_loading_replaces_an_existing_adapter_of_the_same_layout(tmp_path):
    first = inject_lora(small_llama(), ["q_proj"], r=4, lora_alpha=4, verbose=False)
    randomize_lora(first, seed=5)
    save_adapter(first, tmp_path)
    model = inject_lora(small_llama(), ["q_proj"], r=4, lora_alpha=4, verbose=False)
    load_adapter(model, tmp_path)
    assert torch.equal(logits(model, 128), logits(first, 128))


@pytest.mark.parametrize("field,value,match", [("use_dora", True, "use_dora"), ("peft_type", "IA3", "not LORA"),
                                               ("rank_pattern", {"q_proj": 4}, "rank_pattern"),
                                               ("bias", "all", "biases"), ("init_lora_weights", "pissa", "pissa"),
                                               ("r", 0, "r=0")])
def test_adapters_plain_lora_cannot_reproduce_are_refused(tmp_path, field, value, match):
    save_adapter(inject_lora(small_llama(), ["q_proj"], verbose=False), tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, field: value}))
    model = small_llama()
    snap = snapshot(model)
    with pytest.raises(ValueError, match=match):
        load_adapter(model, tmp_path)
    assert unchanged(model, snap)


def test_missing_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(small_llama(), tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="safe_serialization=True"):
        load_adapter(small_llama(), tmp_path)


def test_writes_are_atomic_a_failed_save_keeps_the_old_adapter(tmp_path, monkeypatch):
    good = inject_lora(small_llama(), ["q_proj"], verbose=False)
    randomize_lora(good)
    save_adapter(good, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    other = inject_lora(small_llama(seed=3), ["q_proj"], verbose=False)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(other, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # old files intact, no temp files left


def test_save_refuses_models_it_cannot_describe(tmp_path):
    with pytest.raises(ValueError, match="no LoRA layers"):
        save_adapter(small_llama(), tmp_path)
    model = inject_lora(small_llama(), ["q_proj"], r=4, verbose=False)
    inject_lora(model, ["v_proj"], r=8, verbose=False)
    with pytest.raises(ValueError, match="differ in"):
        save_adapter(model, tmp_path)
    assert lora_io.adapter_config(inject_lora(small_llama(), ["q_proj"], verbose=False))["r"] == 8
