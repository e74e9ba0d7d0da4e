"""`ftcourse bench lora` runs end to end on toy sizes and prints its table (timings are never asserted)."""

import pytest
import torch
from ftcourse.lora.bench import Timing, _verdict, bench_main, compare


def test_bench_prints_a_table_of_ratios(capsys):
    assert bench_main(["--shapes", "32,48", "--ranks", "2,4", "--tokens", "1x8", "--repeats", "1",
                       "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "forward+backward of one layer" in out and "48×48" in out
    assert "merged (merge_lora)" in out and "base itself (noise floor)" in out
    assert "the goal hand-written ≤ 1.00× peft" in out and "≤ 1.02× base" in out


def test_compare_interleaves_and_reports_the_median_ratio():
    calls = []
    t = compare(lambda: calls.append("a"), lambda: calls.append("b"), torch.device("cpu"), repeats=4, warmup=1)
    assert isinstance(t, Timing) and t.repeats == 4 and t.ratio > 0
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then alternating order


def test_verdicts():
    assert _verdict(0.99, 0.95, 1.0) == "meets"
    assert _verdict(1.01, 0.97, 1.0) == "is within noise of"
    assert _verdict(1.10, 1.05, 1.0) == "misses"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_asked_for_without_a_gpu_is_explained(capsys):
    assert bench_main(["--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_bad_arguments_are_rejected():
    with pytest.raises(SystemExit):
        bench_main(["--ranks", "0"])
    with pytest.raises(SystemExit):
        bench_main(["--tokens", "4by512"])
