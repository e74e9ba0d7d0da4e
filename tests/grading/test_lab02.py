"""lab02's checks, in process, on hand-written answers (no measurement runs): known mistakes get their hint, and
q3's hidden shape catches a prediction fitted to the two visible ones."""

import pytest
from ftcourse.grading import Lab, checks
from ftcourse.memory import count_parameters

lab02 = checks.module("lab02")


def run(qid: str, **answers):
    return Lab("lab02", namespace=dict(answers)).run(qid)


def right_count(cfg):
    return count_parameters(cfg).total


def test_forgotten_biases_and_two_mistakes_at_once():
    cfg = lab02.QWEN_STYLE
    h, L, heads, kv_heads = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], 2
    biases = L * (h + 2 * kv_heads * h // heads)
    result = run("q1", count_params=lambda c: right_count(c) - (biases if c is not None and c == cfg else 0))
    assert result.points == 1 and "you forgot the q/k/v biases" in result.message
    both = run("q1", count_params=lambda c: right_count(c) - biases - h if c == cfg else right_count(c))
    assert "two mistakes: (1) you forgot the q/k/v biases" in both.message and "the final norm" in both.message


def test_a_count_off_by_whole_layers():
    cfg = lab02.QWEN_STYLE
    one_layer = (right_count(cfg) - 2 * cfg["vocab_size"] * cfg["hidden_size"] - cfg["hidden_size"]) // 16
    result = run("q1", count_params=lambda c: right_count(c) - one_layer if c == cfg else right_count(c))
    assert "you are -1 layer(s) off" in result.message


@pytest.mark.parametrize(("answers", "hint"), [
    ({"adamw_bytes": 8 * 134515008}, "you left out the step counters"),
    ({"adamw_bytes": round((8 * 134515008 + 4 * 272) / 1e6)}, "give the answer in bytes"),
    ({"adamw_8bit_bytes": 2.03125 * 134515008 / 2**30}, "give the answer in bytes"),
    ({"adamw_8bit_bytes": 2 * 134515008}, "you left out the scales"),
    ({"sgd_bytes": 4 * 134515008}, "that is SGD with momentum"),
    ({"sgd_bytes": 8 * 134515008 + 4 * 272}, "that is AdamW; plain SGD"),
])
def test_optimizer_state_mistakes(answers, hint):
    result = run("q2", **answers)
    assert hint in result.message and result.points == 0


def test_the_hidden_shape_catches_a_fitted_prediction():
    fitted = {shape: lab02._activations(*shape) for shape in lab02.Q3_SHAPES}
    result = run("q3", predict_activations=lambda b, s: fitted.get((b, s), 0.0))
    assert (result.points, result.status) == (2, "fail")
    assert [p.hidden for p in result.parts] == [False, False, True] and result.parts[2].earned == 0
    assert f"predict_activations({lab02.Q3_HIDDEN[0]}, {lab02.Q3_HIDDEN[1]})" in result.message
    right = run("q3", predict_activations=lambda b, s: lab02._activations(b, s))
    assert right.points == 3


def test_a_quadratic_prediction_is_named():
    result = run("q3", predict_activations=lambda b, s: 1e3 * b * s * s)
    assert "grows with sequence² × batch" in result.message


def test_gpu_mistakes():
    assert "H100 80 GB holds it too, but it is not the smallest: A100 80 GB" in run("q4", full_gpu="H100 80 GB").message
    assert "'A100 40 GB' is what the 20 B/param rule gives" in run("q4", full_gpu="A100 40 GB").message
    assert "is not a GPU of the table" in run("q4", full_gpu="RTX 4090").message
    result = run("q4", full_gpu="A100 80 GB")
    assert result.parts[0].earned == 1 and "`plan` is not defined" in result.message, "a missing plan costs its part"
