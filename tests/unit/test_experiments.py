"""experiments: settings files, fair runs (same seed, same run), what a run records, summaries and the table."""

import copy
import json
import math
import statistics
import struct

import pytest
import torch
from ftcourse import data, env, experiments, models
from ftcourse.experiments import RunResult, comparison_table, format_summary, run_one, summarize
from ftcourse.lora import trainable_parameters
from ftcourse.lora.cost import adapter_megabytes, adapter_parameters
from peft import LoraConfig, get_peft_model

LESSON08 = experiments.settings("lesson08")
HEAD = 2 * 192  # the tiny classifier's new head: hidden size 192 → 2 labels

pytestmark = pytest.mark.numeric  # bitwise claims: the same operations in the same order


@pytest.fixture(scope="module")
def setup():
    sentiment = data.sentiment_dataset()
    env.seed_everything(0)
    base = models.load_classifier("small", dtype=torch.float32)
    return base, models.load_tokenizer("small"), sentiment["train"].select(range(64)), \
        sentiment["validation"].select(range(32))


def _run(setup, **kwargs):
    base, tok, train_set, val_set = setup
    return run_one(base, tok, train_set, val_set, baseline=LESSON08.baseline, **kwargs)


# -- settings files ----------------------------------------------------------------------------------------------
def test_the_shipped_settings_files():
    assert {"lesson08", "lab07"} <= set(experiments.settings_names())
    lab07 = experiments.settings("lab07")
    assert len(LESSON08.settings) == 14 and len(lab07.settings) == 6
    assert LESSON08.baseline == dict(method="lora", r=8, lora_alpha=16, target_modules="all-linear",
                                     use_rslora=False, use_dora=False, lr=3e-3)
    assert LESSON08.sizes == dict(n_train=128, n_val=128, epochs=1, batch_size=32, max_length=48)
    assert lab07.sizes["epochs"] == 2 and lab07.sizes["n_train"] == 2000
    assert LESSON08.resolve("r=2 a=16") == {**LESSON08.baseline, "r": 2}
    assert LESSON08.settings["head only"] == {"method": "head"}
    assert LESSON08.select(["lr=1e-2", "head only"]).names() == ["lr=1e-2", "head only"]
    with pytest.raises(ValueError, match="this sweep has: r=2 a=4"):
        LESSON08.select(["r=9"])
    with pytest.raises(ValueError, match="valid choices: lab07, lesson08"):
        experiments.settings("lesson8")


def _write(tmp_path, content) -> str:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(content))
    return str(path)


GOOD = {"baseline": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "lr": 1e-3}, "settings": {"a": {}}}


@pytest.mark.parametrize("change,needle", [
    ({"settings": {"a": {"rank": 4}}}, r"unknown key\(s\) \['rank'\]; valid keys: method, lr, .*lora_alpha"),
    ({"baseline": {"lr": 1e-3, "alpha": 8}}, r"unknown key\(s\) \['alpha'\]; valid keys: method, lr"),
    ({"extra": 1}, r"unknown key\(s\) \['extra'\]; valid keys: description, baseline, settings, sizes"),
    ({"settings": {"a": {"method": "prefix"}}}, "method='prefix' is not valid; valid choices: lora, full, head"),
    ({"settings": {"a": {"method": "full", "r": 2}}}, r"LoRA key\(s\) \['r'\] with method='full'"),
    ({"settings": {"a": {"lr": 0}}}, "lr=0 must be a positive"),
    ({"sizes": {"epochs": 0}}, "epochs=0 must be a positive integer"),
    ({"sizes": {"steps": 3}}, r"unknown size\(s\) \['steps'\]; valid keys: n_train"),
    ({"baseline": {"r": 4}}, "the baseline needs an lr"),
    ({"settings": {}}, "at least one"),
])
def test_bad_settings_files_are_named(tmp_path, change, needle):
    with pytest.raises(ValueError, match=needle):
        experiments.settings(_write(tmp_path, {**GOOD, **change}))


def test_a_settings_file_of_ones_own(tmp_path):
    spec = experiments.settings(_write(tmp_path, {**GOOD, "sizes": {"epochs": 2}}))
    assert spec.name == "mine" and spec.resolve("a")["method"] == "lora" and spec.sizes == {"epochs": 2}


