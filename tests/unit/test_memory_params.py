"""Exact parameter counts from configs, checked against models built from the same configs."""

import pytest
import torch
from ftcourse.memory import KNOWN, count_parameters, load_config
from ftcourse.memory.params import architecture
from transformers import AutoConfig, AutoModelForCausalLM

# Published totals (model cards / num_parameters() of the released checkpoints).
PUBLISHED = {
    "SmolLM2-135M": 134_515_008,
    "SmolLM2-360M": 361_821_120,
    "Qwen2.5-0.5B": 494_032_768,
    "Qwen2.5-1.5B": 1_543_714_304,
    "Llama-3.2-1B": 1_235_814_400,
    "Mistral-7B": 7_241_732_096,
}


def _plain(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "_name_or_path"}


def shrink(config: dict, **overrides) -> dict:
    """The same architecture (family, biases, tying, GQA ratio) at a size that builds in milliseconds."""
    ratio = config["num_attention_heads"] // (config.get("num_key_value_heads") or config["num_attention_heads"])
    small = dict(_plain(config), hidden_size=64, intermediate_size=96, num_hidden_layers=2, vocab_size=300,
                 num_attention_heads=4, num_key_value_heads=max(1, 4 // ratio), head_dim=16,
                 max_position_embeddings=256)
    small.pop("rope_parameters", None)
    small.update(overrides)
    return small


def build(config: dict, device=None):
    cfg = AutoConfig.for_model(**config)
    if device is not None:
        with torch.device(device):
            return AutoModelForCausalLM.from_config(cfg)
    return AutoModelForCausalLM.from_config(cfg)


def components(model) -> dict[str, int]:
    """Parameters of a built model grouped the way count_parameters groups them."""
    groups = {"embeddings": 0, "attention": 0, "mlp": 0, "norms": 0, "lm_head": 0}
    for name, p in model.named_parameters():  # named_parameters lists a tied head once (as the embedding)
        key = ("embeddings" if "embed_tokens" in name else "attention" if "self_attn" in name
               else "mlp" if ".mlp." in name else "lm_head" if "lm_head" in name else "norms")
        groups[key] += p.numel()
    return groups


@pytest.mark.parametrize("name", ["tiny", *KNOWN])
@pytest.mark.parametrize("tie", [None, True, False])
def test_small_models_match_by_component(name, tie):
    overrides = {} if tie is None else {"tie_word_embeddings": tie}
    config = shrink(load_config(name), **overrides)
    model = build(config)
    counted = count_parameters(config)
    assert counted.total == model.num_parameters()
    assert {k: getattr(counted, k) for k in components(model)} == components(model)
    assert counted.tensors == len(list(model.parameters()))


def test_qwen2_has_qkv_biases_and_llama_biases_follow_flags():
    qwen = shrink(load_config("Qwen2.5-0.5B"))
    assert architecture(qwen).qkv_bias and not architecture(qwen).o_bias
    without = count_parameters(dict(qwen, model_type="llama")).total
    arch = architecture(qwen)
    assert count_parameters(qwen).total - without == 2 * (arch.q_dim + 2 * arch.kv_dim)  # q, k, v biases, 2 layers
    biased = shrink(load_config("tiny"), attention_bias=True, mlp_bias=True)
    assert count_parameters(biased).total == build(biased).num_parameters()
    assert count_parameters(biased).tensors == len(list(build(biased).parameters()))


@pytest.mark.parametrize("name", list(KNOWN))
def test_full_size_configs_match_on_meta_device(name):
    config = _plain(load_config(name))
    model = build(config, device="meta")  # no memory: tensors have shapes but no storage
    assert count_parameters(config).total == model.num_parameters() == PUBLISHED[name]


def test_embedded_model_count_matches_the_shipped_weights(tiny):
    model, _tok = tiny
    assert count_parameters("tiny").total == model.num_parameters() == 3_148_224


def test_table_lists_every_component():
    text = count_parameters("SmolLM2-135M").table()
    for word in ("embeddings", "attention", "mlp", "norms", "lm_head", "134,515,008"):
        assert word in text


@pytest.mark.parametrize("bad", [
    {"model_type": "gpt2"},
    {"hidden_size": 0},
    {"num_hidden_layers": -1},
    {"num_key_value_heads": 3},  # 4 heads are not a multiple of 3
    {"num_key_value_heads": 0},  # not silently "multi-head"
    {"head_dim": -16},
])
def test_bad_configs_raise_value_error(bad):
    config = dict(shrink(load_config("tiny")), **bad)
    with pytest.raises(ValueError, match=str(list(bad.values())[0])):
        count_parameters(config)


def test_unknown_model_name_lists_choices():
    with pytest.raises(ValueError, match="SmolLM2-135M"):
        load_config("no-such-model")
