"""`ftcourse bench sweep` runs a settings file over seeds and writes what experiments.load_results reads."""

import pytest
from ftcourse import experiments
from ftcourse.bench.sweep import main


def test_the_bench_command_writes_what_load_results_reads(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["--only", "head only", "r=8 a=16", "--seeds", "0", "1", "--n-train", "32", "--n-val", "16",
                 "--device", "cpu", "--json", str(out)]) == 0
    meta, runs = experiments.load_results(out)
    assert [(r.name, r.seed) for r in runs] == [("head only", 0), ("r=8 a=16", 0), ("head only", 1), ("r=8 a=16", 1)]
    assert meta["n_train"] == 32 and meta["command"].startswith("ftcourse bench sweep --only 'head only'")
    assert meta["sweep"] == "lesson08" and meta["epochs"] == 1 and meta["batch_size"] == 32
    assert meta["dtype"] == "float32" and meta["torch"] and meta["peft"] and meta["date"]
    assert runs[1].method == "lora" and runs[1].checkpoint_bytes == 4 * runs[1].trainable
    assert runs[1].peak_memory_source == "estimate"
    assert "head only" in capsys.readouterr().out


def test_the_bench_command_names_an_unknown_setting(capsys):
    with pytest.raises(SystemExit):
        main(["--only", "r=9"])
    assert "unknown setting(s) ['r=9']" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--workers", "0"], ["--sweep", "lab08"], ["--seeds", "-1"]])
def test_bad_arguments_are_rejected(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
