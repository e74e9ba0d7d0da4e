"""What every bench shares: the registry behind `ftcourse bench NAME`, the timing helper, the JSON meta block."""

import json
import math

import pytest
import torch
from ftcourse import bench, cli
from ftcourse.bench import report
from ftcourse.bench.timing import Timing, compare


@pytest.mark.parametrize("name", sorted(bench.BENCHES))
def test_every_bench_has_help_through_the_cli(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ftcourse bench {name}") and "--json" in out


def test_the_registry_and_the_modules_agree():
    assert set(bench.BENCHES) == set(bench.SUMMARIES) == {"lora", "memory", "sweep"}
    for name in bench.BENCHES:
        module = bench.load(name)
        assert callable(module.main) and module.build_parser().prog == f"ftcourse bench {name}"
    with pytest.raises(ValueError, match="valid choices: lora, memory, sweep"):
        bench.load("speed")


def test_bench_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in bench.BENCHES)


def test_other_commands_still_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["mode", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_compare_interleaves_and_reports_the_median_ratio():
    calls = []
    t = compare(lambda: calls.append("a"), lambda: calls.append("b"), torch.device("cpu"), repeats=4, warmup=1)
    assert isinstance(t, Timing) and t.repeats == 4 and t.ratio > 0 and t.low <= t.ratio <= t.high
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then alternating order
    line = t.line("ours", "theirs")
    assert line.startswith("ours / theirs: ") and "p25–p75" in line and "4 interleaved repeats" in line


def test_compare_sizes_its_repeats_from_the_budget():
    t = compare(lambda: None, lambda: None, budget_s=1.0, min_repeats=3, max_repeats=6)
    assert 3 <= t.repeats <= 6


@pytest.mark.parametrize("kwargs,needle", [({"repeats": 0}, "repeats=0"), ({"budget_s": -1}, "budget_s=-1"),
                                           ({"warmup": -1}, "warmup=-1"), ({"min_repeats": 1.5}, "min_repeats=1.5")])
def test_compare_rejects_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        compare(lambda: None, lambda: None, **kwargs)


def test_the_meta_block(tmp_path):
    block = report.meta("ftcourse bench lora", ["--only", "head only"], device=torch.device("cpu"),
                        dtype=torch.bfloat16, batch=4)
    assert block["command"] == "ftcourse bench lora --only 'head only'"
    assert block["dtype"] == "bfloat16" and block["device"].startswith("CPU, ") and block["batch"] == 4
    assert block["torch"] == torch.__version__ and set(report.LIBRARIES) <= set(block)
    assert len(block["date"]) == 10 and block["date"][4] == "-"
    path = report.write_json(tmp_path / "x.json", block, rows=[{"a": 1, "b": math.pi}])
    data = json.loads(path.read_text())
    assert data == {"meta": block, "rows": [{"a": 1, "b": math.pi}]}
    with pytest.raises(ValueError, match="command"):
        report.meta("ftcourse bench lora", [], device="cpu", dtype="float32", command="mine")
    with pytest.raises(ValueError, match="meta"):
        report.write_json(tmp_path / "y.json", block, meta={})


def test_device_and_dtype_come_from_env():
    from ftcourse import env

    assert report.resolve_device("auto").type == env.device()
    assert report.resolve_device("cpu") == torch.device("cpu")
    assert report.compute_dtype(torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="valid choices: auto, cpu, cuda"):
        report.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(report.NoDevice, match="no CUDA GPU"):
            report.resolve_device("cuda")
