"""Checks of lab06, "LoRA by hand" (12 points).

References come from the package, never from the notebook's variables: `ftcourse.lora.LoRALinear`
(bitwise equal to peft's `lora.Linear`, tests/unit) for the layer's outputs, and hard-coded numbers where
a number is the answer: shapes and scalings, the trainable and total counts of the embedded model (the
same model in both modes), and an exact layer with integer weights and inputs whose outputs and ΔW are
written out below (tests/grading/test_lab06.py checks them against the package). Sizes do not divide
(a 77 × 45 layer, r = 6) and the scaling 15 / 6 = 2.5 is not whole, so lora_alpha // r, r / lora_alpha,
lora_alpha / √r and a hard-coded 3 all miss. q2 and q3 call the learner's functions on the package's
layers, which carry peft's attribute names, so a wrong q1 costs only q1. When an answer is off, the check
recomputes the usual mistakes (A and B swapped, lora_alpha / r inverted or rounded, B not zero, dropout
on the base path or on the branch's output, the base left trainable, biases counted, ...) and names the
one that matches. The learner's functions take peft's argument names: `LoRALayer(base, r, lora_alpha,
lora_dropout=0.0)` and `add_lora(model, target_modules, r, lora_alpha)`; the checks call them positionally.
Hidden variants: q2 a layer of other sizes without a bias and the exact layer; q3 the exact layer (ΔW,
and a merge without a bias); q4 an injection at another rank, against its hard-coded count.
"""

from __future__ import annotations

import math

from ftcourse.grading.answers import Answers, close, describe_exception, question

IN, OUT, R, ALPHA = 45, 77, 6, 15  # a small layer with a bias; r divides neither size
SCALING = 2.5  # 15 / 6: not whole (15 // 6 = 2), its inverse 0.4 and rsLoRA's 15 / √6 = 6.12 are far from it
HIDDEN_IN, HIDDEN_OUT, HIDDEN_R, HIDDEN_ALPHA = 37, 53, 5, 7  # q2's hidden layer: no bias, scaling 1.4
DEPTH = 8  # rounding stages of a LoRA layer's output, computed another way (merged, reordered): 8 · eps · DEPTH
# an exact layer (hidden in q2 and q3): integer weights and inputs, no bias, r = 2, lora_alpha = 3, scaling 1.5;
# every output is a multiple of 0.5, exact in fp32, written out here rather than recomputed
EXACT_R, EXACT_ALPHA = 2, 3
EXACT_W = [[1, -2, 0, 3, 1], [2, 1, -1, 0, -3], [0, 1, 2, -1, 1]]  # W0, out × in = 3 × 5
EXACT_A = [[1, 0, -1, 2, 1], [0, 2, 1, -1, 0]]  # r × in
EXACT_B = [[1, -1], [2, 0], [-1, 3]]  # out × r
EXACT_X = [[[1, 0, 2, -1, 1], [0, 1, -1, 2, 0], [2, -1, 0, 1, 3]]]  # (batch 1, 3 positions, in)
EXACT_DELTA = [[1.5, -3.0, -3.0, 4.5, 1.5], [3.0, 0.0, -3.0, 6.0, 3.0], [-1.5, 9.0, 6.0, -7.5, -1.5]]  # 1.5 · B·A
EXACT_Y = [[[-8.5, -9.0, 22.5], [13.0, 17.0, -15.0], [25.0, 15.0, -23.0]]]  # x (W0 + ΔW)ᵀ
Q4_TARGETS = ["q_proj", "v_proj", "down_proj"]
Q4_R, Q4_ALPHA = 8, 16
Q4_OTHER = (["k_proj", "up_proj"], 3, 4)  # q4's hidden injection: another rank (odd), other modules
# (targets, r) -> (trainable, total) of the embedded model with LoRA on those targets: 6 layers, hidden 192,
# k/v 64 wide (grouped-query attention), MLP 512; 3,148,224 parameters before LoRA (tied head counted once)
INJECTIONS = {
    (tuple(Q4_TARGETS), Q4_R): (64_512, 3_212_736),  # 6 · 8 · ((192+192) + (192+64) + (512+192))
    (tuple(Q4_OTHER[0]), Q4_OTHER[1]): (17_280, 3_165_504),  # 6 · 3 · ((192+64) + (192+512))
}
ATTRS = ("base_layer", "lora_A", "lora_B", "lora_dropout", "scaling")
SHAPE_HINT = ("x goes through A first (in → r), then B (r → out): lora_B(lora_A(x)); nn.Linear stores its weight as "
              "out × in, so ΔW = lora_B.weight @ lora_A.weight is out × in.")


