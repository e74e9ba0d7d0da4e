"""lab02's checks, in process, on answers written as a learner would write the cells (the lab's locked cells run, no
solution): each plausible wrong answer loses points with the hint of the check's known-mistakes table; hidden parts
catch answers fitted to the visible inputs; every answer the checks hard-code equals the package's and transformers'
own numbers."""

from pathlib import Path

import pytest
import torch
from ftcourse.grading import Lab, checks
from ftcourse.memory import count_parameters, estimate_training_memory, suggest_hardware
from lab_fixtures import WrongAnswer, assert_wrong_answer, run_cells

ROOT = Path(__file__).resolve().parents[2]
lab02 = checks.module("lab02")

COUNT = """
def count_params(cfg):
    h, i, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    head_dim = {head_dim}
    q, kv = {q}, {kv}
    attention = {attention}
    mlp = {mlp}
    head = {head}
    return V * h + L * (attention + mlp + 2 * h) + h + head
"""
RIGHT = {"head_dim": 'h // cfg["num_attention_heads"]', "q": 'cfg["num_attention_heads"] * head_dim',
         "kv": 'cfg["num_key_value_heads"] * head_dim', "attention": "(h * q + q) + 2 * (h * kv + kv) + q * h",
         "mlp": "3 * h * i", "head": '0 if cfg["tie_word_embeddings"] else V * h'}


def count_params(**wrong) -> str:
    """count_params as the solution writes it, with some of its expressions replaced."""
    return COUNT.format(**{**RIGHT, **wrong})


OPTIMIZER = """
def optimizer_bytes(cfg, optimizer):
    counts = count_parameters(cfg)
    P, T = counts.total, counts.tensors
    if optimizer == "adamw":
        return {adamw}
    if optimizer == "adamw_8bit":
        return {adamw_8bit}
    return {sgd}
"""


def optimizer_bytes(**wrong) -> str:
    return OPTIMIZER.format(**{"adamw": "8 * P + 4 * T", "adamw_8bit": "2 * P + 8 * P / 256", "sgd": "0", **wrong})


def plan(full_gpu: str = "A100 80 GB", **plan) -> str:
    return f"full_gpu = {full_gpu!r}\nplan = {plan!r}"


T4_PLAN = {"method": "lora", "precision": "fp16", "batch_size": 4, "seq_len": 1024, "activation_checkpointing": True}

