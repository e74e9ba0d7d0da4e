"""Checks of lab06, "LoRA by hand" (12 points).

References come from the package, never from the notebook's variables: `ftcourse.lora.LoRALinear`
(bitwise equal to peft's `lora.Linear`, tests/unit) for the layer, `inject_lora` and
`trainable_parameters` (peft's numbers) for the model. q2 and q3 call the learner's functions on the
package's layers, which carry peft's attribute names, so a wrong q1 costs only q1. When an answer is
off, the check recomputes the usual mistakes (A and B swapped, alpha / r inverted, B not zero, dropout
on the base path, the base left trainable, biases counted, ...) and names the one that matches.
"""

from __future__ import annotations

import math

from ftcourse.grading.checks import Answers, describe_exception, question

IN, OUT, R, ALPHA = 48, 80, 4, 12  # a small layer with a bias; scaling 3 (its inverse 1/3 is easy to tell apart)
Q4_TARGETS = ["q_proj", "v_proj", "down_proj"]
Q4_R, Q4_ALPHA = 8, 16
Q4_OTHER = (["k_proj", "up_proj"], 2, 4)  # a second injection, so that nothing hard-coded passes
ATTRS = ("base_layer", "lora_A", "lora_B", "lora_dropout", "scaling")


def _call(a: Answers, func, *args, hint: str | None = None):
    """Call learner code; NotImplementedError stops the question, other errors fail with `hint`."""
    name = getattr(func, "__name__", "your function")
    try:
        return func(*args)
    except NotImplementedError:
        a.fail(f"`{name}` still raises NotImplementedError.",
               hint="replace the `raise NotImplementedError(...)` line with your answer.")
    except Exception as exc:  # a learner bug becomes a message
        a.fail(f"`{name}` raised {describe_exception(exc)}.",
               hint=hint or "run it on a small example in a new cell to see the full error.", error=True)


def _base(bias: bool = True, seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Linear(IN, OUT, bias=bias)


def _reference(dropout: float = 0.0, seed: int = 0, b_zero: bool = False):
    """The package's layer on a fresh base with a bias, B filled with values unless b_zero."""
    import torch

    from ftcourse.lora import LoRALinear

    layer = LoRALinear(_base(seed=seed), r=R, lora_alpha=ALPHA, lora_dropout=dropout)
    if not b_zero:
        with torch.no_grad():
            layer.lora_B.weight.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(seed + 1))
    return layer


def _tensor(a: Answers, value, what: str, shape: tuple):
    import torch

    if not isinstance(value, torch.Tensor):
        a.fail(f"{what} returned {type(value).__name__}, not a tensor.", hint="return the tensor itself.")
    if tuple(value.shape) != shape:
        a.fail(f"{what} has shape {tuple(value.shape)}, expected {shape}.",
               hint="x goes through A first (in → r), then B (r → out): lora_B(lora_A(x)); nn.Linear stores its "
                    "weight as out × in, so ΔW = lora_B.weight @ lora_A.weight is out × in.")
    return value.detach().float()


def _close(got, want, tol: float = 1e-5) -> bool:
    import torch

    return got.shape == want.shape and torch.allclose(got, want.float(), rtol=tol, atol=tol)


