"""`ftcourse bench memory` measures one tiny row exactly on CPU and writes it with the meta block."""

import json

from ftcourse.bench import REFERENCE
from ftcourse.bench.memory import METHOD_ROWS, main


def test_one_row_is_exact_and_its_json_has_the_meta_block(capsys, tmp_path):
    out = tmp_path / "memory.json"
    assert main(["--models", "tiny", "--methods", "lora-qv", "--precisions", "fp32", "--shapes", "1x16",
                 "--checkpointing", "on", "--device", "cpu", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "worst |error| 0.00 %" in text and "rows missing the goal or not exact: 0" in text
    line = next(line for line in text.splitlines() if line.startswith("tiny"))
    assert "lora-qv" in line and "+0 " in line and "yes" in line  # zero bytes apart, components exact
    data = json.loads(out.read_text())
    assert [(r["model"], r["method"], r["batch"], r["seq"], r["checkpointing"]) for r in data["rows"]] == \
        [("tiny", "lora-qv", 1, 16, True)]
    row = data["rows"][0]
    assert all(row["estimate"][k] == row["measured"][k] for k in ("weights", "gradients", "optimizer_states"))
    meta = data["meta"]
    assert meta["command"].startswith("ftcourse bench memory --models tiny") and meta["dtype"] == "fp32"
    assert meta["step"] == "steady" and meta["rank"] == 16


def test_the_reference_rows_have_the_shape_the_bench_writes():
    data = json.loads((REFERENCE / "cuda_memory_h200.json").read_text())
    assert {"meta", "rows"} <= set(data) and len(data["rows"]) == 94
    assert {r["method"] for r in data["rows"]} <= set(METHOD_ROWS)
