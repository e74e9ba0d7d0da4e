"""Bad input never passes silently and never raises anything but ValueError naming the bad value."""

import pytest
from budget import examples
from ftcourse.memory import (
    LINEAR_MODULES,
    METHODS,
    OPTIMIZERS,
    PRECISIONS,
    Breakdown,
    estimate_training_memory,
    suggest_hardware,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

NOT_IN_CONFIG = ("c_attn", "lm_head", "embed_tokens", "query_key_value", "")


def choice(valid):
    return st.one_of(st.sampled_from(valid), st.text(max_size=8), st.integers(), st.none())


targets = st.one_of(
    st.none(), st.just("all-linear"),
    st.lists(st.sampled_from(LINEAR_MODULES + NOT_IN_CONFIG), max_size=4),
    st.text(max_size=12), st.integers(),
)
sizes = st.one_of(st.integers(-3, 40), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3))


def _targets_ok(value) -> bool:
    if value is None or value == "all-linear":
        return True
    if isinstance(value, str):
        items = [t.strip() for t in value.split(",")]
    elif isinstance(value, list):
        items = value
    else:
        return False
    return bool(items) and all(t in LINEAR_MODULES for t in items)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@settings(max_examples=examples(300))
@given(method=choice(METHODS), precision=choice(PRECISIONS), optimizer=choice(OPTIMIZERS), batch=sizes,
       seq=sizes, rank=sizes, target=targets, ckpt=st.one_of(st.booleans(), st.integers(0, 1), st.just("yes")))
def test_random_inputs_give_a_breakdown_or_a_value_error(method, precision, optimizer, batch, seq, rank, target,
                                                         ckpt):
    checks = {
        "method": (method, method in METHODS), "precision": (precision, precision in PRECISIONS),
        "optimizer": (optimizer, optimizer in OPTIMIZERS), "batch_size": (batch, _positive_int(batch)),
        "seq_len": (seq, _positive_int(seq)), "r": (rank, _positive_int(rank)),
        "target_modules": (target, _targets_ok(target)), "activation_checkpointing": (ckpt, isinstance(ckpt, bool)),
    }
    qlora_mixed = method == "qlora" and precision == "mixed"
    valid = all(ok for _v, ok in checks.values()) and not qlora_mixed
    try:
        result = estimate_training_memory("tiny", method=method, precision=precision, optimizer=optimizer,
                                          batch_size=batch, seq_len=seq, activation_checkpointing=ckpt,
                                          r=rank, target_modules=target)
    except ValueError as exc:
        assert not valid, f"valid input rejected: {exc}"
        message = str(exc)
        # qlora with mixed precision is refused by name ("precision") whatever else is wrong
        bad = [name for name, (_v, ok) in checks.items() if not ok] + (["precision"] if qlora_mixed else [])
        named = [name for name in bad if name in message]
        assert named, message
        if named[0] in ("method", "precision", "optimizer"):
            assert "valid choices" in message
        return
    assert valid, f"invalid input accepted: {checks}"
    assert isinstance(result, Breakdown) and result.total > 0
    assert all(v >= 0 for v in result.as_dict().values())


@given(st.one_of(st.integers(-10, 10**13), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                 st.none(), st.booleans()))
@example(float("inf"))
@example(float("nan"))
@example(0.5)
def test_suggest_hardware_accepts_positive_bytes_only(total):
    ok = isinstance(total, int | float) and not isinstance(total, bool) and total > 0 and total != float("inf")
    try:
        suggestion = suggest_hardware(total)
    except ValueError as exc:
        assert not ok and "total" in str(exc)
        return
    assert ok
    assert suggestion.needed > suggestion.estimate  # the margin is never zero
    assert suggestion.gpu is None or suggestion.gpu.usable_bytes >= suggestion.needed


def test_each_bad_value_is_named_with_the_choices():
    import pytest

    cases = {"method": "ia3", "precision": "int4", "optimizer": "adafactor"}
    for field, bad in cases.items():
        with pytest.raises(ValueError, match=f"{field}='{bad}'.*valid choices"):
            estimate_training_memory("tiny", **{field: bad})
    for field in ("batch_size", "seq_len", "r"):
        with pytest.raises(ValueError, match=f"{field}=0 must be a positive integer"):
            estimate_training_memory("tiny", method="lora", **{field: 0})
    with pytest.raises(ValueError, match="c_attn.*q_proj"):
        estimate_training_memory("tiny", method="lora", target_modules=["q_proj", "c_attn"])


@settings(max_examples=examples(200))
@given(field=st.sampled_from(["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                              "num_attention_heads", "num_key_value_heads", "head_dim", "model_type"]),
       value=st.one_of(st.integers(-4, 64), st.none(), st.text(max_size=5), st.floats(), st.booleans()))
def test_random_config_fields_count_or_raise_value_error(field, value):
    from ftcourse.memory import ParameterCount, count_parameters, load_config

    config = dict(load_config("tiny"), **{field: value})
    try:
        counted = count_parameters(config)
    except ValueError as exc:
        assert field in str(exc) or "num_attention_heads" in str(exc) or "model_type" in str(exc)
        return
    assert isinstance(counted, ParameterCount) and counted.total > 0
    if value is not None:  # only a missing optional field falls back to its documented default
        assert isinstance(value, int) and not isinstance(value, bool) and value > 0 or field == "model_type"


@pytest.mark.parametrize("old", ["lora_r", "rank"])
def test_an_old_spelling_of_the_rank_names_the_new_one(old):
    with pytest.raises(TypeError, match=f"{old}=; it is called r="):
        estimate_training_memory("tiny", method="lora", **{old: 8})