# -- q1 -------------------------------------------------------------------------------------------
@question("q1", points=3)
def q1(a: Answers) -> None:
    """LoRALayer.__init__: frozen base, A and B with the right shapes and initialisation, scaling, dropout."""
    from torch import nn

    cls = a.value("LoRALayer", type)
    if not issubclass(cls, nn.Module):
        a.fail("`LoRALayer` should subclass nn.Module.", hint="keep `class LoRALayer(nn.Module):`.", stop=True)
    base = _base()
    layer = _call(a, cls, base, R, ALPHA, 0.0)
    if layer is None:
        a.fail("LoRALayer(...) could not be built.", stop=True)
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
        if (a_shape, b_shape) != ((R, IN), (OUT, R)):
            if (a_shape, b_shape) == ((OUT, R), (R, IN)):
                hint = ("A and B are swapped: A takes the input down to r (nn.Linear(in_features, r)), B brings it "
                        "back up to the output (nn.Linear(r, out_features)).")
            elif (a_shape, b_shape) == ((IN, R), (R, OUT)):
                hint = ("nn.Linear(i, o) stores its weight as o × i: lora_A = nn.Linear(in_features, r) has an r × in "
                        "weight. Did you write nn.Linear(r, in_features)?")
            else:
                hint = "lora_A = nn.Linear(base.in_features, r), lora_B = nn.Linear(r, base.out_features)."
            a.fail(f"for a {OUT} × {IN} base and r = {R}, lora_A.weight is {a_shape} and lora_B.weight is {b_shape}; "
                   f"expected {(R, IN)} and {(OUT, R)}.", hint=hint)
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
            hint = ("A and B initialisations are swapped: for linear layers peft zeroes B and randomises A."
                    if a_zero else "nn.init.zeros_(self.lora_B.weight): with B = 0 the update B·A is exactly 0, so "
                    "injecting LoRA leaves the model's output unchanged.")
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

    with a.part("scaling = alpha / r, base frozen, dropout on its own module", points=1):
        scaling = a.number(layer.scaling, "layer.scaling")
        if not math.isclose(scaling, ALPHA / R, rel_tol=1e-6):
            known = {R / ALPHA: "the scaling is inverted: alpha / r, not r / alpha.",
                     float(ALPHA): "you forgot to divide alpha by r.",
                     ALPHA / math.sqrt(R): "that is rsLoRA's alpha / √r; plain LoRA uses alpha / r.",
                     1.0: "the scaling is alpha / r, not 1."}
            hint = next((why for value, why in known.items() if math.isclose(scaling, value, rel_tol=1e-6)),
                        "self.scaling = alpha / r.")
            a.fail(f"with r = {R} and alpha = {ALPHA}, scaling is {scaling:g}; expected {ALPHA / R:g}.", hint=hint)
        if getattr(layer, "r", None) != R or getattr(layer, "lora_alpha", None) != ALPHA:
            a.fail("the layer should keep `r` and `lora_alpha`.", hint="self.r, self.lora_alpha = r, alpha.")
        if base.weight.requires_grad or base.bias.requires_grad:
            which = "its bias" if not base.weight.requires_grad else "its weight"
            a.fail(f"the base layer is not frozen ({which} still has requires_grad=True).",
                   hint="base.requires_grad_(False) freezes weight and bias; only lora_A and lora_B train.")
        if not (layer.lora_A.weight.requires_grad and layer.lora_B.weight.requires_grad):
            a.fail("lora_A or lora_B is frozen.", hint="freeze only the base layer: A and B are what trains.")
        with_dropout = _call(a, cls, _base(), R, ALPHA, 0.25)
        drop = getattr(with_dropout, "lora_dropout", None)
        if not isinstance(drop, nn.Dropout) or not math.isclose(drop.p, 0.25):
            a.fail(f"LoRALayer(base, r, alpha, dropout=0.25).lora_dropout is {drop!r}.",
                   hint="self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity().")
        if not isinstance(layer.lora_dropout, nn.Identity | nn.Dropout) or \
                (isinstance(layer.lora_dropout, nn.Dropout) and layer.lora_dropout.p != 0):
            a.fail(f"with dropout=0.0, lora_dropout is {layer.lora_dropout!r}.",
                   hint="nn.Identity() (or nn.Dropout(0.0)) when dropout is 0.")