def _base(bias: bool = True, seed: int = 0, in_features: int = IN, out_features: int = OUT):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features, bias=bias)


def _exact_layer():
    """The package's layer on the exact layer (W0, A, B written out above), in eval mode, and its input x."""
    import torch
    from torch import nn

    from ftcourse.lora import LoRALinear

    base = nn.Linear(len(EXACT_W[0]), len(EXACT_W), bias=False)
    layer = LoRALinear(base, r=EXACT_R, lora_alpha=EXACT_ALPHA)
    with torch.no_grad():
        base.weight.copy_(torch.tensor(EXACT_W, dtype=torch.float32))
        layer.lora_A.weight.copy_(torch.tensor(EXACT_A, dtype=torch.float32))
        layer.lora_B.weight.copy_(torch.tensor(EXACT_B, dtype=torch.float32))
    return layer.eval(), torch.tensor(EXACT_X, dtype=torch.float32)


def _reference(dropout: float = 0.0, seed: int = 0, b_zero: bool = False, hidden: bool = False):
    """The package's layer on a fresh base (IN → OUT with a bias, or the hidden sizes without), B filled unless
    b_zero."""
    import torch

    from ftcourse.lora import LoRALinear

    if hidden:
        base, r, alpha = _base(False, seed, HIDDEN_IN, HIDDEN_OUT), HIDDEN_R, HIDDEN_ALPHA
    else:
        base, r, alpha = _base(seed=seed), R, ALPHA
    layer = LoRALinear(base, r=r, lora_alpha=alpha, lora_dropout=dropout)
    if not b_zero:
        with torch.no_grad():
            layer.lora_B.weight.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(seed + 1))
    return layer


