"""Checks of lab07, "A LoRA within a budget" (10 points).

Every reference is rebuilt here, never read from the notebook's results: q1 wraps a fresh classifier
with the learner's `LoraConfig` and counts; q2 measures validation accuracy itself; q3 reads the saved
folder from disk; q4 loads that folder again with peft and compares logits. Nothing is written
anywhere. When an answer is off, the check names the likely mistake (budget exceeded and by how much,
the new head left frozen, training stalled at chance by too large a lora_alpha × lr, the whole model saved
instead of the adapter, an adapter rebuilt from the config instead of loaded with its weights, ...).
peft models are built inside `ftcourse.compat.quiet()`, which hides one harmless peft deprecation warning
for that block only: the learner's kernel keeps its own warning filters. What the hints say about
lora_alpha × lr is read from the course's reference sweep for this lab
(`experiments.reference_sweep("lab07")`), not written from memory. The answers are a config, a trained
model and a folder, so there is no hidden variant to re-run; the expected numbers are the budget and
4 bytes per trainable parameter.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import struct
from pathlib import Path

from ftcourse.compat import import_peft, quiet
from ftcourse.grading.answers import Answers, question

BUDGET = 100_000  # trainable parameters, head included
MIN_SHARE = 0.8  # use at least this share of the budget
MAX_LENGTH = 48
MIN_ACCURACY = 0.6  # chance is 0.5 on two balanced classes; a 400-sentence validation set, so ±0.025 by luck
CHANCE_BAND = 0.56  # below this, accuracy is chance level
STALLED_LOSS = 0.65  # a final loss still about ln 2 = 0.69 (guessing on two classes): training did not take off
ATOL = 1e-5  # logits of a reloaded adapter: the same weights and operations, so equal up to this (the prose's 1e-5)
HEAD = "score"
HEADER_SLACK = 64 * 1024  # the safetensors header: names, shapes and offsets in JSON


@functools.cache
def sweep_step_sizes() -> dict[str, tuple[float, tuple[float, ...]]]:
    """Setting -> (lora_alpha × lr, accuracies over the seeds) in the course's reference sweep for this lab."""
    from ftcourse import experiments

    baseline = experiments.settings("lab07").baseline
    _, runs = experiments.reference_sweep("lab07")
    rows: dict[str, tuple[float, list[float]]] = {}
    for run in runs:
        setting = {**baseline, **run.settings}
        rows.setdefault(run.name, (setting["lora_alpha"] * setting["lr"], []))[1].append(run.accuracy)
    return {name: (step, tuple(accs)) for name, (step, accs) in rows.items()}


def step_size_bounds() -> tuple[float, float]:
    """(largest lora_alpha × lr at which every seed of the sweep reached MIN_ACCURACY, smallest at which none did)."""
    rows = sweep_step_sizes().values()
    trained = [step for step, accs in rows if min(accs) >= MIN_ACCURACY]
    stalled = [step for step, accs in rows if max(accs) < MIN_ACCURACY]
    return max(trained), min(stalled)


def _sweep_says() -> str:
    """What the reference sweep measured about lora_alpha × lr, in one clause."""
    ok, bad = step_size_bounds()
    seeds = min(len(accs) for _, accs in sweep_step_sizes().values())
    return (f"in the course's reference sweep for this lab (experiments.reference_sweep('lab07'), {seeds} seeds per "
            f"setting), every setting with lora_alpha × lr up to {ok:.2g} reached {MIN_ACCURACY:.0%} on every seed, "
            f"and every one from {bad:.2g} on stayed below it on every seed, near chance")


def _fresh_classifier():
    import torch

    from ftcourse import env, models

    env.seed_everything(0)
    return models.load_classifier("small", dtype=torch.float32, device="cpu")


def _counts(model) -> tuple[int, int, bool]:
    """(trainable, total, head trains) as print_trainable_parameters counts them."""
    from ftcourse.lora import trainable_parameters

    report = trainable_parameters(model)
    head = any(p.requires_grad for n, p in model.named_parameters() if f".{HEAD}." in f".{n}" and "lora_" not in n)
    return report.trainable, report.total, head


def _per_rank_hint(config) -> str:
    r = getattr(config, "r", None)
    return (f"each adapted d × k layer adds r · (d + k) parameters, so the count grows in proportion to r "
            f"(yours: r={r}); lower r or adapt fewer module types. Build it with get_peft_model and read "
            "print_trainable_parameters() before you run the check.")