# -- q2 -------------------------------------------------------------------------------------------
@question("q2", points=3)
def q2(a: Answers) -> None:
    """lora_forward: base(x) + B(A(dropout(x))) · scaling, dropout on the branch only."""
    import torch

    forward = a.function("lora_forward")
    x = torch.randn(2, 5, IN, generator=torch.Generator().manual_seed(2))
    shape_hint = ("x goes through A first (in → r), then B (r → out): layer.lora_B(layer.lora_A(x)); the base "
                  "path is layer.base_layer(x).")

    with a.part("eval mode: equals ftcourse.lora.LoRALinear", points=2):
        layer = _reference().eval()
        with torch.no_grad():
            want = layer(x)
            got = _tensor(a, _call(a, forward, layer, x.clone(), hint=shape_hint), "lora_forward(layer, x)",
                          tuple(want.shape))
            base = layer.base_layer(x)
            branch = layer.lora_B(layer.lora_A(x))
        if not _close(got, want):
            variants = [
                (base + branch * R / ALPHA, "the scaling is inverted: multiply the branch by alpha / r "
                                            "(layer.scaling), not r / alpha."),
                (base + branch, "the branch is not scaled: multiply it by layer.scaling (alpha / r)."),
                (base + branch * ALPHA, "multiply by layer.scaling = alpha / r, not by alpha."),
                ((base + branch) * layer.scaling, "only the LoRA branch is scaled, not the base output."),
                (branch * layer.scaling, "you left out the base layer's output: base_layer(x) + branch."),
                (base, "the LoRA branch is missing (with B ≠ 0 it changes the output)."),
                (base + branch * layer.scaling * 2, "the branch is added twice."),
            ]
            hint = next((why for value, why in variants if _close(got, value, 1e-4)),
                        "layer.base_layer(x) + layer.lora_B(layer.lora_A(layer.lora_dropout(x))) * layer.scaling.")
            a.fail(f"with B ≠ 0, your output is off by up to {(got - want).abs().max().item():.3g}.", hint=hint)

    with a.part("training mode with dropout: dropout on the branch only", points=1):
        fresh = _reference(dropout=0.5, b_zero=True).train()
        with torch.no_grad():
            got = _tensor(a, _call(a, forward, fresh, x.clone(), hint=shape_hint), "lora_forward(layer, x)",
                          (2, 5, OUT))
            base = fresh.base_layer(x)
        if not _close(got, base, 1e-6):
            a.fail("with B = 0 in training mode, your output differs from base_layer(x).",
                   hint="dropout must touch only the LoRA branch: pass the dropped input to lora_A, and the "
                        "original x to base_layer (or you dropped the output itself).")
        layer = _reference(dropout=0.5).train()
        with torch.no_grad():
            torch.manual_seed(3)
            want = layer(x)
            torch.manual_seed(3)
            got = _tensor(a, _call(a, forward, layer, x.clone(), hint=shape_hint), "lora_forward(layer, x)",
                          tuple(want.shape))
            no_dropout = layer.base_layer(x) + layer.lora_B(layer.lora_A(x)) * layer.scaling
        if not _close(got, want):
            hint = ("dropout is not applied: pass x through layer.lora_dropout before lora_A (it is active in "
                    "training mode)." if _close(got, no_dropout) else
                    "apply layer.lora_dropout to x once, then lora_A, then lora_B, then the scaling.")
            a.fail("in training mode with dropout=0.5 your output differs from the reference's.", hint=hint)


