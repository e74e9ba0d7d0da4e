"""The sweep behind lesson 08: runs are fair (same seed, same result), summaries are right, cost is exact."""

import math
import statistics

import pytest
import torch
from ftcourse import data, env, models
from ftcourse.lora import trainable_parameters
from ftcourse.lora.cost import adapter_megabytes, adapter_parameters
from ftcourse.lora.sweep import LAB07, LESSON08, RunResult, format_summary, lora_run, reference_sweep, summarize
from peft import LoraConfig, get_peft_model


@pytest.fixture(scope="module")
def setup():
    sentiment = data.sentiment_dataset()
    env.seed_everything(0)
    base = models.load_classifier("small", dtype=torch.float32)
    return base, models.load_tokenizer("small"), sentiment["train"].select(range(64)), \
        sentiment["validation"].select(range(32))


def test_same_seed_same_run_and_the_base_is_untouched(setup):
    base, tok, train_set, val_set = setup
    before = {n: p.clone() for n, p in base.state_dict().items()}
    a = lora_run(base, tok, train_set, val_set, seed=3, r=4)
    b = lora_run(base, tok, train_set, val_set, seed=3, r=4)
    c = lora_run(base, tok, train_set, val_set, seed=4, r=4)
    assert a.losses == b.losses and a.accuracy == b.accuracy
    assert a.losses != c.losses  # another seed shuffles differently
    assert all(torch.equal(before[n], p) for n, p in base.state_dict().items())


def test_settings_reach_peft_and_the_head_only_run(setup):
    base, tok, train_set, val_set = setup
    lora = lora_run(base, tok, train_set, val_set, r=4, target_modules=["q_proj", "v_proj"])
    head = lora_run(base, tok, train_set, val_set, head_only=True)
    assert lora.trainable == adapter_parameters("tiny", 4, ["q_proj", "v_proj"]) + 2 * 192
    assert head.trainable == 2 * 192
    with pytest.raises(ValueError, match="unknown key"):
        lora_run(base, tok, train_set, val_set, rank=4)


def test_summary_statistics():
    runs = [RunResult("a", s, {}, [1.0, 0.5, float(s)], acc, 10, 1.0) for s, acc in enumerate([0.5, 0.7, 0.9])]
    runs.append(RunResult("b", 0, {}, [1.0], 0.6, 20, 2.0))
    a, b = summarize(runs)
    assert (a.name, a.n, a.trainable) == ("a", 3, 10)
    assert a.accuracy_mean == pytest.approx(0.7) and a.accuracy_sd == pytest.approx(statistics.stdev([.5, .7, .9]))
    assert a.accuracy_se == pytest.approx(a.accuracy_sd / math.sqrt(3))
    assert a.final_loss_mean == pytest.approx(statistics.fmean([(1.5 + s) / 3 for s in range(3)]))
    assert b.n == 1 and math.isnan(b.accuracy_sd) and math.isnan(b.accuracy_se)
    assert "a" in format_summary([a, b]).splitlines()[1]


@pytest.mark.parametrize("r,targets", [(1, ["q_proj"]), (8, "all-linear"), (16, "q_proj,v_proj"),
                                       (5, ["gate_proj", "down_proj"])])
def test_cost_formula_equals_peft(r, targets):
    model = models.load_model("tiny", dtype=torch.float32)
    peft_targets = targets.split(",") if isinstance(targets, str) and targets != "all-linear" else targets
    counted = trainable_parameters(get_peft_model(model, LoraConfig(r=r, target_modules=peft_targets))).trainable
    assert adapter_parameters("tiny", r, targets) == counted
    assert adapter_megabytes("tiny", r, targets, bytes_per_parameter=2) == pytest.approx(2 * counted / 1e6)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_cost_rejects_a_bad_rank(bad):
    with pytest.raises(ValueError, match="must be a positive integer"):
        adapter_parameters("tiny", bad)


def test_cost_rejects_an_unknown_target():
    with pytest.raises(ValueError, match="qkv_proj"):
        adapter_parameters("tiny", 8, ["qkv_proj"])


def test_reference_sweeps_are_complete_and_match_their_settings():
    for name, settings in (("lesson08", LESSON08), ("lab07", LAB07)):
        meta, runs = reference_sweep(name)
        assert {r.name for r in runs} == set(settings) and len(runs) == len(settings) * len(meta["seeds"])
        assert meta["command"].startswith("ftcourse bench sweep") and len(meta["seeds"]) >= 5
        for summary in summarize(runs):
            assert summary.n == len(meta["seeds"])
    with pytest.raises(ValueError, match="lesson08"):
        reference_sweep("nope")


def test_the_bench_command_writes_what_load_results_reads(tmp_path, capsys):
    from ftcourse.lora.sweep import bench_main, load_results

    out = tmp_path / "sweep.json"
    assert bench_main(["--only", "head only", "r=8 a=16", "--seeds", "0", "1", "--n-train", "32", "--n-val", "16",
                       "--device", "cpu", "--json", str(out)]) == 0
    meta, runs = load_results(out)
    assert [(r.name, r.seed) for r in runs] == [("head only", 0), ("r=8 a=16", 0), ("head only", 1), ("r=8 a=16", 1)]
    assert meta["n_train"] == 32 and meta["command"].startswith("ftcourse bench sweep --only 'head only'")
    assert "head only" in capsys.readouterr().out


def test_the_bench_command_names_an_unknown_setting(capsys):
    from ftcourse.lora.sweep import bench_main

    with pytest.raises(SystemExit):
        bench_main(["--only", "r=9"])
    assert "unknown setting(s) ['r=9']" in capsys.readouterr().err