# -- runs ----------------------------------------------------------------------------------------------------------
def _old_lora_run(base, tok, train_set, seed, **lora):
    """lora.sweep.lora_run of ftcourse 0.1: seed, copy, get_peft_model, the classification loop."""
    from ftcourse import train

    env.seed_everything(seed)
    model = get_peft_model(copy.deepcopy(base), LoraConfig(task_type="SEQ_CLS", lora_dropout=0.0, **lora))
    batches = train.classification_batches(tok, train_set, batch_size=32, max_length=48, seed=seed)
    return train.train(model, batches, epochs=1, lr=3e-3, progress=False).losses


def test_same_seed_same_run_and_the_base_is_untouched(setup):
    base = setup[0]
    before = {n: p.clone() for n, p in base.state_dict().items()}
    a = _run(setup, seed=3, r=4)
    b = _run(setup, seed=3, r=4)
    c = _run(setup, seed=4, r=4)
    assert a.losses == b.losses and a.accuracy == b.accuracy
    assert a.losses != c.losses  # another seed shuffles differently
    assert all(torch.equal(before[n], p) for n, p in base.state_dict().items())
    assert a.losses == _old_lora_run(base, setup[1], setup[2], 3, r=4, lora_alpha=16, target_modules="all-linear",
                                     use_rslora=False, use_dora=False)


def test_what_a_run_records(setup):
    lora = _run(setup, name="qv", r=4, target_modules=["q_proj", "v_proj"])
    head = _run(setup, method="head")
    full = _run(setup, method="full", lr=1e-3)
    assert (lora.method, head.method, full.method) == ("lora", "head", "full")
    assert lora.name == "qv" and lora.settings == {"r": 4, "target_modules": ["q_proj", "v_proj"]}
    assert lora.trainable == adapter_parameters("tiny", 4, ["q_proj", "v_proj"]) + HEAD
    assert head.trainable == HEAD and full.trainable == setup[0].num_parameters()
    assert lora.checkpoint_bytes == 4 * lora.trainable and full.checkpoint_bytes == 4 * full.trainable
    assert lora.peak_memory_source == full.peak_memory_source == "estimate"
    assert 0 < lora.peak_memory < full.peak_memory
    assert head.peak_memory is None and head.peak_memory_source is None  # the estimator has no head-only model
    assert len(lora.losses) == 2 and 0 <= lora.accuracy <= 1 and lora.seconds >= 0
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['rank'\]; valid keys: method, lr"):
        _run(setup, rank=4)
    with pytest.raises(ValueError, match="has no lr"):
        run_one(*setup, r=4)


def _safetensors_data_bytes(path) -> int:
    raw = path.read_bytes()
    (header,) = struct.unpack("<Q", raw[:8])
    return len(raw) - 8 - header


@pytest.mark.parametrize("method", ["lora", "full"])
def test_checkpoint_bytes_are_what_save_pretrained_writes(setup, tmp_path, method):
    model = experiments.prepare(setup[0], baseline=LESSON08.baseline, method=method)
    model.save_pretrained(tmp_path)
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    assert experiments.checkpoint_bytes(model) == _safetensors_data_bytes(tmp_path / name)


def test_record_takes_a_model_trained_by_hand(setup):
    from ftcourse import train

    base, tok, train_set, _ = setup
    model = experiments.prepare(base, baseline=LESSON08.baseline)
    history = train.train(model, train.classification_batches(tok, train_set, 32, 48, seed=0), epochs=1, lr=3e-3,
                          progress=False)
    run = experiments.record("LoRA", model, history, 0.75, method="lora", peak_memory=123,
                             peak_memory_source="measured")
    assert run.losses == history.losses and run.trainable == trainable_parameters(model).trainable
    assert run.checkpoint_bytes == experiments.checkpoint_bytes(model) and run.peak_memory == 123


def test_a_sweep_runs_every_setting_at_every_seed(setup):
    spec = LESSON08.select(["head only", "lr=1e-2"])
    runs = experiments.sweep(*setup, spec, seeds=(0, 1), progress=False)
    assert [(r.name, r.seed) for r in runs] == [("head only", 0), ("lr=1e-2", 0), ("head only", 1), ("lr=1e-2", 1)]
    with pytest.raises(ValueError, match="at least one setting and one seed"):
        experiments.sweep(*setup, spec, seeds=(), progress=False)


