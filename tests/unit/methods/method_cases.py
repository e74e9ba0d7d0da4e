"""The agreement battery's table: every method by hand, the functions that tie it to its twin, and its cases.

A method is one `Method` row (how to inject it, build its library twin, copy weights across, save and
load, merge, and which hyper-parameters it must refuse); a case is a method with one set of
hyper-parameters under peft's field names. `test_agreement.py` runs one set of tests over
TEST_CASES × BASES. A new method adds a Method and its cases here, nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from lora_helpers import randomize_lora, small_llama
from torch import nn


@dataclass(frozen=True)
class Method:
    """How the battery drives one method: ours, its twin, and the bridges between them."""

    name: str
    inject: Callable[..., nn.Module]  # (base model, **hp) -> our adapted model
    twin: Callable[..., nn.Module]  # (base model, **hp) -> the library's adapted model
    randomize: Callable[[nn.Module], None]  # give our trainable pieces non-trivial values
    copy_into_twin: Callable[[nn.Module, nn.Module], object]
    from_twin: Callable[[nn.Module], nn.Module]
    grads: Callable[[nn.Module, nn.Module], dict]  # name -> (our grad, twin's grad)
    save: Callable[[nn.Module, object], object]  # (ours, folder)
    load: Callable[[nn.Module, object], nn.Module]  # (base, folder) -> ours with the saved weights
    load_twin: Callable[[nn.Module, object], nn.Module]  # (base, folder) -> the library's model
    merge: Callable[[nn.Module], nn.Module] | None
    bad: list[tuple[dict, type[Exception], str]] = field(default_factory=list)  # (hp, error, message regex)


def _lora() -> Method:
    from ftcourse.compat import quiet
    from ftcourse.lora import (
        copy_into_peft,
        from_peft,
        inject_lora,
        load_adapter,
        merge_lora,
        peft_config,
        peft_grads,
        save_adapter,
    )

    def twin(model, **hp):
        from peft import get_peft_model

        with quiet():
            return get_peft_model(model, peft_config(**hp))

    def load_twin(base, folder):
        from peft import PeftModel

        with quiet():
            return PeftModel.from_pretrained(base, str(folder))

    return Method(
        name="lora",
        inject=lambda model, **hp: inject_lora(model, verbose=False, **hp),
        twin=twin, randomize=randomize_lora, copy_into_twin=copy_into_peft, from_twin=from_peft, grads=peft_grads,
        save=save_adapter, load=load_adapter, load_twin=load_twin, merge=merge_lora,
        bad=[(dict(r=0), ValueError, "r=0"), (dict(r=2.5), ValueError, "r=2.5"),
             (dict(lora_alpha=-1.0), ValueError, "lora_alpha=-1.0"),
             (dict(lora_alpha=float("nan")), ValueError, "lora_alpha=nan"),
             (dict(lora_dropout=1.0), ValueError, "lora_dropout=1.0"),
             (dict(target_modules=["qproj"]), ValueError, r"\['qproj'\] not found"),
             (dict(alpha=16), TypeError, "lora_alpha="), (dict(dropout=0.1), TypeError, "lora_dropout="),
             (dict(rank=4), TypeError, "called r=")],
    )


LORA = _lora()

# (id, method, hyper-parameters with peft's field names)
TEST_CASES: list[tuple[str, Method, dict]] = [
    ("lora-qv", LORA, dict(target_modules=["q_proj", "v_proj"], r=8, lora_alpha=16)),
    ("lora-attn-rslora", LORA, dict(target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], r=4, lora_alpha=4,
                                    use_rslora=True)),
    ("lora-all-linear", LORA, dict(target_modules="all-linear", r=16, lora_alpha=32)),
    ("lora-mlp-dropout", LORA, dict(target_modules=["gate_proj", "up_proj", "down_proj"], r=2, lora_alpha=7.5,
                                    lora_dropout=0.1)),
]
METHODS = sorted({case[1].name: case[1] for case in TEST_CASES}.items())

BASES = ["tiny", "gqa", "mha-bias"]


def build_base(kind: str, tiny_model: nn.Module) -> nn.Module:
    """A fresh base model of one kind: the embedded model or a random 2-layer Llama (GQA, or MHA with biases)."""
    if kind == "tiny":
        return copy.deepcopy(tiny_model).eval()
    return small_llama(gqa=kind == "gqa", bias=kind == "mha-bias").eval()


def token_batch(vocab: int, seed: int = 0) -> torch.Tensor:
    """(2, 24) token ids, the same for every test."""
    return torch.randint(0, vocab, (2, 24), generator=torch.Generator().manual_seed(seed))