# -- q3 -------------------------------------------------------------------------------------------
@question("q3", points=3)
def q3(a: Answers) -> None:
    """delta_weight = scaling · B·A; merge returns a plain nn.Linear computing the same."""
    import torch
    from torch import nn

    from ftcourse.lora import LoRALinear

    x = torch.randn(4, IN, generator=torch.Generator().manual_seed(4))
    with a.part("delta_weight(layer) = scaling · B·A (out × in)", points=1):
        delta_weight = a.function("delta_weight")
        layer = _reference().eval()
        want = layer.delta_weight().float()
        got = _call(a, delta_weight, layer)
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (IN, OUT):
            a.fail(f"delta_weight has shape {(IN, OUT)}, the transpose of the base weight {(OUT, IN)}.",
                   hint="ΔW = lora_B.weight @ lora_A.weight: (out × r) @ (r × in) = out × in.")
        got = _tensor(a, got, "delta_weight(layer)", (OUT, IN))
        if not _close(got, want):
            ba = (layer.lora_B.weight @ layer.lora_A.weight).detach()
            variants = [(ba, "you left out the scaling: ΔW = layer.scaling · B·A."),
                        (ba * R / ALPHA, "the scaling is inverted: alpha / r, not r / alpha."),
                        (layer.base_layer.weight.detach() + want, "that is W0 + ΔW; delta_weight is ΔW alone.")]
            hint = next((why for value, why in variants if _close(got, value, 1e-4)),
                        "layer.scaling * (layer.lora_B.weight @ layer.lora_A.weight).")
            a.fail(f"delta_weight is off by up to {(got - want).abs().max().item():.3g}.", hint=hint)

    with a.part("merge(layer): a new nn.Linear with the same outputs", points=2):
        merge = a.function("merge")
        layer = _reference().eval()
        weight_before = layer.base_layer.weight.detach().clone()
        with torch.no_grad():
            want = layer(x)
        merged = _call(a, merge, layer)
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
            got = merged(x).float()
        if not _close(got, want, 1e-4):
            base_bias = layer.base_layer.bias.detach()
            w0 = layer.base_layer.weight.detach()
            ba = (layer.lora_B.weight @ layer.lora_A.weight).detach()
            dw = merged.weight.detach().float() - w0
            if merged.bias is None or not torch.allclose(merged.bias.detach().float(), base_bias, atol=1e-6):
                hint = "the merged layer must keep the base layer's bias: copy base_layer.bias into it."
            elif _close(dw, ba, 1e-4):
                hint = "you added B·A without the scaling: W0 + layer.scaling · B·A."
            elif _close(dw, ba * R / ALPHA, 1e-4):
                hint = "the scaling is inverted: alpha / r, not r / alpha."
            elif _close(dw, torch.zeros_like(dw), 1e-7):
                hint = "the merged weight is W0 alone; add ΔW = scaling · B·A."
            else:
                hint = "merged.weight = base_layer.weight + delta_weight(layer), merged.bias = base_layer.bias."
            a.fail(f"merged(x) differs from layer(x) by up to {(got - want).abs().max().item():.3g}.", hint=hint)


# -- q4 -------------------------------------------------------------------------------------------
def _fresh_model():
    import torch

    from ftcourse import models

    return models.load_model("tiny", dtype=torch.float32, device="cpu")


def _expected(targets, r, alpha):
    from ftcourse.lora import inject_lora, lora_modules, trainable_parameters

    model = inject_lora(_fresh_model(), targets, r=r, lora_alpha=alpha, verbose=False)
    return trainable_parameters(model), [name for name, _ in lora_modules(model)], model