# -- summaries and the comparison table --------------------------------------------------------------------------
def _synthetic():
    runs = [RunResult("a", s, {}, [1.0, 0.5, float(s)], acc, 10, 1.0) for s, acc in enumerate([0.5, 0.7, 0.9])]
    runs.append(RunResult("b", 0, {}, [1.0], 0.6, 20, 2.0, method="lora", checkpoint_bytes=2048,
                          peak_memory=3 * 2**20, peak_memory_source="estimate"))
    return runs


def test_summary_statistics():
    a, b = summarize(_synthetic())
    assert (a.name, a.n, a.trainable) == ("a", 3, 10)
    assert a.accuracy_mean == pytest.approx(0.7) and a.accuracy_sd == pytest.approx(statistics.stdev([.5, .7, .9]))
    assert a.accuracy_se == pytest.approx(a.accuracy_sd / math.sqrt(3))
    assert a.final_loss_mean == pytest.approx(statistics.fmean([(1.5 + s) / 3 for s in range(3)]))
    assert b.n == 1 and math.isnan(b.accuracy_sd) and math.isnan(b.accuracy_se)
    assert a.peak_memory is None and b.peak_memory == 3 * 2**20 and b.peak_memory_source == "estimate"
    assert "a" in format_summary([a, b]).splitlines()[1]


def test_the_comparison_table_as_dicts_and_text():
    table = comparison_table(_synthetic())
    a, b = table.rows
    assert table.baseline == "a" and a["time_ratio"] == 1.0 and b["time_ratio"] == pytest.approx(2.0)
    assert (a["seeds"], a["trainable"], b["checkpoint_bytes"]) == (3, 10, 2048)
    assert a["accuracy_mean"] == pytest.approx(0.7) and math.isnan(b["accuracy_se"])
    assert all(isinstance(row, dict) for row in table.rows)
    text = str(table)
    assert text.splitlines()[0].startswith("method / setting") and "mean training seconds" in text
    row_b = next(line for line in text.splitlines() if line.startswith("b "))
    assert "2.0 KiB" in row_b and "3.0 MiB (est.)" in row_b and "2.00×" in row_b and "0.600, 1" in row_b


def test_the_table_takes_interleaved_timings():
    from ftcourse.bench.timing import Timing

    table = comparison_table(_synthetic(), baseline="b", timings={"a": Timing(1.0, 2.0, 0.5, 0.4, 0.6, 9)})
    a, b = table.rows
    assert (a["time_ratio"], a["time_low"], a["time_high"]) == (0.5, 0.4, 0.6) and b["time_ratio"] == 1.0
    assert "0.50× (0.40–0.60)" in table.text() and "interleaved repeats" in table.text()
    with pytest.raises(ValueError, match="valid choices: a, b"):
        comparison_table(_synthetic(), baseline="c")
    with pytest.raises(ValueError, match="unknown run"):
        comparison_table(_synthetic(), timings={"z": Timing(1, 1, 1, 1, 1, 1)})
    with pytest.raises(ValueError, match="at least one run"):
        comparison_table([])


# -- results files -----------------------------------------------------------------------------------------------
def test_reference_sweeps_are_complete_and_match_their_settings():
    for name in ("lesson08", "lab07"):
        spec = experiments.settings(name)
        meta, runs = experiments.reference_sweep(name)
        assert {r.name for r in runs} == set(spec.settings) and len(runs) == len(spec.settings) * len(meta["seeds"])
        assert meta["command"].startswith("ftcourse bench sweep") and len(meta["seeds"]) >= 5
        assert meta["date"] == meta["measured_on"] and meta["peft"] is None  # an older file, read in today's shape
        main = set(meta["parts"][0]["settings"])
        assert all(r.checkpoint_bytes is None and r.method is None for r in runs if r.name in main)
        for part in meta["parts"]:  # parts added later: same sizes and seeds, their own command
            assert all(part[k] == meta[k] for k in ("seeds", "n_train", "n_val", "epochs", "batch_size", "max_length"))
            assert part["command"].startswith("ftcourse bench sweep")
        assert all("--only" in part["command"] for part in meta["parts"][1:])  # an addition names its settings
        for summary in summarize(runs):
            assert summary.n == len(meta["seeds"])
    parts = {p["file"]: p["settings"] for p in experiments.reference_sweep("lesson08")[0]["parts"]}
    assert list(parts) == ["lesson08_h200.json", "lesson08_cpu.json"]
    assert set(parts["lesson08_cpu.json"]) == {"r=32 a=2.83 rsLoRA", "r=8 dropout 0.1", "r=8 attention"}
    assert experiments.reference_names() == ["lab07", "lesson08"]
    with pytest.raises(ValueError, match="lesson08"):
        experiments.reference_sweep("nope")