WRONG = [
    # q1: parameters by hand
    WrongAnswer("biases forgotten", "q1", count_params(attention="h * q + 2 * h * kv + q * h"),
                "you forgot the q/k/v biases"),
    WrongAnswer("a tied head counted twice", "q1", count_params(head="V * h"),
                "this config ties the head to the embedding"),
    WrongAnswer("q_proj as hidden × hidden", "q1", count_params(q="h"), "q_proj and o_proj are hidden × (heads · "
                                                                         "head_dim)"),
    WrongAnswer("head_dim with /", "q1", count_params(head_dim='h / cfg["num_attention_heads"]'),
                "head_dim = hidden_size // num_attention_heads = 33 (integer division)"),
    WrongAnswer("no grouped-query attention", "q1", count_params(kv="h"),
                "keys and values have num_key_value_heads heads"),
    WrongAnswer("two MLP matrices", "q1", count_params(mlp="2 * h * i"), "the MLP has three matrices"),
    # q2: optimizer states
    WrongAnswer("no step counters", "q2", optimizer_bytes(adamw="8 * P"), "you left out the step counters"),
    WrongAnswer("GiB", "q2", optimizer_bytes(adamw="(8 * P + 4 * T) / 2**30"), "give the answer in bytes"),
    WrongAnswer("m and v in bf16", "q2", optimizer_bytes(adamw="4 * P + 4 * T"), "that is m and v in bf16"),
    WrongAnswer("8-bit without scales", "q2", optimizer_bytes(adamw_8bit="2 * P"), "you left out the scales"),
    WrongAnswer("8-bit blocks of 64", "q2", optimizer_bytes(adamw_8bit="2 * P + 8 * P / 64"),
                "bitsandbytes' optimizer blocks hold 256 values"),
    WrongAnswer("SGD with momentum", "q2", optimizer_bytes(sgd="4 * P"), "that is SGD with momentum"),
    WrongAnswer("SmolLM2's numbers hard-coded", "q2", optimizer_bytes(adamw="8 * 134515008 + 4 * 272",
                                                                      adamw_8bit="2.03125 * 134515008"),
                "(hidden test 'Qwen2.5-0.5B, all three optimizers')"),
    # q3: activations
    WrongAnswer("quadratic in the sequence", "q3", """
        def predict_activations(batch_size, seq_len):
            small = measure_step(2, 128).activations
            return small * (batch_size / 2) * (seq_len / 128) ** 2
        """, "grows with sequence² × batch"),
    WrongAnswer("2 bytes per parameter", "q3", """
        def predict_activations(batch_size, seq_len):
            return 2 * model.num_parameters()
        """, "the '2 bytes per parameter' idea"),
    WrongAnswer("the whole step, not the activations", "q3", """
        small, big = measure_step(2, 128), measure_step(4, 128)
        per_token = (big.activations - small.activations) / 256


        def predict_activations(batch_size, seq_len):
            return small.total + per_token * (batch_size * seq_len - 256)
        """, "that includes weights, gradients and optimizer states"),
    WrongAnswer("the sequence only", "q3", """
        def predict_activations(batch_size, seq_len):
            return measure_step(1, 256).activations * seq_len / 256
        """, "your prediction grows with the sequence length only"),
    # q4: which GPU, and a plan for a T4
    WrongAnswer("a bigger GPU than needed", "q4", plan("H100 80 GB", **T4_PLAN), "not the smallest"),
    WrongAnswer("the 20 bytes per parameter rule", "q4", plan("A100 40 GB", **T4_PLAN), "the 20 B/param rule"),
    WrongAnswer("bf16 on a T4", "q4", plan(**{**T4_PLAN, "precision": "bf16"}), "a T4 has no bf16"),
    WrongAnswer("full fine-tuning on a T4", "q4", plan(**{**T4_PLAN, "method": "full"}),
                "full fine-tuning of 1.5 B parameters"),
    WrongAnswer("LoRA without checkpointing", "q4", plan(**{**T4_PLAN, "activation_checkpointing": False}),
                "turn on activation_checkpointing=True"),
]


@pytest.fixture(scope="module")
def locked():
    """The lab's locked cells (setup, imports, q1's config): what a learner's cells can use."""
    return run_cells(ROOT / "solutions" / "lab02_estimate.ipynb", only=("setup", "imports", "q1-config"))


def run(qid: str, **answers):
    return Lab("lab02", namespace=dict(answers)).run(qid)


def test_six_wrong_answers_or_more_per_lab_and_each_question():
    assert len(WRONG) >= 6 and {w.qid for w in WRONG} == set(checks.load("lab02"))


@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_a_wrong_answer_loses_points_with_its_hint(locked, wrong):
    assert_wrong_answer("lab02", locked, wrong)


def test_the_right_answers_pass(locked):
    ns = {**locked, "predict_activations": lambda b, s: lab02._activations(b, s)}
    for source in (count_params(), optimizer_bytes(), plan(**T4_PLAN)):
        exec(source, ns)
    assert [Lab("lab02", namespace=ns).run(q).points for q in ("q1", "q2", "q3", "q4")] == [3, 3, 3, 3]