# -- q1 -------------------------------------------------------------------------------------------
@question("q1", points=3)
def q1(a: Answers) -> None:
    """LoRALayer.__init__: frozen base, A and B with the right shapes and initialisation, scaling, dropout."""
    from torch import nn

    cls = a.value("LoRALayer", type)
    if not issubclass(cls, nn.Module):
        a.fail("`LoRALayer` should subclass nn.Module.", hint="keep `class LoRALayer(nn.Module):`.", stop=True)
    base = _base()
    layer = a.call(cls, base, R, ALPHA, 0.0)  # outside a part: an error here ends the question
    missing = [name for name in ATTRS if not hasattr(layer, name)]
    if missing:
        a.fail(f"the layer has no {', '.join(f'`{m}`' for m in missing)}.",
               hint="use peft's names: self.base_layer, self.lora_A, self.lora_B, self.lora_dropout, self.scaling.",
               stop=True)

    with a.part("lora_A is r × in, lora_B is out × r, no biases", points=1):
        A, B = layer.lora_A, layer.lora_B
        if not isinstance(A, nn.Linear) or not isinstance(B, nn.Linear):
            a.fail("lora_A and lora_B should be nn.Linear modules.",
                   hint="self.lora_A = nn.Linear(base.in_features, r, bias=False), and lora_B = nn.Linear(r, "
                        "base.out_features, bias=False).")
        a_shape, b_shape = tuple(A.weight.shape), tuple(B.weight.shape)
        a.expect_equal((a_shape, b_shape), ((R, IN), (OUT, R)), mistakes={
            ((OUT, R), (R, IN)): "A and B are swapped: A takes the input down to r (nn.Linear(in_features, r)), B "
                                 "brings it back up to the output (nn.Linear(r, out_features)).",
            ((IN, R), (R, OUT)): "nn.Linear(i, o) stores its weight as o × i: lora_A = nn.Linear(in_features, r) has "
                                 "an r × in weight. Did you write nn.Linear(r, in_features)?",
        }, hint="lora_A = nn.Linear(base.in_features, r), lora_B = nn.Linear(r, base.out_features).",
            message=f"for a {OUT} × {IN} base and r = {R}, lora_A.weight is {a_shape} and lora_B.weight is {b_shape}; "
                    f"expected {(R, IN)} and {(OUT, R)}.")
        if A.bias is not None or B.bias is not None:
            a.fail("lora_A or lora_B has a bias.",
                   hint="LoRA's A and B are plain matrices: nn.Linear(..., bias=False), as in peft; a bias adds "
                        "trainable parameters peft does not have (and breaks the counts).")
        if layer.base_layer is not base:
            a.fail("`base_layer` is not the base layer that was passed in.", hint="self.base_layer = base.")

    with a.part("B starts at zero, A kaiming-uniform (a = √5)", points=1):
        A, B = layer.lora_A.weight.detach(), layer.lora_B.weight.detach()
        bound = 1 / math.sqrt(A.shape[1])
        a_zero, b_zero = bool((A == 0).all()), bool((B == 0).all())
        if not b_zero:
            hint = ("A and B initialisations are swapped. Either zero would do the job: with A = 0 or B = 0 the "
                    "update B·A is 0, so the adapted model starts equal to the base, and either way the other "
                    "factor gets a gradient on the first step. B = 0 with A random is the convention (the LoRA "
                    "paper, peft's linear layers), chosen for its training dynamics; follow it: "
                    "nn.init.zeros_(self.lora_B.weight), A kaiming-uniform."
                    if a_zero else "nn.init.zeros_(self.lora_B.weight): with B = 0 the update B·A is exactly 0, so "
                    "injecting LoRA leaves the model's output unchanged (B = 0, A random, is the convention).")
            a.fail("lora_B.weight is not all zeros.", hint=hint)
        if a_zero:
            a.fail("lora_A.weight is all zeros.",
                   hint="with A = 0 and B = 0 neither gets a gradient and nothing trains; initialise A with "
                        "nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5)).")
        biggest, std = A.abs().max().item(), A.float().std().item()
        if biggest > bound * (1 + 1e-5) or std < 0.7 * bound / math.sqrt(3):
            a.fail(f"lora_A's values reach {biggest:.3f} with standard deviation {std:.3f}; kaiming-uniform with "
                   f"a = √5 draws from ±1/√in_features = ±{bound:.3f} (std {bound / math.sqrt(3):.3f}).",
                   hint="nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5)) (a = 0, the default, gives a "
                        "√6 times wider range; a Gaussian is the paper's choice, not peft's).")

    with a.part("scaling = lora_alpha / r, base frozen, dropout on its own module", points=1):
        scaling = a.number(layer.scaling, "layer.scaling")
        a.expect_close(scaling, SCALING, rel=1e-6, mistakes={
            R / ALPHA: "the scaling is inverted: lora_alpha / r, not r / lora_alpha.",
            float(ALPHA // R): f"integer division: lora_alpha // r = {ALPHA // R} drops the fraction; "
                               "self.scaling = lora_alpha / r.",
            float(ALPHA): "you forgot to divide lora_alpha by r.",
            ALPHA / math.sqrt(R): "that is rsLoRA's lora_alpha / √r; plain LoRA uses lora_alpha / r.",
            1.0: "the scaling is lora_alpha / r, not 1.",
        }, hint="self.scaling = lora_alpha / r.",
            message=f"with r = {R} and lora_alpha = {ALPHA}, scaling is {scaling:g}; expected {SCALING:g}.")
        if getattr(layer, "r", None) != R or getattr(layer, "lora_alpha", None) != ALPHA:
            a.fail("the layer should keep `r` and `lora_alpha`.", hint="self.r, self.lora_alpha = r, lora_alpha.")
        if base.weight.requires_grad or base.bias.requires_grad:
            which = "its bias" if not base.weight.requires_grad else "its weight"
            a.fail(f"the base layer is not frozen ({which} still has requires_grad=True).",
                   hint="base.requires_grad_(False) freezes weight and bias; only lora_A and lora_B train.")
        if not (layer.lora_A.weight.requires_grad and layer.lora_B.weight.requires_grad):
            a.fail("lora_A or lora_B is frozen.", hint="freeze only the base layer: A and B are what trains.")
        no_bias = _base(False, seed=1, in_features=HIDDEN_IN, out_features=HIDDEN_OUT)
        plain = a.call(cls, no_bias, HIDDEN_R, HIDDEN_ALPHA, 0.0,
                       hint="a base layer may have no bias (base.bias is None, e.g. every projection of Llama): "
                            "base.requires_grad_(False) freezes whatever parameters it has.")
        if no_bias.weight.requires_grad:
            a.fail("for a base layer without a bias, the weight is not frozen.", hint="base.requires_grad_(False).")
        other = f"for a {HIDDEN_OUT} × {HIDDEN_IN} base without bias, r = {HIDDEN_R}, lora_alpha = {HIDDEN_ALPHA}"
        shapes = (tuple(plain.lora_A.weight.shape), tuple(plain.lora_B.weight.shape))
        if shapes != ((HIDDEN_R, HIDDEN_IN), (HIDDEN_OUT, HIDDEN_R)):
            a.fail(f"{other}: lora_A.weight and lora_B.weight are {shapes[0]} and {shapes[1]}, expected "
                   f"{(HIDDEN_R, HIDDEN_IN)} and {(HIDDEN_OUT, HIDDEN_R)}.",
                   hint="read the sizes from base.in_features, base.out_features and r; hard-code nothing.")
        if not close(getattr(plain, "scaling", None), 1.4, rel=1e-6):
            a.fail(f"{other}: scaling is {getattr(plain, 'scaling', None)!r}, expected 1.4.",
                   hint="self.scaling = lora_alpha / r, from the arguments, never a fixed number.")
        with_dropout = a.call(cls, _base(), R, ALPHA, 0.25)
        drop = getattr(with_dropout, "lora_dropout", None)
        if not isinstance(drop, nn.Dropout) or not close(drop.p, 0.25):
            a.fail(f"LoRALayer(base, r, lora_alpha, lora_dropout=0.25).lora_dropout is {drop!r}.",
                   hint="self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity().")
        if not isinstance(layer.lora_dropout, nn.Identity | nn.Dropout) or \
                (isinstance(layer.lora_dropout, nn.Dropout) and layer.lora_dropout.p != 0):
            a.fail(f"with lora_dropout=0.0, lora_dropout is {layer.lora_dropout!r}.",
                   hint="nn.Identity() (or nn.Dropout(0.0)) when lora_dropout is 0.")


# -- q2 -------------------------------------------------------------------------------------------
FORWARD_HINT = ("x goes through A first (in → r), then B (r → out): layer.lora_B(layer.lora_A(x)); the base path is "
                "layer.base_layer(x).")


def _forward(a: Answers, forward, layer, x):
    """The learner's lora_forward(layer, x) as a tensor shaped like layer(x), and layer(x) itself."""
    import torch

    with torch.no_grad():
        want = layer(x)  # (..., out)
        got = a.expect_tensor(a.call(forward, layer, x.clone(), hint=FORWARD_HINT), "lora_forward(layer, x)",
                              shape=tuple(want.shape), hint=SHAPE_HINT)
    return got, want


def _expect_eval_forward(a: Answers, forward, layer, x) -> None:
    """lora_forward in eval mode (B ≠ 0) equals the package's layer; else the likely mistake."""
    import torch

    got, want = _forward(a, forward, layer, x)
    r, alpha = layer.r, layer.lora_alpha
    with torch.no_grad():
        base = layer.base_layer(x)  # (..., out)
        branch = layer.lora_B(layer.lora_A(x))  # (..., out), unscaled
    a.expect_close(got, want, depth=DEPTH, mistakes=[
        (base + branch * r / alpha, "the scaling is inverted: multiply the branch by lora_alpha / r (layer.scaling), "
                                    "not r / lora_alpha."),
        (base + branch, "the branch is not scaled: multiply it by layer.scaling (lora_alpha / r)."),
        (base + branch * (alpha // r), "integer division: lora_alpha // r drops the fraction; multiply by "
                                       "layer.scaling = lora_alpha / r."),
        (base + branch * alpha / math.sqrt(r), "that is rsLoRA's lora_alpha / √r; use layer.scaling "
                                               "(lora_alpha / r)."),
        (base + branch * alpha, "multiply by layer.scaling = lora_alpha / r, not by lora_alpha."),
        ((base + branch) * layer.scaling, "only the LoRA branch is scaled, not the base output."),
        (branch * layer.scaling, "you left out the base layer's output: base_layer(x) + branch."),
        (base, "the LoRA branch is missing (with B ≠ 0 it changes the output)."),
        (base + branch * layer.scaling * 2, "the branch is added twice."),
    ], hint="layer.base_layer(x) + layer.lora_B(layer.lora_A(layer.lora_dropout(x))) * layer.scaling.",
        message=lambda g, w: f"with B ≠ 0, your output is off by up to {(g - w).abs().max().item():.3g}.")


@question("q2", points=3)
def q2(a: Answers) -> None:
    """lora_forward: base(x) + B(A(dropout(x))) · scaling, dropout on the branch only."""
    import torch

    forward = a.function("lora_forward")
    x = torch.randn(2, 5, IN, generator=torch.Generator().manual_seed(2))  # (batch, positions, in)

    with a.part("eval mode: equals ftcourse.lora.LoRALinear", points=1):
        _expect_eval_forward(a, forward, _reference().eval(), x)

    with a.part(f"eval mode, a {HIDDEN_OUT} × {HIDDEN_IN} layer without bias, r = {HIDDEN_R}, "
                f"lora_alpha = {HIDDEN_ALPHA}; the exact layer", points=1, hidden=True):
        x_other = torch.randn(3, 7, HIDDEN_IN, generator=torch.Generator().manual_seed(6))  # (batch, positions, in)
        _expect_eval_forward(a, forward, _reference(seed=7, hidden=True).eval(), x_other)
        exact, x_exact = _exact_layer()
        got = a.expect_tensor(a.call(forward, exact, x_exact.clone(), hint=FORWARD_HINT), "lora_forward(layer, x)",
                              shape=(1, 3, 3), hint=SHAPE_HINT)
        a.expect_close(got, torch.tensor(EXACT_Y), depth=DEPTH, hint="layer.base_layer(x) + "
                       "layer.lora_B(layer.lora_A(layer.lora_dropout(x))) * layer.scaling.",
                       message=lambda g, w: f"on the exact layer your output is {g.tolist()}, expected {w.tolist()}.")

    with a.part("training mode with dropout: dropout on the branch only", points=1):
        fresh = _reference(dropout=0.5, b_zero=True).train()
        got, _ = _forward(a, forward, fresh, x)
        with torch.no_grad():
            base = fresh.base_layer(x)
        a.expect_close(got, base, depth=DEPTH,
                       hint="dropout must touch only the LoRA branch: pass the dropped input to lora_A, and the "
                            "original x to base_layer (or you dropped the output itself).",
                       message="with B = 0 in training mode, your output differs from base_layer(x).")
        layer = _reference(dropout=0.5).train()
        with torch.no_grad():
            torch.manual_seed(3)
            want = layer(x)
            torch.manual_seed(3)
            got = a.expect_tensor(a.call(forward, layer, x.clone(), hint=FORWARD_HINT), "lora_forward(layer, x)",
                                  shape=tuple(want.shape), hint=SHAPE_HINT)
            no_dropout = layer.base_layer(x) + layer.lora_B(layer.lora_A(x)) * layer.scaling
            torch.manual_seed(3)
            dropped_output = layer.base_layer(x) + layer.lora_dropout(layer.lora_B(layer.lora_A(x))) * layer.scaling
        a.expect_close(got, want, depth=DEPTH, mistakes=[
            (no_dropout, "dropout is not applied: pass x through layer.lora_dropout before lora_A (it is active in "
                         "training mode)."),
            (dropped_output, "you dropped the branch's output; peft drops its input: "
                             "layer.lora_B(layer.lora_A(layer.lora_dropout(x)))."),
        ], hint="apply layer.lora_dropout to x once, then lora_A, then lora_B, then the scaling.",
            message="in training mode with lora_dropout=0.5 your output differs from the reference's.")


# -- q3 -------------------------------------------------------------------------------------------
MERGE_HINT = ("a base layer may have no bias (base.bias is None): build nn.Linear(in_features, out_features, "
              "bias=base.bias is not None), copy W0 + ΔW into its weight, and the bias only if there is one.")


@question("q3", points=3)
def q3(a: Answers) -> None:
    """delta_weight = scaling · B·A; merge returns a plain nn.Linear computing the same."""
    import torch
    from torch import nn

    from ftcourse.lora import LoRALinear

    x = torch.randn(4, IN, generator=torch.Generator().manual_seed(4))  # (batch, in)
    with a.part("delta_weight(layer) = scaling · B·A (out × in)", points=1):
        delta_weight = a.function("delta_weight")
        layer = _reference().eval()
        want = layer.delta_weight().float()  # (out, in)
        got = a.expect_tensor(a.call(delta_weight, layer), "delta_weight(layer)", shape=(OUT, IN), mistakes={
            (IN, OUT): f"that is the transpose of the base weight {(OUT, IN)}: ΔW = lora_B.weight @ lora_A.weight, "
                       "(out × r) @ (r × in) = out × in.",
        }, hint=SHAPE_HINT)
        ba = (layer.lora_B.weight @ layer.lora_A.weight).detach()  # (out, in), unscaled
        a.expect_close(got, want, depth=DEPTH, mistakes=[
            (ba, "you left out the scaling: ΔW = layer.scaling · B·A."),
            (ba * R / ALPHA, "the scaling is inverted: lora_alpha / r, not r / lora_alpha."),
            (ba * (ALPHA // R), "integer division: lora_alpha // r drops the fraction; use layer.scaling."),
            (layer.base_layer.weight.detach() + want, "that is W0 + ΔW; delta_weight is ΔW alone."),
        ], hint="layer.scaling * (layer.lora_B.weight @ layer.lora_A.weight).",
            message=lambda g, w: f"delta_weight is off by up to {(g - w).abs().max().item():.3g}.")

    with a.part("merge(layer): a new nn.Linear with the same outputs", points=1):
        merge = a.function("merge")
        layer = _reference().eval()
        weight_before = layer.base_layer.weight.detach().clone()
        with torch.no_grad():
            want = layer(x)  # (batch, out)
        merged = a.call(merge, layer, hint=MERGE_HINT)
        if not isinstance(merged, nn.Linear) or isinstance(merged, LoRALinear):
            a.fail(f"merge returned {type(merged).__name__}, not a plain nn.Linear.",
                   hint="build nn.Linear(in_features, out_features, bias=...) and copy W0 + ΔW (and the bias) in.")
        if not torch.equal(layer.base_layer.weight.detach(), weight_before):
            a.fail("merge changed the layer's base weight in place.",
                   hint="create a new nn.Linear: the LoRA layer must keep working (it still adds B·A itself).")
        if tuple(merged.weight.shape) != (OUT, IN):
            a.fail(f"the merged weight has shape {tuple(merged.weight.shape)}, expected {(OUT, IN)}.",
                   hint="nn.Linear(base.in_features, base.out_features): the weight is out × in.")
        with torch.no_grad():
            got = merged(x).float()  # (batch, out)
        if not close(got, want, depth=DEPTH):  # why: the bias, or what the merged weight adds to W0
            ba = (layer.lora_B.weight @ layer.lora_A.weight).detach()  # (out, in)
            dw = merged.weight.detach().float() - layer.base_layer.weight.detach()  # (out, in)
            kept_bias = merged.bias is not None and close(merged.bias.detach().float(), layer.base_layer.bias.detach(),
                                                          depth=DEPTH)
            hint = ("the merged layer must keep the base layer's bias: copy base_layer.bias into it." if not kept_bias
                    else a.mistake(dw, [
                        (ba, "you added B·A without the scaling: W0 + layer.scaling · B·A."),
                        (ba * R / ALPHA, "the scaling is inverted: lora_alpha / r, not r / lora_alpha."),
                        (torch.zeros_like(dw), "the merged weight is W0 alone; add ΔW = scaling · B·A."),
                    ], depth=DEPTH))
            a.expect_close(got, want, depth=DEPTH, hint=hint or "merged.weight = base_layer.weight + "
                           "delta_weight(layer), merged.bias = base_layer.bias.",
                           message=lambda g, w: f"merged(x) differs from layer(x) by up to "
                                                f"{(g - w).abs().max().item():.3g}.")

    with a.part("the exact layer, without a bias: delta_weight and merge", points=1, hidden=True):
        exact, x_exact = _exact_layer()
        got = a.expect_tensor(a.call(delta_weight, exact), "delta_weight(layer)", shape=(3, 5), hint=SHAPE_HINT)
        a.expect_close(got, torch.tensor(EXACT_DELTA), depth=DEPTH, hint="layer.scaling * (layer.lora_B.weight @ "
                       "layer.lora_A.weight).", message=lambda g, w: f"on the exact layer delta_weight is "
                                                                     f"{g.tolist()}, expected {w.tolist()}.")
        merged = a.call(merge, exact, hint=MERGE_HINT)
        if not isinstance(merged, nn.Linear) or isinstance(merged, LoRALinear):
            a.fail(f"merge returned {type(merged).__name__}, not a plain nn.Linear.", hint=MERGE_HINT)
        with torch.no_grad():
            got = merged(x_exact).float()  # (1, 3, out)
        a.expect_close(got, torch.tensor(EXACT_Y), depth=DEPTH,
                       hint="a layer without a bias merges into a layer without a bias: nn.Linear(..., "
                            "bias=base.bias is not None); a fresh nn.Linear's default bias is random.",
                       message=lambda g, w: f"on the exact layer merged(x) is {g.tolist()}, expected {w.tolist()}.")


# -- q4 -------------------------------------------------------------------------------------------
def _fresh_model():
    import torch

    from ftcourse import models

    return models.load_model("tiny", dtype=torch.float32, device="cpu")


def _check_injection(a: Answers, add_lora, cls, targets, r, alpha) -> None:
    import torch
    from torch import nn

    from ftcourse.lora import inject_lora, lora_modules, trainable_parameters

    model = _fresh_model()
    ids = torch.randint(3, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = model(input_ids=ids).logits
    names = [name for name, _ in lora_modules(inject_lora(_fresh_model(), targets, r=r, lora_alpha=alpha,
                                                          verbose=False))]
    trainable, total = INJECTIONS[(tuple(targets), r)]  # hard-coded: the embedded model is the same in both modes
    result = a.call(add_lora, model, list(targets), r, alpha)
    if not isinstance(result, nn.Module):
        a.fail(f"add_lora returned {type(result).__name__}, not the model.", hint="end with `return model`.")
    call = f"add_lora(model, {targets}, r={r}, lora_alpha={alpha})"
    wrapped = [name for name, m in result.named_modules() if isinstance(m, cls)]
    if wrapped != names:
        missing, extra = sorted(set(names) - set(wrapped)), sorted(set(wrapped) - set(names))
        if not wrapped:
            hint = ("nothing was replaced: match full names by suffix, name == t or name.endswith('.' + t), and put "
                    "the new layer on the parent with setattr(parent, child_name, LoRALayer(...)).")
        elif missing:
            hint = (f"e.g. {missing[0]} was not replaced ({len(missing)} missing); every layer's module of that "
                    "name must be wrapped (walk model.named_modules()).")
        else:
            hint = (f"e.g. {extra[0]} was replaced but is not a target; match name == t or name.endswith('.' + t), "
                    "not a substring.")
        a.fail(f"{call} wrapped {len(wrapped)} modules in LoRALayer; expected {len(names)}.", hint=hint)
    got = trainable_parameters(result)
    if got.total != total:
        a.fail(f"after {call} the model has {got.total:,} parameters; expected {total:,}.",
               hint="each wrapped layer adds exactly lora_A and lora_B (no biases); did your LoRALayer add others?")
    if got.trainable != trainable:
        if got.trainable == got.total:
            hint = "you forgot to freeze the base model: model.requires_grad_(False) before wrapping the targets."
        elif got.trainable == 0:
            hint = ("you froze the LoRA matrices too (requires_grad_(False) after wrapping?): freeze the model "
                    "first, then wrap, so lora_A and lora_B stay trainable.")
        else:
            loose = [n for n, p in result.named_parameters() if p.requires_grad and "lora_" not in n]
            if len(loose) > 3:
                hint = (f"you forgot to freeze the rest of the model ({len(loose)} tensors such as {loose[0]} still "
                        "train): model.requires_grad_(False) before wrapping; only lora_A and lora_B may train.")
            elif loose:
                hint = f"{', '.join(loose)} still train(s); only lora_A and lora_B may."
            else:
                hint = "only the lora_A and lora_B weights of the wrapped layers should be trainable."
        a.fail(f"after {call}: {got.trainable:,} trainable parameters; expected {trainable:,}.", hint=hint)
    try:
        with torch.no_grad():
            after = result(input_ids=ids).logits
    except NotImplementedError:  # lora_forward (q2) not written yet: q2's check reports it, q4 does not need it
        return
    except Exception as exc:  # the learner's layer breaks the model's forward pass
        a.fail(f"after {call}, the model's forward pass raised {describe_exception(exc)}.",
               hint="run the model on a few tokens in a new cell; LoRALayer.forward calls your lora_forward (q2).",
               error=True)
    a.expect_close(after, before, depth=8 * model.config.num_hidden_layers + 2,  # a forward pass: 8 per layer
                   hint="a fresh LoRA layer must not change the output: B starts at zero (q1), and the base path is "
                        "the base layer's output unchanged (q2).",
                   message=lambda g, w: f"the model's logits changed by up to {(g - w).abs().max().item():.3g} on "
                                        "injection.")


@question("q4", points=3)
def q4(a: Answers) -> None:
    """add_lora on the embedded model, and the trainable / total counts by hand."""
    from torch import nn

    def learners_layer():
        """The learner's LoRALayer, or a failure saying q1 comes first."""
        cls = a.ns.get("LoRALayer")
        if not isinstance(cls, type) or not issubclass(cls, nn.Module):
            a.fail("`LoRALayer` is not defined.", hint="run q1's cell first: add_lora uses your LoRALayer.")
        try:
            cls(nn.Linear(4, 4), 2, 4)
        except NotImplementedError:
            a.fail("add_lora uses your LoRALayer, which still raises NotImplementedError.", hint="finish q1 first.")
        except Exception as exc:  # the learner's q1 is broken
            a.fail(f"LoRALayer(nn.Linear(4, 4), 2, 4) raised {describe_exception(exc)}.", hint="fix q1 first.")
        return cls

    with a.part(f"add_lora(model, {Q4_TARGETS}, {Q4_R}, {Q4_ALPHA}) wraps the targets and freezes the rest",
                points=1):
        add_lora = a.function("add_lora")
        _check_injection(a, add_lora, learners_layer(), Q4_TARGETS, Q4_R, Q4_ALPHA)
    with a.part(f"add_lora with other targets {Q4_OTHER[0]} at r = {Q4_OTHER[1]}", points=1, hidden=True):
        _check_injection(a, add_lora, learners_layer(), *Q4_OTHER)

    with a.part(f"n_trainable, n_total for {Q4_TARGETS} at r = {Q4_R}", points=1):
        want_trainable, want_total = INJECTIONS[(tuple(Q4_TARGETS), Q4_R)]
        got_t = a.number(a.value("n_trainable"), "n_trainable")
        got_n = a.number(a.value("n_total"), "n_total")
        base = _fresh_model()
        base_total = base.num_parameters()
        cfg = base.config
        layer0 = base.model.layers[0]
        mods = [layer0.self_attn.q_proj, layer0.self_attn.v_proj, layer0.mlp.down_proj]
        L, r = cfg.num_hidden_layers, Q4_R
        a.expect_equal(got_t, want_trainable, mistakes=[
            (L * sum(r * m.in_features * m.out_features for m in mods), "r·d·k is the size of nothing here: "
             "A is r × k and B is d × r, so r·(d + k) per layer."),
            (sum(r * (m.in_features + m.out_features) for m in mods), f"that is one decoder layer; the model has "
             f"{L}."),
            (want_trainable + L * sum(r + m.out_features for m in mods), "you counted biases: lora_A and lora_B "
             "have none (bias=False)."),
            (want_trainable + L * sum(m.out_features for m in mods), "you counted a bias for lora_B: A and B "
             "have none (bias=False)."),
            (L * len(mods) * 2 * r * cfg.hidden_size, "not every target is hidden × hidden: v_proj is "
             f"{layer0.self_attn.v_proj.out_features} × {cfg.hidden_size} (grouped-query attention) and down_proj "
             f"is {cfg.hidden_size} × {cfg.intermediate_size}; use each layer's own d and k."),
            (want_trainable + L * sum(m.in_features * m.out_features for m in mods),
             "you counted the wrapped base weights as trainable; they are frozen."),
            (want_total, "that is the total; n_trainable counts only lora_A and lora_B."),
            ], hint="Σ over the targeted layers of r·(d + k), d × k being each layer's out × in.",
            message=f"n_trainable is {got_t:,.0f}; expected {want_trainable:,}.")
        emb = cfg.vocab_size * cfg.hidden_size
        a.expect_equal(got_n, want_total, mistakes=[
            (base_total, "that is the base model alone; the total includes the LoRA parameters."),
            (want_total + emb, "the tied embedding and output head are one tensor: count it once."),
            (base_total + emb, "the tied embedding and output head are one tensor, and the LoRA parameters "
             "count in the total."),
            (want_trainable, "that is n_trainable; n_total is every parameter, frozen ones included."),
            (base_total - L * sum(m.in_features * m.out_features for m in mods),
             "the wrapped base weights are still in the model (frozen): keep them in the total, and add LoRA."),
            ], hint="model.num_parameters() of the base model plus the LoRA parameters.",
            message=f"n_total is {got_n:,.0f}; expected {want_total:,}.")
