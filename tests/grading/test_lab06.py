"""lab06's checks, in process, on the solution with one cell rewritten as a learner would write it: each plausible
wrong answer loses points with the hint of the check's known-mistakes table, the hidden parts catch answers fitted
to the visible layer, the learner's functions are called positionally with peft's names, and the numbers the checks
hard-code (the exact layer, the injection counts) equal the package's."""

import inspect
from pathlib import Path

import pytest
import torch
from ftcourse.grading import Lab, checks
from ftcourse.grading.lab import feedback
from ftcourse.lora import LoRALinear, inject_lora, trainable_parameters
from lab_fixtures import WrongAnswer, assert_wrong_answer, run_cells

ROOT = Path(__file__).resolve().parents[2]
lab06 = checks.module("lab06")

LAYER = '''
class LoRALayer(nn.Module):
    def __init__(self, base, r, lora_alpha, lora_dropout=0.0):
        super().__init__()
        {freeze}
        self.base_layer = base
        self.r, self.lora_alpha = r, lora_alpha
        self.lora_A = nn.Linear({a_shape}, bias=False)
        self.lora_B = nn.Linear({b_shape}, bias=False)
        {init_a}
        {init_b}
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.scaling = {scaling}

    def forward(self, x):
        return lora_forward(self, x)
'''
RIGHT = {"freeze": "base.requires_grad_(False)", "a_shape": "base.in_features, r", "b_shape": "r, base.out_features",
         "init_a": "nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))",
         "init_b": "nn.init.zeros_(self.lora_B.weight)", "scaling": "lora_alpha / r"}


def layer(**wrong) -> str:
    """q1's class as the solution writes it, with some of its lines replaced."""
    return LAYER.format(**{**RIGHT, **wrong})


def forward(expression: str) -> str:
    return f"def lora_forward(layer, x):\n    return {expression}\n"


MERGE = '''
def merge(layer):
    base = layer.base_layer
    merged = nn.Linear(base.in_features, base.out_features{bias})
    with torch.no_grad():
        merged.weight.copy_({weight})
        {copy_bias}
    return merged
'''


def merge(weight: str = "base.weight + delta_weight(layer)", bias: str = ", bias=base.bias is not None",
          copy_bias: str = "merged.bias.copy_(base.bias) if base.bias is not None else None") -> str:
    return MERGE.format(weight=weight, bias=bias, copy_bias=copy_bias)


COUNTS = '''
layer0 = model.model.layers[0]
mods = (layer0.self_attn.q_proj, layer0.self_attn.v_proj, layer0.mlp.down_proj)
n_trainable = {trainable}
n_total = {total}
'''


def counts(trainable: str = "model.config.num_hidden_layers * sum(Q4_R * (m.in_features + m.out_features) "
                            "for m in mods)",
           total: str = "model.num_parameters() + n_trainable") -> str:
    return COUNTS.format(trainable=trainable, total=total)