def _budget_model(a: Answers):
    """The learner's config, built on a fresh classifier: (config, model) or a stopping failure."""
    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft import LoraConfig, get_peft_model

    config = a.value("lora_config")
    if not isinstance(config, LoraConfig):
        a.fail(f"`lora_config` should be a peft LoraConfig, but it is a {type(config).__name__}.",
               hint="lora_config = LoraConfig(task_type='SEQ_CLS', r=..., target_modules=[...]).", stop=True)
    base = _fresh_classifier()
    with quiet():  # outside a part: get_peft_model refusing the config ends the question
        model = a.call(get_peft_model, base, copy.deepcopy(config),
                       hint="get_peft_model could not use `lora_config`; build it in a new cell to see the full error.")
    targets = config.target_modules
    if isinstance(targets, list | set | tuple):
        adapted = list(model.targeted_module_names)
        unused = sorted(t for t in targets if not any(n == t or n.endswith("." + t) for n in adapted))
        if unused:
            leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"
                             and not n.endswith("base_layer")
                             and "lora_" not in n and "modules_to_save" not in n and "original_module" not in n})
            a.fail(f"target_modules {unused} match no layer of this model; peft skips them silently.",
                   hint=f"the linear layers are named {', '.join(leaves)}.", stop=True)
    return config, model


# -- q1 -------------------------------------------------------------------------------------------
@question("q1", points=3)
def q1(a: Answers) -> None:
    """A LoraConfig with at most BUDGET trainable parameters (at least 80 % of it), head included."""
    config, model = _budget_model(a)
    trainable, total, head = _counts(model)
    with a.part("the new classification head `score` trains", points=1):
        if not head:
            lora_on_head = any(f"{HEAD}.lora_" in n for n, _ in model.named_parameters())
            a.fail("the classification head `score` is frozen" + (" (it only got a LoRA adapter, which cannot "
                   "repair a random weight)" if lora_on_head else "") + ": it was just initialised at random, so "
                   "the model cannot learn to map its features to the labels.",
                   hint="say task_type='SEQ_CLS' in the LoraConfig (peft then trains the head as a "
                        "modules_to_save copy), or modules_to_save=['score'].")
    with a.part(f"at most {BUDGET:,} trainable parameters", points=1):
        if trainable > BUDGET:
            a.fail(f"your config trains {trainable:,} parameters: {trainable - BUDGET:,} over the budget of "
                   f"{BUDGET:,} ({100 * trainable / BUDGET:.0f} %).", hint=_per_rank_hint(config))
    with a.part(f"uses at least {MIN_SHARE:.0%} of the budget ({math.ceil(MIN_SHARE * BUDGET):,})", points=1):
        if trainable < MIN_SHARE * BUDGET:
            a.fail(f"your config trains only {trainable:,} parameters, {100 * trainable / BUDGET:.0f} % of the "
                   f"budget.", hint="raise r or adapt more module types (k_proj, o_proj, the MLP's gate_proj, "
                   "up_proj, down_proj) until you are just under the budget.")


# -- q2 -------------------------------------------------------------------------------------------
def _learner_peft_model(a: Answers):
    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft import PeftModel

    if "peft_model" not in a.ns or a.ns["peft_model"] is Ellipsis:
        a.fail("`peft_model` is not defined yet.", hint="build and train it in q2's cell first, and run that "
               "cell (Shift+Enter).", stop=True)
    model = a.value("peft_model")
    if not isinstance(model, PeftModel):
        a.fail(f"`peft_model` should be a PeftModel (what get_peft_model returns), but it is a "
               f"{type(model).__name__}.", hint="peft_model = get_peft_model(fresh_classifier(), lora_config).",
               stop=True)
    return model


