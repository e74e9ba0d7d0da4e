"""lab07 q2's hint when accuracy is short: a run that stalled at chance (loss still about ln 2) is blamed on
lora_alpha × lr, with the learner's own alpha; a run whose loss fell but whose model is at chance is asked
whether peft_model was trained; a near miss is told it is close. Accuracy is pinned so no training runs."""

import pytest
from ftcourse import evaluate
from ftcourse.grading import answers, checks
from ftcourse.train import History


@pytest.fixture(scope="module")
def untrained():
    """A peft_model as a diverging config leaves it: r=16, lora_alpha=64 (alpha/r = 4), never trained."""
    from peft import LoraConfig, get_peft_model

    lab07 = checks.module("lab07")
    config = LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=64, target_modules=["q_proj", "v_proj"])
    return get_peft_model(lab07._fresh_classifier(), config)


def q2(monkeypatch, model, losses, acc):
    monkeypatch.setattr(evaluate, "accuracy", lambda *args, **kwargs: acc)
    return answers.run(checks.load("lab07")["q2"], {"peft_model": model, "history": History(losses=losses)})


def test_a_stalled_run_is_blamed_on_alpha_times_lr(monkeypatch, untrained):
    result = q2(monkeypatch, untrained, [0.70] * 250, 0.51)
    assert (result.status, result.points) == ("fail", 0)
    assert "training stalled at chance" in result.message
    assert "lora_alpha=64" in result.message and "alpha/r = 4" in result.message
    assert "lora_alpha × lr" in result.message and "3e-3" in result.message
    assert "trained at all" not in result.message


def test_rslora_scaling_is_named(monkeypatch, untrained):
    config = untrained.peft_config["default"]
    monkeypatch.setattr(config, "use_rslora", True)
    result = q2(monkeypatch, untrained, [0.72] * 250, 0.50)
    assert "alpha/sqrt(r) = 16" in result.message


def test_a_falling_loss_at_chance_asks_whether_it_was_trained(monkeypatch, untrained):
    result = q2(monkeypatch, untrained, [0.7 - 0.002 * i for i in range(250)], 0.50)
    assert result.points == 1  # the loss fell
    assert "was peft_model trained at all?" in result.message and "stalled" not in result.message


def test_a_near_miss_is_close(monkeypatch, untrained):
    result = q2(monkeypatch, untrained, [0.7] * 125 + [0.6] * 125, 0.58)
    assert "close:" in result.message and "stalled" not in result.message


def test_the_checks_hide_pefts_warning_only_while_they_build(recwarn):
    """q1 builds a peft model inside ftcourse.compat.quiet(): no deprecation warning, and the kernel's filters and
    the bitsandbytes logger level are what they were (the solution no longer filters warnings process-wide)."""
    import logging
    import warnings

    from peft import LoraConfig

    warnings.simplefilter("always")
    filters, level = list(warnings.filters), logging.getLogger("bitsandbytes").level
    config = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules="all-linear")
    result = answers.run(checks.load("lab07")["q1"], {"lora_config": config})
    assert (result.status, result.points) == ("pass", 3), result.message
    assert not [w for w in recwarn if "is_gradient_checkpointing" in str(w.message)]
    assert warnings.filters == filters and logging.getLogger("bitsandbytes").level == level