def test_a_count_off_by_whole_layers_and_two_mistakes_at_once():
    cfg = lab02.QWEN_STYLE
    h, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    right = lab02.QWEN_STYLE_COUNT
    one_layer = (right - 2 * cfg["vocab_size"] * h - h) // L
    result = run("q1", count_params=lambda c: right - one_layer if c == cfg else count_parameters(c).total)
    assert "you are -1 layer(s) off" in result.message
    biases = L * (h + 2 * 2 * h // 16)
    both = run("q1", count_params=lambda c: right - biases - h if c == cfg else count_parameters(c).total)
    assert "two mistakes: (1) you forgot the q/k/v biases" in both.message and "the final norm" in both.message


def test_the_hidden_configs_catch_a_count_fitted_to_the_visible_ones():
    visible = {repr(lab02.QWEN_STYLE): lab02.QWEN_STYLE_COUNT, **{repr(c): n for c, n in lab02.OTHER_CONFIGS}}
    result = run("q1", count_params=lambda c: visible.get(repr(c), 0))
    assert (result.points, [p.hidden for p in result.parts]) == (2, [False, False, True])
    assert "(hidden test 'Qwen2.5-1.5B, and an untied config without grouped-query attention')" in result.message


def test_the_hidden_shape_catches_a_fitted_prediction():
    fitted = {shape: lab02.ACTIVATIONS[shape] for shape in lab02.Q3_SHAPES}
    result = run("q3", predict_activations=lambda b, s: fitted.get((b, s), 0.0))
    assert (result.points, result.status) == (2, "fail")
    assert [p.hidden for p in result.parts] == [False, False, True] and result.parts[2].earned == 0
    assert f"predict_activations({lab02.Q3_HIDDEN[0]}, {lab02.Q3_HIDDEN[1]})" in result.message


def test_a_missing_plan_costs_only_its_part():
    result = run("q4", full_gpu="A100 80 GB")
    assert result.parts[0].earned == 1 and "`plan` is not defined" in result.message
    assert "is not a GPU of the table" in run("q4", full_gpu="RTX 4090").message


# -- the hard-coded answers ------------------------------------------------------------------------------------
def transformers_count(cfg: dict) -> int:
    """num_parameters() of the Qwen2 model transformers builds from `cfg`, on the meta device (no memory)."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(Qwen2Config(**{k: v for k, v in cfg.items() if k != "model_type"}))
    return model.num_parameters()


@pytest.mark.parametrize("cfg, want", [(lab02.QWEN_STYLE, lab02.QWEN_STYLE_COUNT), *lab02.OTHER_CONFIGS,
                                       *lab02.HIDDEN_CONFIGS])
def test_the_written_out_counts_are_transformers_own(cfg, want):
    assert count_parameters(cfg).total == want == transformers_count(cfg)


def test_the_configs_do_not_hide_the_usual_bugs():
    configs = [lab02.QWEN_STYLE, *(c for c, _ in lab02.OTHER_CONFIGS + lab02.HIDDEN_CONFIGS)]
    assert any(c["hidden_size"] % c["num_attention_heads"] for c, _ in lab02.OTHER_CONFIGS), "a visible one"
    assert any(c["hidden_size"] % c["num_attention_heads"] for c, _ in lab02.HIDDEN_CONFIGS), "a hidden one"
    assert {c["tie_word_embeddings"] for c in configs} == {True, False}
    assert any(c["num_key_value_heads"] == c["num_attention_heads"] for c in configs)
    assert any(c["num_key_value_heads"] < c["num_attention_heads"] for c in configs)


def test_the_written_out_bytes_and_gpu_are_the_estimators():
    for (model, optimizer), want in lab02.OPTIMIZER_BYTES.items():
        est = estimate_training_memory(model, method="full", precision="fp32", optimizer=optimizer, seq_len=8)
        assert est.optimizer_states == want, (model, optimizer)
    assert count_parameters(lab02.SMOL).tensors != count_parameters(lab02.OTHER_MODEL).tensors
    for shape, want in lab02.ACTIVATIONS.items():
        assert lab02._activations(*shape) == want, shape
    full = estimate_training_memory(lab02.Q4_MODEL, method="full", precision="mixed", batch_size=lab02.Q4_BATCH,
                                    seq_len=lab02.Q4_SEQ)
    assert suggest_hardware(full).gpu.name == lab02.FULL_GPU