def _accuracy_hint(model, losses, acc: float) -> str:
    """Why accuracy is short: barely missed, stalled at chance (alpha × lr too large), or never trained."""
    if acc >= CHANCE_BAND:
        return ("close: train for two epochs (epochs=2) with a learning rate of about 3e-3; adapting the MLP as "
                "well as attention helps too, within the budget.")
    numbers = isinstance(losses, list) and len(losses) >= 8 and all(isinstance(x, int | float) for x in losses)
    quarter = max(2, len(losses) // 4) if numbers else 1
    last = sum(losses[-quarter:]) / quarter if numbers else 0.0
    if not numbers or last < STALLED_LOSS:
        return "this is chance level: was peft_model trained at all? Train it with train.train."
    config = getattr(model, "peft_config", {}).get("default")
    alpha, r = getattr(config, "lora_alpha", None), getattr(config, "r", None)
    yours = "a large lora_alpha"
    if isinstance(alpha, int | float) and isinstance(r, int) and r > 0:
        from ftcourse.lora import lora_scaling

        rs = bool(getattr(config, "use_rslora", False))
        scale = f"alpha/{'sqrt(r)' if rs else 'r'} = {lora_scaling(r, alpha, rs):.3g}"
        yours = f"your lora_alpha={alpha:g} (r={r}, {scale})"
    ok, _ = step_size_bounds()
    return (f"training stalled at chance: the mean loss of the last {quarter} steps is still {last:.2f}, about "
            f"ln 2 ≈ 0.69, what guessing costs. Suspect {yours} with your learning rate: with Adam every LoRA "
            "weight moves by about lr per step, so the step of W grows with lora_alpha × lr. Lower the product: "
            f"e.g. lr=3e-3 with lora_alpha ≤ {math.floor(ok / 3e-3 + 1e-9)}; {_sweep_says()}.")


@question("q2", points=3)
def q2(a: Answers) -> None:
    """Train the budgeted LoRA briefly: the loss falls and validation accuracy beats chance clearly."""
    from ftcourse import data, evaluate, models

    model = _learner_peft_model(a)
    trainable, _, head = _counts(model)
    if trainable > BUDGET:
        a.fail(f"`peft_model` trains {trainable:,} parameters, {trainable - BUDGET:,} over the budget.",
               hint="build it from your q1 config with get_peft_model: it freezes every base weight. Did you "
                    "set requires_grad on base weights, or train a model without LoRA?", stop=True)
    if not head:
        a.fail("the head `score` of `peft_model` is frozen.", hint="build peft_model from a config with "
               "task_type='SEQ_CLS' (q1).", stop=True)
    with a.part("the training loss fell", points=1):
        history = a.value("history")
        losses = getattr(history, "losses", None)
        if not isinstance(losses, list) or len(losses) < 8:
            a.fail("`history` should be what train.train returns, with a loss per step (at least 8).",
                   hint="history = train.train(peft_model, train.classification_batches(tok, train_set, "
                        "batch_size=16, max_length=MAX_LENGTH), epochs=2, lr=...).")
        quarter = max(2, len(losses) // 4)
        first, last = sum(losses[:quarter]) / quarter, sum(losses[-quarter:]) / quarter
        if not last < first:
            a.fail(f"the mean loss of the last {quarter} steps ({last:.3f}) is not below that of the first "
                   f"{quarter} ({first:.3f}).", hint="a learning rate of a few 1e-3 suits LoRA here. Too low leaves "
                   "the loss flat; so does too large a step, lora_alpha × lr, which keeps it near ln 2 ≈ 0.69 or "
                   f"makes it jump: {_sweep_says()}.")
    with a.part(f"validation accuracy at least {MIN_ACCURACY:.0%}", points=2):
        tok = models.load_tokenizer("small")
        val = data.sentiment_dataset()["validation"]
        acc = evaluate.accuracy(model, tok, val, max_length=MAX_LENGTH)
        if acc < MIN_ACCURACY:
            a.fail(f"peft_model classifies {acc:.1%} of the {len(val)} validation sentences correctly; "
                   f"at least {MIN_ACCURACY:.0%} is needed (chance: 50 %).", hint=_accuracy_hint(model, losses, acc))


# -- q3 -------------------------------------------------------------------------------------------
def _adapter_folder(a: Answers) -> Path:
    value = a.value("adapter_dir")
    if not isinstance(value, str | Path):
        a.fail(f"`adapter_dir` should be a folder path (str or Path), but it is a {type(value).__name__}.",
               stop=True)
    folder = Path(value)
    if not folder.is_dir():
        a.fail(f"{folder} is not a folder.", hint="peft_model.save_pretrained(adapter_dir) creates it.", stop=True)
    return folder


def _header_bytes(path: Path) -> int:
    with open(path, "rb") as f:
        return 8 + struct.unpack("<Q", f.read(8))[0]


@question("q3", points=2)
def q3(a: Answers) -> None:
    """The adapter saved in peft's format, as big as its trainable parameters."""
    folder = _adapter_folder(a)
    model = _learner_peft_model(a)
    names = {p.name for p in folder.iterdir()}
    trainable, total, _ = _counts(model)
    with a.part("adapter_config.json and adapter_model.safetensors, and no whole model", points=1):
        if names & {"model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"}:
            a.fail(f"{folder} holds a whole model ({', '.join(sorted(names))}).",
                   hint="save only the adapter: peft_model.save_pretrained(adapter_dir), not "
                        "merge_and_unload().save_pretrained(...) or the base model's save_pretrained.")
        if "adapter_model.bin" in names and "adapter_model.safetensors" not in names:
            a.fail("the weights were saved as adapter_model.bin (pickle).",
                   hint="keep the default safe_serialization=True.")
        missing = {"adapter_config.json", "adapter_model.safetensors"} - names
        if missing:
            a.fail(f"{folder} lacks {', '.join(sorted(missing))}; it holds {', '.join(sorted(names)) or 'nothing'}.",
                   hint="peft_model.save_pretrained(adapter_dir).")
    with a.part("the weights file holds the trainable parameters and nothing else", points=1):
        weights = folder / "adapter_model.safetensors"
        if not weights.is_file():
            a.fail("there is no adapter_model.safetensors to measure.")
        size = weights.stat().st_size
        data_bytes = size - _header_bytes(weights)
        if data_bytes >= 4 * total:
            hint = "the file holds the frozen base weights too: save the adapter, not the model."
        elif data_bytes < 4 * trainable:
            hint = ("tensors are missing: was the adapter saved before the head became trainable, or from another "
                    "model? Save `peft_model` itself.")
        else:
            hint = "save `peft_model` itself, after training, with save_pretrained."
        a.expect_equal(data_bytes, 4 * trainable, mistakes={
            2 * trainable: "the tensors are 16-bit; this lab trains and saves in fp32 (4 bytes per parameter).",
        }, hint=hint, message=f"adapter_model.safetensors holds {data_bytes:,} bytes of tensors ({size:,} with the "
                              f"header); 4 bytes × {trainable:,} trainable parameters = {4 * trainable:,}.")
        if size > 4 * trainable + HEADER_SLACK:
            a.fail(f"the file is {size:,} bytes, far more than 4 × {trainable:,} plus a header.")
        config = json.loads((folder / "adapter_config.json").read_text())
        own = model.peft_config.get("default")
        for key in ("r", "lora_alpha"):
            if own is not None and config.get(key) != getattr(own, key):
                a.fail(f"adapter_config.json says {key}={config.get(key)!r}, but peft_model has "
                       f"{key}={getattr(own, key)!r}.", hint="save `peft_model` after training, into adapter_dir.")


# -- q4 -------------------------------------------------------------------------------------------
def _probe(tok, val):
    return tok(list(val["sentence"][:32]), return_tensors="pt", padding=True, truncation=True,
               max_length=MAX_LENGTH)


def _logits(model, batch):
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            return model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu()
    finally:
        model.train(was)


@question("q4", points=2)
def q4(a: Answers) -> None:
    """The saved adapter reloads onto a fresh base model with the same outputs."""
    import_peft()  # quiet: its first import logs a bitsandbytes line
    from peft import PeftModel

    from ftcourse import data, models

    reloaded = a.value("reloaded")
    trained = _learner_peft_model(a)
    folder = _adapter_folder(a)
    if not isinstance(reloaded, PeftModel):
        a.fail(f"`reloaded` should be a PeftModel, but it is a {type(reloaded).__name__}.",
               hint="reloaded = PeftModel.from_pretrained(fresh_classifier(), adapter_dir).", stop=True)
    if reloaded is trained:
        a.fail("`reloaded` is `peft_model` itself: that compares the model with itself.",
               hint="load a new copy from the folder: PeftModel.from_pretrained(fresh_classifier(), adapter_dir).",
               stop=True)
    if reloaded.get_base_model() is trained.get_base_model():
        a.fail("`reloaded` wraps the same base model object as `peft_model`.",
               hint="start from a fresh base model: PeftModel.from_pretrained(fresh_classifier(), adapter_dir).",
               stop=True)
    tok = models.load_tokenizer("small")
    batch = _probe(tok, data.sentiment_dataset()["validation"])
    want = _logits(trained, batch)
    with a.part("reloaded gives peft_model's logits", points=1):
        b_zero = all(float(p.detach().abs().sum()) == 0 for n, p in reloaded.named_parameters() if "lora_B" in n)
        a.expect_close(_logits(reloaded, batch), want, rel=0.0, abs=ATOL, hint=(
            "every lora_B of `reloaded` is zero: that is a new, untrained adapter. get_peft_model builds one from a "
            "config; PeftModel.from_pretrained(base, adapter_dir) loads the weights." if b_zero else
            "load the folder you saved in q3 onto a fresh classifier, and save again if you trained peft_model "
            "further after saving."),
            message=lambda got, w: f"the largest logit difference between `reloaded` and `peft_model` is "
                                   f"{(got - w).abs().max().item():.2e} (at most {ATOL:g} allowed).")
    with a.part("the folder itself reloads to the same logits", points=1):
        base = _fresh_classifier()
        with quiet():
            fresh = a.call(PeftModel.from_pretrained, base, str(folder), hint="peft could not load adapter_dir; "
                           "load it in a new cell to see the full error.")
        a.expect_close(_logits(fresh, batch), want, rel=0.0, abs=ATOL,
                       hint="save peft_model again after the last training step "
                            "(peft_model.save_pretrained(adapter_dir)), then reload.",
                       message=lambda got, w: f"loading adapter_dir onto a fresh classifier gives logits up to "
                                              f"{(got - w).abs().max().item():.2e} away from peft_model's.")
