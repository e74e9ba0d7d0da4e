"""lab07's checks, in process, on cells written as a learner would write them (the lab's locked cells run, no
training): each plausible wrong answer loses points with the hint of the check's known-mistakes table. q2, which
needs a trained model, is tested with its accuracy pinned in test_lab07_hints.py; what its hints say about
lora_alpha × lr is read from the reference sweep, tested here."""

from pathlib import Path
from textwrap import dedent

import pytest
from ftcourse import experiments
from ftcourse.grading import checks
from lab_fixtures import WrongAnswer, assert_wrong_answer, run_cells, with_cell

ROOT = Path(__file__).resolve().parents[2]
lab07 = checks.module("lab07")

# stands in for q1 and q2: the solution's config, and an adapter whose B is no longer zero (as after training), so
# that an untrained adapter gives other logits
TRAINED = """
lora_config = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules="all-linear")
with quiet():
    peft_model = get_peft_model(fresh_classifier(), lora_config)
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.normal_(0.0, 0.05, generator=generator)
"""
SAVED = TRAINED + """
adapter_dir = WORK / "sentiment-adapter"
peft_model.save_pretrained(adapter_dir)
"""

WRONG = [
    # q1: a config within the budget
    WrongAnswer("no task type: the new head frozen", "q1", """
        lora_config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
        """, "say task_type='SEQ_CLS'"),
    WrongAnswer("a LoRA on the head instead of training it", "q1", """
        lora_config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "score"])
        """, "it only got a LoRA adapter"),
    WrongAnswer("too large a rank", "q1", """
        lora_config = LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, target_modules="all-linear")
        """, "the count grows in proportion to r"),
    WrongAnswer("far under the budget", "q1", """
        lora_config = LoraConfig(task_type="SEQ_CLS", r=1, lora_alpha=2, target_modules=["q_proj"])
        """, "raise r or adapt more module types"),
    WrongAnswer("module names of another architecture", "q1", """
        lora_config = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "fc1"])
        """, "match no layer of this model"),
    # q3: the adapter saved
    WrongAnswer("the merged model saved", "q3", TRAINED + dedent("""
        adapter_dir = WORK / "sentiment-adapter"
        peft_model.merge_and_unload().save_pretrained(adapter_dir)
        """), "save only the adapter"),
    WrongAnswer("a pickle", "q3", TRAINED + dedent("""
        adapter_dir = WORK / "sentiment-adapter"
        peft_model.save_pretrained(adapter_dir, safe_serialization=False)
        """), "keep the default safe_serialization=True"),
    WrongAnswer("saved in 16 bits to save space", "q3", TRAINED + dedent("""
        adapter_dir = WORK / "sentiment-adapter"
        peft_model.to(torch.bfloat16).save_pretrained(adapter_dir)
        """), "the tensors are 16-bit"),
    WrongAnswer("a file, not the folder", "q3", SAVED + dedent("""
        adapter_dir = adapter_dir / "adapter_model.safetensors"
        """), "is not a folder"),
    # q4: reloaded
    WrongAnswer("a new adapter from the config", "q4", SAVED + dedent("""
        with quiet():
            reloaded = get_peft_model(fresh_classifier(), lora_config)
        """), "every lora_B of `reloaded` is zero"),
    WrongAnswer("the trained model itself", "q4", SAVED + dedent("""
        reloaded = peft_model
        """), "`reloaded` is `peft_model` itself"),
    WrongAnswer("the base model, not the adapter", "q4", SAVED + dedent("""
        reloaded = fresh_classifier()
        """), "reloaded = PeftModel.from_pretrained(fresh_classifier(), adapter_dir)"),
]


@pytest.fixture(scope="module")
def locked():
    """The lab's locked cells (setup and imports: the classifier, tokenizer, data, WORK): no training."""
    return run_cells(ROOT / "solutions" / "lab07_lora_budget.ipynb", only=("setup", "imports"))


def test_six_wrong_answers_or_more_per_lab():
    assert len(WRONG) >= 6 and {w.qid for w in WRONG} == set(checks.load("lab07")) - {"q2"}


@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_a_wrong_answer_loses_points_with_its_hint(locked, wrong, tmp_path):
    assert_wrong_answer("lab07", locked, wrong, WORK=tmp_path)


def test_the_right_answers_pass(locked, tmp_path):
    from ftcourse.grading import Lab

    ns = with_cell(locked, SAVED + "with quiet():\n    reloaded = PeftModel.from_pretrained(fresh_classifier(), "
                                   "adapter_dir)\n", WORK=tmp_path)
    assert [Lab("lab07", namespace=ns).run(q).points for q in ("q1", "q3", "q4")] == [3, 2, 2]


def test_what_the_hints_say_about_alpha_times_lr_is_the_sweeps():
    """The sweep's settings, read directly: the largest lora_alpha × lr at which every seed reached 60 % and the
    smallest at which none did are the numbers the hints (and the lab's prose) give."""
    baseline = experiments.settings("lab07").baseline
    _, runs = experiments.reference_sweep("lab07")
    by = {}
    for run in runs:
        setting = {**baseline, **run.settings}
        by.setdefault(round(setting["lora_alpha"] * setting["lr"], 6), []).append(run.accuracy)
    ok, bad = lab07.step_size_bounds()
    assert min(by[round(ok, 6)]) >= lab07.MIN_ACCURACY and max(by[round(bad, 6)]) < lab07.MIN_ACCURACY
    assert all(min(a) >= lab07.MIN_ACCURACY for s, a in by.items() if s <= ok)
    assert all(max(a) < lab07.MIN_ACCURACY for s, a in by.items() if s >= bad)
    assert not [s for s in by if ok < s < bad], "no setting lies between the two"
    says = lab07._sweep_says()
    assert f"up to {ok:.2g}" in says and f"from {bad:.2g} on" in says and f"{len(runs) // len(by)} seeds" in says