def _check_injection(a: Answers, add_lora, cls, targets, r, alpha) -> None:
    import torch
    from torch import nn

    from ftcourse.lora import trainable_parameters

    model = _fresh_model()
    ids = torch.randint(3, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = model(input_ids=ids).logits
    want, names, _ = _expected(targets, r, alpha)
    result = _call(a, add_lora, model, list(targets), r, alpha)
    if not isinstance(result, nn.Module):
        a.fail(f"add_lora returned {type(result).__name__}, not the model.", hint="end with `return model`.")
    call = f"add_lora(model, {targets}, r={r}, alpha={alpha})"
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
    if got.total != want.total:
        a.fail(f"after {call} the model has {got.total:,} parameters; expected {want.total:,}.",
               hint="each wrapped layer adds exactly lora_A and lora_B (no biases); did your LoRALayer add others?")
    if got.trainable != want.trainable:
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
        a.fail(f"after {call}: {got.trainable:,} trainable parameters; expected {want.trainable:,}.", hint=hint)
    try:
        with torch.no_grad():
            after = result(input_ids=ids).logits
    except NotImplementedError:  # lora_forward (q2) not written yet: q2's check reports it, q4 does not need it
        return
    except Exception as exc:  # the learner's layer breaks the model's forward pass
        a.fail(f"after {call}, the model's forward pass raised {describe_exception(exc)}.",
               hint="run the model on a few tokens in a new cell; LoRALayer.forward calls your lora_forward (q2).",
               error=True)
    gap = (after - before).abs().max().item()
    if gap > 1e-5:
        a.fail(f"the model's logits changed by up to {gap:.3g} on injection.",
               hint="a fresh LoRA layer must not change the output: B starts at zero (q1), and the base path is "
                    "the base layer's output unchanged (q2).")


@question("q4", points=3)
def q4(a: Answers) -> None:
    """add_lora on the embedded model, and the trainable / total counts by hand."""
    from torch import nn

    with a.part("add_lora wraps the targets and freezes the rest", points=2):
        add_lora = a.function("add_lora")
        cls = a.ns.get("LoRALayer")
        if not isinstance(cls, type) or not issubclass(cls, nn.Module):
            a.fail("`LoRALayer` is not defined.", hint="run q1's cell first: add_lora uses your LoRALayer.")
        try:
            cls(nn.Linear(4, 4), 2, 4)
        except NotImplementedError:
            a.fail("add_lora uses your LoRALayer, which still raises NotImplementedError.", hint="finish q1 first.")
        except Exception as exc:  # the learner's q1 is broken
            a.fail(f"LoRALayer(nn.Linear(4, 4), 2, 4) raised {describe_exception(exc)}.", hint="fix q1 first.")
        _check_injection(a, add_lora, cls, Q4_TARGETS, Q4_R, Q4_ALPHA)
        _check_injection(a, add_lora, cls, *Q4_OTHER)

    with a.part(f"n_trainable, n_total for {Q4_TARGETS} at r = {Q4_R}", points=1):
        want, _, model = _expected(Q4_TARGETS, Q4_R, Q4_ALPHA)
        got_t = a.number(a.value("n_trainable"), "n_trainable")
        got_n = a.number(a.value("n_total"), "n_total")
        base = _fresh_model()
        base_total = base.num_parameters()
        cfg = base.config
        layer0 = base.model.layers[0]
        mods = [layer0.self_attn.q_proj, layer0.self_attn.v_proj, layer0.mlp.down_proj]
        L, r = cfg.num_hidden_layers, Q4_R
        if got_t != want.trainable:
            known = [
                (L * sum(r * m.in_features * m.out_features for m in mods), "r·d·k is the size of nothing here: "
                 "A is r × k and B is d × r, so r·(d + k) per layer."),
                (sum(r * (m.in_features + m.out_features) for m in mods), f"that is one decoder layer; the model has "
                 f"{L}."),
                (want.trainable + L * sum(r + m.out_features for m in mods), "you counted biases: lora_A and lora_B "
                 "have none (bias=False)."),
                (want.trainable + L * sum(m.out_features for m in mods), "you counted a bias for lora_B: A and B "
                 "have none (bias=False)."),
                (L * len(mods) * 2 * r * cfg.hidden_size, "not every target is hidden × hidden: v_proj is "
                 f"{layer0.self_attn.v_proj.out_features} × {cfg.hidden_size} (grouped-query attention) and down_proj "
                 f"is {cfg.hidden_size} × {cfg.intermediate_size}; use each layer's own d and k."),
                (want.trainable + L * sum(m.in_features * m.out_features for m in mods),
                 "you counted the wrapped base weights as trainable; they are frozen."),
                (want.total, "that is the total; n_trainable counts only lora_A and lora_B."),
            ]
            hint = next((why for value, why in known if value == got_t), "Σ over the targeted layers of r·(d + k), "
                        "d × k being each layer's out × in.")
            a.fail(f"n_trainable is {got_t:,.0f}; expected {want.trainable:,}.", hint=hint)
        if got_n != want.total:
            emb = cfg.vocab_size * cfg.hidden_size
            known = [
                (base_total, "that is the base model alone; the total includes the LoRA parameters."),
                (want.total + emb, "the tied embedding and output head are one tensor: count it once."),
                (base_total + emb, "the tied embedding and output head are one tensor, and the LoRA parameters "
                 "count in the total."),
                (want.trainable, "that is n_trainable; n_total is every parameter, frozen ones included."),
                (base_total - L * sum(m.in_features * m.out_features for m in mods),
                 "the wrapped base weights are still in the model (frozen): keep them in the total, and add LoRA."),
            ]
            hint = next((why for value, why in known if value == got_n),
                        "model.num_parameters() of the base model plus the LoRA parameters.")
            a.fail(f"n_total is {got_n:,.0f}; expected {want.total:,}.", hint=hint)
        del model