def test_the_reference_folder_is_the_benches():
    from ftcourse import bench

    assert experiments.REFERENCE == bench.REFERENCE and (bench.REFERENCE / "cuda_memory_h200.json").is_file()


def test_a_run_record_with_an_unknown_field_is_refused():
    record = _synthetic()[3].to_dict()
    assert RunResult.from_dict(record) == _synthetic()[3]
    with pytest.raises(ValueError, match="unknown field"):
        RunResult.from_dict({**record, "colour": "red"})


# -- the LoRA size rule (lora.cost), checked against peft here since the sweep tests began with it ------------------
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


# -- the course table on disk (experiments.course_table) ----------------------------------------------------------
def _timing(ratio):
    from ftcourse.bench.timing import Timing

    return Timing(2.0 * ratio, 2.0, ratio, 0.9 * ratio, 1.1 * ratio, 7)


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.course_table.RESULTS_ENV, str(tmp_path))
    return tmp_path


def _lesson_runs(prefix="", acc=0.8):
    full = [RunResult(f"{prefix}full", s, {}, [0.7], acc + 0.01 * s, 1000, 1.0, method="full",
                      checkpoint_bytes=4000, peak_memory=9 * 2**20, peak_memory_source="measured") for s in (0, 1)]
    lora = [RunResult(f"{prefix}LoRA", s, {}, [0.7], acc, 50, 1.0, method="lora", checkpoint_bytes=200,
                      peak_memory=7 * 2**20, peak_memory_source="measured") for s in (0, 1)]
    return full + lora


def test_the_course_table_persists_and_a_rerun_replaces_a_lessons_rows(results):
    table = experiments.course_table
    file = table.add("06", [RunResult("LoRA by hand", 0, {}, [0.5], 0.75, 50, 1.0, method="lora")],
                     timings={"LoRA by hand": _timing(1.3)}, mode="smoke")
    assert file == results / "course_table_smoke.json" and file.is_file()
    table.add(3, _lesson_runs(), timings={"LoRA": _timing(0.9)}, reference="full", mode="smoke")
    loaded = table.load(mode="smoke")  # read back from the file: nothing is kept in memory
    assert [(r["lesson"], r["name"]) for r in loaded.rows] == [("03", "full"), ("03", "LoRA"), ("06", "LoRA by hand")]
    full, lora, by_hand = loaded.rows
    assert full["time_ratio"] == 1.0 and (lora["time_ratio"], lora["time_low"]) == (0.9, pytest.approx(0.81))
    assert full["seeds"] == 2 and full["accuracy_mean"] == pytest.approx(0.805) and math.isnan(by_hand["accuracy_se"])
    text = loaded.text()
    assert text.splitlines()[0].startswith("lesson") and "0.90× (0.81–0.99)" in text and "full fine-tuning" in text
    assert "no rows yet from lesson 04" in text and "03 (" not in text.split("no rows yet")[1]
    table.add("03", _lesson_runs("new "), timings={"new LoRA": _timing(1.1)}, reference="new full", mode="smoke")
    again = table.load(mode="smoke")
    assert [r["name"] for r in again.rows] == ["new full", "new LoRA", "LoRA by hand"]
    assert table.load(mode="full").rows == []  # smoke and full rows never mix
    with pytest.raises(ValueError, match="unknown run"):
        table.add("03", _lesson_runs(), timings={"QLoRA": _timing(1.0)}, mode="smoke")
    with pytest.raises(ValueError, match="lesson='three' must be a lesson number"):
        table.add("three", _lesson_runs(), mode="smoke")


def test_a_missing_or_corrupt_course_table_loads_empty_and_says_why(results, capsys):
    table = experiments.course_table
    empty = table.load(mode="smoke")
    assert empty.rows == [] and "no rows in" in empty.text() and "no rows yet from lesson 03" in empty.text()
    file = table.path("smoke")
    file.write_text("{half a file", encoding="utf-8")
    broken = table.load(mode="smoke")
    assert broken.rows == [] and "could not read" in broken.text() and "JSONDecodeError" in broken.text()
    table.add("03", _lesson_runs(), reference="full", mode="smoke")
    assert "moved it to course_table_smoke.json.corrupt" in capsys.readouterr().out
    assert (results / "course_table_smoke.json.corrupt").read_text() == "{half a file"
    assert [r["name"] for r in table.load(mode="smoke").rows] == ["full", "LoRA"]
    data_ = json.loads(file.read_text())
    data_["lessons"]["06"] = {"rows": [{"name": "half a row"}]}
    file.write_text(json.dumps(data_))
    partly = table.load(mode="smoke")
    assert [r["lesson"] for r in partly.rows] == ["03", "03"] and "lesson 06's rows" in partly.text()


