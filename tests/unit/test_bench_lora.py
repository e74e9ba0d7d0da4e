"""`ftcourse bench lora` runs end to end on toy sizes, prints its table and writes JSON (timings never asserted)."""

import json

import pytest
import torch
from ftcourse.bench.lora import _verdict, main
from ftcourse.numerics import assert_equal

pytestmark = pytest.mark.numeric  # bitwise claims: the same operations in the same order


def test_bench_prints_a_table_of_ratios_and_writes_json(capsys, tmp_path):
    out = tmp_path / "lora.json"
    assert main(["--shapes", "32,48", "--ranks", "2,4", "--tokens", "1x8", "--repeats", "1", "--device", "cpu",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "forward+backward of one layer" in text and "48×48" in text
    assert "merged (merge_lora)" in text and "base itself (noise floor)" in text
    assert "the goal hand-written ≤ 1.00× peft" in text and "≤ 1.02× base" in text
    data = json.loads(out.read_text())
    assert [(row["d"], row["r"]) for row in data["layers"]] == [(32, 2), (32, 4), (48, 2), (48, 4)]
    assert {"merged", "unmerged", "control", "max_abs_diff"} <= set(data["merged"])
    assert data["meta"]["command"] == ("ftcourse bench lora --shapes 32,48 --ranks 2,4 --tokens 1x8 --repeats 1 "
                                       f"--device cpu --json {out}")
    assert data["meta"]["dtype"] == "float32" and data["meta"]["device"].startswith("CPU")


def test_the_layers_compute_the_same_thing():
    from ftcourse.bench.lora import _layers

    ours, theirs = _layers(24, 4, torch.device("cpu"), torch.float32)
    x = torch.randn(2, 3, 24)
    assert_equal(ours(x), theirs(x), "bench layers")  # peft's operations in peft's order
    assert ours.lora_B.weight.abs().sum() > 0  # B is randomised, so the adapter path is timed too


def test_verdicts():
    assert _verdict(0.99, 0.95, 1.0) == "meets"
    assert _verdict(1.01, 0.97, 1.0) == "is within noise of"
    assert _verdict(1.10, 1.05, 1.0) == "misses"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_asked_for_without_a_gpu_is_explained(capsys):
    assert main(["--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--ranks", "0"], ["--tokens", "4by512"], ["--repeats", "0"], ["--budget", "0"],
                                  ["--threads", "0"], ["--device", "tpu"]])
def test_bad_arguments_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "error" in capsys.readouterr().err