BRANCH = "layer.lora_B(layer.lora_A(layer.lora_dropout(x)))"
WRONG = [
    # q1: the layer's parameters
    WrongAnswer("A and B swapped", "q1", layer(a_shape="r, base.out_features", b_shape="base.in_features, r"),
                "A and B are swapped"),
    WrongAnswer("the scaling inverted", "q1", layer(scaling="r / lora_alpha"), "the scaling is inverted"),
    WrongAnswer("integer division", "q1", layer(scaling="lora_alpha // r"), "integer division: lora_alpha // r"),
    WrongAnswer("rsLoRA's scaling", "q1", layer(scaling="lora_alpha / math.sqrt(r)"), "that is rsLoRA's"),
    WrongAnswer("A zero, B random", "q1", layer(init_a="nn.init.zeros_(self.lora_A.weight)",
                                                init_b="nn.init.kaiming_uniform_(self.lora_B.weight, a=math.sqrt(5))"),
                "Either zero would do the job"),
    WrongAnswer("kaiming with a = 0", "q1", layer(init_a="nn.init.kaiming_uniform_(self.lora_A.weight)"),
                "√6 times wider"),
    WrongAnswer("the bias frozen by name", "q1",
                layer(freeze="base.weight.requires_grad = False; base.bias.requires_grad = False"),
                "a base layer may have no bias"),
    WrongAnswer("only the weight frozen", "q1", layer(freeze="base.weight.requires_grad_(False)"),
                "the base layer is not frozen (its bias still has requires_grad=True)"),
    # q2: the forward pass
    WrongAnswer("the branch not scaled", "q2", forward(f"layer.base_layer(x) + {BRANCH}"), "the branch is not scaled"),
    WrongAnswer("lora_alpha // r", "q2", forward(f"layer.base_layer(x) + {BRANCH} * (layer.lora_alpha // layer.r)"),
                "integer division: lora_alpha // r"),
    WrongAnswer("the base scaled too", "q2", forward(f"(layer.base_layer(x) + {BRANCH}) * layer.scaling"),
                "only the LoRA branch is scaled"),
    WrongAnswer("dropout on the base path too", "q2", """
        def lora_forward(layer, x):
            x = layer.lora_dropout(x)
            return layer.base_layer(x) + layer.lora_B(layer.lora_A(x)) * layer.scaling
        """, "dropout must touch only the LoRA branch"),
    WrongAnswer("dropout on the branch's output", "q2", forward(
        "layer.base_layer(x) + layer.lora_dropout(layer.lora_B(layer.lora_A(x))) * layer.scaling"),
                "you dropped the branch's output"),
    WrongAnswer("the visible layer's scaling hard-coded", "q2", forward(f"layer.base_layer(x) + {BRANCH} * 2.5"),
                "(hidden test 'eval mode, a 53 × 37 layer without bias, r = 5, lora_alpha = 7; the exact layer')"),
    # q3: ΔW and merging
    WrongAnswer("ΔW transposed", "q3", """
        def delta_weight(layer):
            return layer.scaling * (layer.lora_A.weight.T @ layer.lora_B.weight.T)
        """, "that is the transpose of the base weight"),
    WrongAnswer("ΔW without the scaling", "q3", """
        def delta_weight(layer):
            return layer.lora_B.weight @ layer.lora_A.weight
        """, "you left out the scaling"),
    WrongAnswer("W0 + ΔW for ΔW", "q3", """
        def delta_weight(layer):
            return layer.base_layer.weight + layer.scaling * (layer.lora_B.weight @ layer.lora_A.weight)
        """, "that is W0 + ΔW; delta_weight is ΔW alone"),
    WrongAnswer("merged without the scaling", "q3", merge(weight="base.weight + layer.lora_B.weight @ "
                                                                "layer.lora_A.weight"),
                "you added B·A without the scaling"),
    WrongAnswer("merged in place", "q3", """
        def merge(layer):
            with torch.no_grad():
                layer.base_layer.weight += delta_weight(layer)
            return layer.base_layer
        """, "merge changed the layer's base weight in place"),
    WrongAnswer("a bias copied that may not exist", "q3", merge(bias="", copy_bias="merged.bias.copy_(base.bias)"),
                "a base layer may have no bias (base.bias is None)"),
    WrongAnswer("a random bias kept", "q3", merge(bias="", copy_bias="pass"),
                "the merged layer must keep the base layer's bias"),
    # q4: injection and counts
    WrongAnswer("the base left trainable", "q4", """
        def add_lora(model, target_modules, r, lora_alpha):
            names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)
                     and any(n == t or n.endswith("." + t) for t in target_modules)]
            for name in names:
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, LoRALayer(model.get_submodule(name), r, lora_alpha))
            return model
        """, "you forgot to freeze the rest of the model"),
    WrongAnswer("frozen after wrapping", "q4", """
        def add_lora(model, target_modules, r, lora_alpha):
            names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)
                     and any(n == t or n.endswith("." + t) for t in target_modules)]
            for name in names:
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, LoRALayer(model.get_submodule(name), r, lora_alpha))
            return model.requires_grad_(False)
        """, "you froze the LoRA matrices too"),
    WrongAnswer("r·d·k", "q4", counts(trainable="model.config.num_hidden_layers * sum(Q4_R * m.in_features * "
                                                "m.out_features for m in mods)"), "r·d·k is the size of nothing here"),
    WrongAnswer("one decoder layer", "q4", counts(trainable="sum(Q4_R * (m.in_features + m.out_features) for m in "
                                                            "mods)"), "that is one decoder layer"),
    WrongAnswer("biases counted", "q4", counts(trainable="model.config.num_hidden_layers * sum(Q4_R * (m.in_features "
                                                         "+ m.out_features) + Q4_R + m.out_features for m in mods)"),
                "you counted biases"),
    WrongAnswer("every target hidden × hidden", "q4", counts(trainable="model.config.num_hidden_layers * 3 * 2 * Q4_R "
                                                                       "* model.config.hidden_size"),
                "not every target is hidden × hidden"),
    WrongAnswer("the tied head counted twice", "q4", counts(total="model.num_parameters() + n_trainable + "
                                                                  "model.config.vocab_size * model.config.hidden_size"),
                "the tied embedding and output head are one tensor: count it once."),
]