# -- the estimator beside every run (experiments.predict_memory) ---------------------------------------------------
MEMORY_SETTINGS = [{"method": "full"}, {"method": "lora", "r": 4, "target_modules": "all-linear"},
                   {"method": "lora", "r": 2, "target_modules": ["q_proj", "v_proj"]}, {"method": "head"}]


@pytest.mark.parametrize("setting", MEMORY_SETTINGS, ids=lambda s: s["method"] + str(s.get("r", "")))
def test_the_prediction_equals_the_measurement_where_it_claims_bytes(setup, setting):
    base, tok, train_set, _ = setup
    padded = experiments.measurement_batch(tok, train_set, 8, 16)
    unpadded = {"input_ids": torch.randint(3, base.config.vocab_size, (8, 16)), "labels": padded["labels"]}
    check = experiments.predict_memory(base, batch_size=8, seq_len=16, **setting)
    assert "not measured yet" in check.line() and check.measured is None
    model = experiments.prepare(base, **setting)
    check.measure(model, unpadded)
    assert all(check.exact_terms().values()), check.table()  # every term to the byte on an unpadded batch
    assert "Δ 0 B, exact" in check.line() and check.table().count("exact") >= 6
    assert all(p.grad is None for p in model.parameters())  # measured on a copy
    masked = experiments.predict_memory(base, batch_size=8, seq_len=16, **setting).measure(model, padded)
    exact = masked.exact_terms()
    assert all(exact[t] for t in experiments.memcheck.EXACT)
    if setting["method"] != "head":  # the mask changes what attention saves; a frozen body saves nothing
        assert not exact["activations"] and "attention mask" in masked.table() and "not exact" in masked.line()
    if setting["method"] == "head":
        assert "not in the estimator" in check.table()


def test_a_memory_check_takes_the_cuda_peak_and_refuses_a_wrong_shape(setup):
    base, tok, train_set, _ = setup
    check = experiments.predict_memory(base, batch_size=8, seq_len=16, method="full")
    cpu_run = RunResult("full", 0, {}, [1.0], 0.5, 1, 1.0, peak_memory=5, peak_memory_source="estimate")
    assert check.from_run(cpu_run).measured_peak is None
    cuda_run = RunResult("full", 0, {}, [1.0], 0.5, 1, 1.0, peak_memory=3 * 2**20, peak_memory_source="cuda")
    assert "measured 3.00 MiB (CUDA allocator" in check.from_run(cuda_run).line()
    with pytest.raises(ValueError, match="batch shape 8 × 48 differs from the predicted 8 × 16"):
        check.measure(base, experiments.measurement_batch(tok, train_set, 8, 48))
    with pytest.raises(ValueError, match="batch_size=0 must be a positive integer"):
        experiments.predict_memory(base, batch_size=0, seq_len=16, method="full")
    dora = experiments.predict_memory(base, batch_size=8, seq_len=16, method="lora", r=2, use_dora=True)
    assert "does not model use_dora" in dora.table()


def test_step_timing_times_a_setting_or_a_model_against_full_fine_tuning(setup):
    base, tok, train_set, _ = setup
    batch = experiments.measurement_batch(tok, train_set, 4, 8)
    before = {n: p.clone() for n, p in base.state_dict().items()}
    t = experiments.step_timing(base, batch, {"method": "lora", "r": 2}, budget_s=0.01)
    assert t.repeats >= 5 and t.first > 0 and t.second > 0 and t.low <= t.ratio <= t.high
    by_hand = experiments.prepare(base, method="head")
    t2 = experiments.step_timing(base, batch, by_hand, against={"method": "full"}, lr=1e-3, budget_s=0.01)
    assert t2.repeats >= 5 and all(p.grad is None for p in by_hand.parameters())
    assert all(torch.equal(before[n], p) for n, p in base.state_dict().items())
    with pytest.raises(ValueError, match="must be a setting"):
        experiments.step_timing(base, batch, "lora")
