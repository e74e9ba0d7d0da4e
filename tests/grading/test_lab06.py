"""lab06's checks, in process, on the solution with one mistake at a time: each known mistake gets its hint, q2's
hidden layer catches a hard-coded scaling, and the learner's functions are called positionally with peft's names."""

import inspect
from pathlib import Path

import pytest
import torch
from ftcourse.grading import Lab
from ftcourse.grading.lab import feedback
from lab_fixtures import run_cells
from torch import nn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def solved():
    return run_cells(ROOT / "solutions" / "lab06_lora_by_hand.ipynb")


def run(solved, qid: str, **changes):
    return Lab("lab06", namespace={**solved, **changes}).run(qid)


def test_the_learners_functions_take_pefts_names(solved):
    assert list(inspect.signature(solved["LoRALayer"]).parameters) == ["base", "r", "lora_alpha", "lora_dropout"]
    assert list(inspect.signature(solved["add_lora"]).parameters) == ["model", "target_modules", "r", "lora_alpha"]
    assert [run(solved, qid).points for qid in ("q1", "q2", "q3", "q4")] == [3, 3, 3, 3]


def test_swapped_factors_and_an_inverted_scaling(solved):
    right = solved["LoRALayer"]

    class Swapped(right):
        def __init__(self, base, r, lora_alpha, lora_dropout=0.0):
            super().__init__(base, r, lora_alpha, lora_dropout)
            self.lora_A = nn.Linear(r, base.out_features, bias=False)
            self.lora_B = nn.Linear(base.in_features, r, bias=False)

    class Inverted(right):
        def __init__(self, base, r, lora_alpha, lora_dropout=0.0):
            super().__init__(base, r, lora_alpha, lora_dropout)
            self.scaling = r / lora_alpha

    assert "A and B are swapped" in run(solved, "q1", LoRALayer=Swapped).message
    inverted = run(solved, "q1", LoRALayer=Inverted).message
    assert "the scaling is inverted: lora_alpha / r, not r / lora_alpha." in inverted


def test_forward_mistakes(solved):
    def unscaled(layer, x):
        return layer.base_layer(x) + layer.lora_B(layer.lora_A(layer.lora_dropout(x)))

    def dropped_everywhere(layer, x):
        x = layer.lora_dropout(x)
        return layer.base_layer(x) + layer.lora_B(layer.lora_A(x)) * layer.scaling

    assert "the branch is not scaled" in run(solved, "q2", lora_forward=unscaled).message
    result = run(solved, "q2", lora_forward=dropped_everywhere)
    assert result.points == 2 and "dropout must touch only the LoRA branch" in result.message


def test_the_hidden_layer_catches_a_hard_coded_scaling(solved):
    def hard_coded(layer, x):  # alpha / r of the visible layer, 12 / 4
        return layer.base_layer(x) + layer.lora_B(layer.lora_A(layer.lora_dropout(x))) * 3

    result = run(solved, "q2", lora_forward=hard_coded)
    assert (result.points, result.status) == (2, "fail")
    shown = feedback(result)
    assert "✘ a hidden test (0/1)" in shown and "53 × 37" not in shown
    assert "(hidden test 'eval mode, a 53 × 37 layer without bias, r = 5, lora_alpha = 7')" in result.message


def test_delta_weight_and_merge_mistakes(solved):
    transposed = run(solved, "q3", delta_weight=lambda layer: layer.scaling * (layer.lora_A.weight.T
                                                                              @ layer.lora_B.weight.T))
    assert "has shape (48, 80), expected (80, 48)" in transposed.message and "transpose" in transposed.message

    def merge_unscaled(layer):
        base = layer.base_layer
        merged = nn.Linear(base.in_features, base.out_features)
        with torch.no_grad():
            merged.weight.copy_(base.weight + layer.lora_B.weight @ layer.lora_A.weight)
            merged.bias.copy_(base.bias)
        return merged

    result = run(solved, "q3", merge=merge_unscaled)
    assert result.points == 1 and "you added B·A without the scaling" in result.message


def test_injection_and_count_mistakes(solved):
    right = solved["add_lora"]

    def unfrozen(model, target_modules, r, lora_alpha):
        model = right(model, target_modules, r, lora_alpha)
        model.requires_grad_(True)
        return model

    assert "you forgot to freeze the base model" in run(solved, "q4", add_lora=unfrozen).message
    emb = solved["model"].config.vocab_size * solved["model"].config.hidden_size
    result = run(solved, "q4", n_total=solved["n_total"] + emb)
    assert result.points == 2 and "the tied embedding and output head are one tensor: count it once." in result.message