@pytest.fixture(scope="module")
def solved():
    return run_cells(ROOT / "solutions" / "lab06_lora_by_hand.ipynb")


def run(solved, qid: str, **changes):
    return Lab("lab06", namespace={**solved, **changes}).run(qid)


def test_six_wrong_answers_or_more_per_lab_and_each_question():
    assert len(WRONG) >= 6 and {w.qid for w in WRONG} == set(checks.load("lab06"))


@pytest.mark.parametrize("wrong", WRONG, ids=[w.name for w in WRONG])
def test_a_wrong_answer_loses_points_with_its_hint(solved, wrong):
    assert_wrong_answer("lab06", solved, wrong)


def test_the_learners_functions_take_pefts_names(solved):
    assert list(inspect.signature(solved["LoRALayer"]).parameters) == ["base", "r", "lora_alpha", "lora_dropout"]
    assert list(inspect.signature(solved["add_lora"]).parameters) == ["model", "target_modules", "r", "lora_alpha"]
    assert [run(solved, qid).points for qid in ("q1", "q2", "q3", "q4")] == [3, 3, 3, 3]


def test_the_hidden_parts_stay_hidden_in_the_notebook(solved):
    result = assert_wrong_answer("lab06", solved, next(w for w in WRONG if "hard-coded" in w.name))
    assert (result.points, result.status) == (2, "fail")
    shown = feedback(result)
    assert "✘ a hidden test (0/1)" in shown and "53 × 37" not in shown


def test_a_merge_without_a_bias_costs_only_the_hidden_part(solved):
    result = assert_wrong_answer("lab06", solved, next(w for w in WRONG if w.name == "a bias copied that may not "
                                                                                      "exist"))
    assert [p.earned for p in result.parts] == [1, 1, 0] and result.parts[2].hidden


def test_an_injection_fitted_to_the_visible_targets_fails_the_hidden_part(solved):
    right = solved["add_lora"]

    def only_visible(model, target_modules, r, lora_alpha):  # ignores its arguments: the visible targets, always
        return right(model, lab06.Q4_TARGETS, lab06.Q4_R, lab06.Q4_ALPHA)

    result = run(solved, "q4", add_lora=only_visible)
    assert [p.earned for p in result.parts] == [1, 0, 1] and result.parts[1].hidden


def test_what_the_hint_for_a_zero_a_says_holds():
    """The hint for A = 0, B random (FACTS.md, LoRA): the adapted layer starts equal to the base, and the zero
    factor gets a gradient on the first step; the same holds for the convention, B = 0, A random."""
    from torch import nn

    for zero in ("lora_A", "lora_B"):
        layer = LoRALinear(nn.Linear(lab06.IN, lab06.OUT), r=lab06.R, lora_alpha=lab06.ALPHA)
        with torch.no_grad():
            layer.lora_A.weight.normal_()
            layer.lora_B.weight.normal_()
            getattr(layer, zero).weight.zero_()
        x = torch.randn(3, lab06.IN)
        assert torch.equal(layer(x), layer.base_layer(x)), zero
        layer(x).square().sum().backward()
        assert getattr(layer, zero).weight.grad.abs().sum() > 0, zero


def test_the_written_out_numbers_are_the_packages():
    exact, x = lab06._exact_layer()
    assert torch.equal(exact(x), torch.tensor(lab06.EXACT_Y))
    assert torch.equal(exact.delta_weight(), torch.tensor(lab06.EXACT_DELTA))
    assert exact.scaling == 1.5 and exact.base_layer.bias is None
    assert lab06.SCALING == lab06.ALPHA / lab06.R != lab06.ALPHA // lab06.R
    assert lab06.IN % lab06.R and lab06.OUT % lab06.R, "r divides neither size"
    for (targets, r), (trainable, total) in lab06.INJECTIONS.items():
        report = trainable_parameters(inject_lora(lab06._fresh_model(), list(targets), r=r, lora_alpha=4,
                                                  verbose=False))
        assert (report.trainable, report.total) == (trainable, total), targets
