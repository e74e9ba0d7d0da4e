"""Checks of lab02, "Estimate before you train" (12 points).

Expected answers are hard-coded (tests/grading/test_lab02.py checks each against the package, and the
parameter counts against transformers' own models built on the meta device): the published
parameter counts of Qwen2.5-0.5B and Qwen2.5-1.5B, counts of configs whose sizes do not divide
(hidden_size not a multiple of num_attention_heads, odd vocabulary and MLP sizes), optimizer bytes of
two real models, activations measured on a CPU (the estimator equals measurement to the byte,
tests/unit/test_memory_estimate.py). When an answer is off, the check recomputes the usual mistakes
(biases forgotten, a tied head counted twice, q_proj taken as hidden × hidden, step counters left out,
GiB instead of bytes, a quadratic attention term, the 20-bytes-per-parameter rule, ...) and names the
one that matches. Hidden variants: q1 two more configs, q2 another model, q3 one more shape.
"""

from __future__ import annotations

from ftcourse.grading.answers import Answers, close, question

QWEN_STYLE = {"model_type": "qwen2", "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 2816,
              "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 2,
              "tie_word_embeddings": False}
QWEN_STYLE_COUNT = 241_751_040
# (config, its parameter count): the visible ones, then the hidden ones
OTHER_CONFIGS = [
    # Qwen2.5-0.5B itself: a tied head (its published count)
    ({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
      "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "tie_word_embeddings": True},
     494_032_768),
    # sizes that do not divide: head_dim = 200 // 6 = 33, so q_proj is 200 → 198, not 200 → 200; tied
    ({"model_type": "qwen2", "vocab_size": 5003, "hidden_size": 200, "intermediate_size": 547,
      "num_hidden_layers": 5, "num_attention_heads": 6, "num_key_value_heads": 2, "tie_word_embeddings": True},
     3_173_450),
]
HIDDEN_CONFIGS = [
    # Qwen2.5-1.5B (tied; its published count)
    ({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
      "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "tie_word_embeddings": True},
     1_543_714_304),
    # untied, no grouping (kv heads = heads), head_dim = 250 // 7 = 35
    ({"model_type": "qwen2", "vocab_size": 7919, "hidden_size": 250, "intermediate_size": 673,
      "num_hidden_layers": 3, "num_attention_heads": 7, "num_key_value_heads": 7, "tie_word_embeddings": False},
     6_212_705),
]
SMOL = "SmolLM2-135M"
OTHER_MODEL = "Qwen2.5-0.5B"  # q2's hidden variant: q/k/v biases, so more tensors per layer than SmolLM2
OPTIMIZER_BYTES = {  # (model, optimizer) -> bytes of optimizer state after one fp32 full fine-tuning step
    (SMOL, "adamw"): 1_076_121_152,  # 8 × 134,515,008 parameters + 4 × 272 step counters
    (SMOL, "adamw_8bit"): 273_445_376,
    (SMOL, "sgd"): 0,
    (OTHER_MODEL, "adamw"): 3_952_263_304,  # 8 × 494,032,768 + 4 × 290
    (OTHER_MODEL, "adamw_8bit"): 1_003_933_184,
    (OTHER_MODEL, "sgd"): 0,
}
OPTIMIZERS = ("adamw", "adamw_8bit", "sgd")
Q3_SHAPES = [(8, 512), (2, 1024)]
Q3_HIDDEN = (3, 700)  # 2,100 tokens: neither a power of two nor a multiple of the visible shapes
ACTIVATIONS = {(8, 512): 442_449_924, (2, 1024): 221_421_572, (3, 700): 226_954_004}  # bytes, measured on a CPU
Q3_TOLERANCE = 0.03
Q4_MODEL = "Qwen2.5-1.5B"
Q4_BATCH, Q4_SEQ = 4, 1024
FULL_GPU = "A100 80 GB"  # the smallest GPU of GPUS for Q4_MODEL, full, mixed precision, AdamW, 4 × 1024
T4 = "T4 16 GB"


def _int_answer(a: Answers, value, what: str) -> int:
    """An int (an integral float or a 0-d tensor is accepted) or a failure naming what came back."""
    number = a.number(value, what)
    if number != int(number):
        a.fail(f"{what} is {number}, not a whole number.",
               hint="parameters and bytes are counted in whole units: divide sizes with // (head_dim = "
                    "hidden_size // num_attention_heads), since hidden_size / num_attention_heads is not whole for "
                    "every config.")
    return int(number)


# -- q1 -------------------------------------------------------------------------------------------
COUNT_HINT = ("with head_dim = h // heads, q = heads · head_dim and kv = kv_heads · head_dim, add up, per layer: "
              "q_proj h·q + q, k_proj and v_proj h·kv + kv each, o_proj q·h, three MLP matrices h·i each, two norms "
              "h each; then the embedding V·h, the final norm h, and the head V·h if untied.")


def _count_mistakes(cfg: dict, want: int) -> list[tuple[int, str]]:
    """Wrong counts -> what the learner probably did: one mistake, whole layers off, then two mistakes at once.

    (value, hint) pairs, first match wins: where two mistakes give the same count, the likelier is listed first.
    """
    h, i, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    head_dim = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * head_dim, cfg["num_key_value_heads"] * head_dim
    tied = cfg["tie_word_embeddings"]
    q_float = cfg["num_attention_heads"] * h / cfg["num_attention_heads"]  # head_dim = h / heads: q is h again
    kv_float = cfg["num_key_value_heads"] * h / cfg["num_attention_heads"]
    float_diff = L * ((h + 1) * (q_float - q) + 2 * (h + 1) * (kv_float - kv) + h * (q_float - q))
    pairs = [  # first match wins where two mistakes happen to give the same difference
        (round(float_diff) if abs(float_diff - round(float_diff)) < 1e-6 else 0,
         f"head_dim = hidden_size // num_attention_heads = {head_dim} (integer division): with /, heads · head_dim "
         f"is hidden_size again ({h}) instead of {q}, and kv_heads · head_dim is a fraction."),
        (-L * (q + 2 * kv), "you forgot the q/k/v biases: Qwen2's q_proj, k_proj and v_proj each add a bias vector "
                            "of their output size, in every layer."),
        (V * h if tied else -V * h,
         "this config ties the head to the embedding (tie_word_embeddings is true): the same matrix, counted once."
         if tied else "this config's head is untied (tie_word_embeddings is false): lm_head is its own vocab × hidden "
         "matrix, on top of the embedding."),
        (L * (h - q) * (2 * h + 1), f"q_proj and o_proj are hidden × (heads · head_dim), and here heads · head_dim = "
                                    f"{cfg['num_attention_heads']} × {head_dim} = {q}, not hidden_size = {h}: "
                                    "head_dim = hidden_size // num_attention_heads."),
        (L * h, "you gave o_proj a bias too; in Qwen2 only q_proj, k_proj and v_proj have biases."),
        (L * (h + 3 * i + h), "you gave every linear a bias; in Qwen2 only q_proj, k_proj and v_proj have them."),
        (-L * 2 * h - h, "you forgot the RMSNorm weights: two vectors of hidden_size per layer and one final norm."),
        (-h, "you forgot the final norm (one vector of hidden_size after the last layer)."),
        (-2 * h * L, "you forgot the two RMSNorm weight vectors of every layer."),
        (2 * h * L + h, "RMSNorm has a weight but no bias (LayerNorm would have both): one vector per norm."),
        (-L * q * h, "you forgot o_proj, the attention output projection (heads·head_dim → hidden)."),
        (-L * h * i, "the MLP has three matrices (gate_proj, up_proj, down_proj), not two."),
        (L * 2 * (h + 1) * (h - kv), "keys and values have num_key_value_heads heads, not num_attention_heads "
         "(grouped-query attention): k_proj and v_proj are hidden × (kv_heads · head_dim)."),
        (L * 2 * (h - kv), "the k and v biases have kv_heads · head_dim values, not hidden_size."),
    ]
    single: dict[int, str] = {}  # difference got − want -> why
    for diff, why in pairs:
        if diff != 0:
            single.setdefault(diff, why)
    table = [(want + diff, why) for diff, why in single.items()]
    per_layer = (want - V * h * (1 if tied else 2) - h) // L
    if per_layer:
        table += [(want + k * per_layer, f"you are {k:+d} layer(s) off: multiply the per-layer count by "
                                         "num_hidden_layers.") for k in range(-L, 3 * L + 1) if k]
    table += [(want + d1 + d2, f"two mistakes: (1) {single[d1]} (2) {single[d2]}")
              for d1 in single for d2 in single if d1 < d2]
    return table


def _expect_count(a: Answers, count_params, cfg: dict, want: int, *, visible: bool) -> None:
    """count_params(cfg) equals `want`, else the likely mistake (sizes named only for a visible config)."""
    got = _int_answer(a, a.call(count_params, dict(cfg)), "count_params(cfg)")
    also = " Read every size from cfg; hard-code nothing."
    sizes = ", ".join(f"{k}={v}" for k, v in cfg.items() if k != "model_type")
    a.expect_equal(got, want, mistakes=[(value, why + also) for value, why in _count_mistakes(cfg, want)],
                   hint=COUNT_HINT + also,
                   message=(f"for the config with {sizes}, count_params returned {got:,}; the model has {want:,} "
                            f"({got - want:+,})." if visible else f"count_params returned {got:,} ({got - want:+,})."))


@question("q1", points=3)
def q1(a: Answers) -> None:
    """Exact parameter count of a Qwen2-style config, by hand."""
    count_params = a.function("count_params")
    with a.part("the lab's config, qwen_style (untied head)", points=1):
        want = QWEN_STYLE_COUNT
        got = _int_answer(a, a.call(count_params, dict(QWEN_STYLE)), "count_params(qwen_style)")
        a.expect_equal(got, want, mistakes=_count_mistakes(QWEN_STYLE, want), hint=COUNT_HINT,
                       message=f"count_params(qwen_style) returned {got:,}; the model has {want:,} parameters "
                               f"({got - want:+,}).")
    with a.part("Qwen2.5-0.5B (a tied head) and a config whose sizes do not divide", points=1):
        for cfg, want in OTHER_CONFIGS:
            _expect_count(a, count_params, cfg, want, visible=True)
    with a.part("Qwen2.5-1.5B, and an untied config without grouped-query attention", points=1, hidden=True):
        for cfg, want in HIDDEN_CONFIGS:
            _expect_count(a, count_params, cfg, want, visible=False)


# -- q2 -------------------------------------------------------------------------------------------
def _in_units(want: float) -> list[tuple[float, str]]:
    """`want` bytes given in GiB, GB, MiB or MB: known mistakes within 1 %."""
    return [(want / unit, "give the answer in bytes, not GiB, GB, MiB or MB.") for unit in (2**30, 1e9, 2**20, 1e6)]


def _optimizer_mistakes(optimizer: str, P: int, T: int) -> list[tuple[float, str]]:
    """Wrong byte counts for `optimizer` on a model of P parameters in T tensors -> what the learner probably did."""
    steps = f"{T} tensors here (count_parameters(cfg).tensors)"
    if optimizer == "adamw":
        return [
            (8 * P, f"you left out the step counters: AdamW keeps one 4-byte fp32 step per parameter tensor, {steps}."),
            (8 * P + 4 * (T + 1), "the tied head is the embedding tensor itself: one tensor, one step counter "
                                  "(count_parameters(cfg).tensors)."),
            (8 * P + 8 * T, "the step counter is a 4-byte fp32 tensor, not 8 bytes."),
            (8 * P + 4, "one step counter per parameter tensor, not one for the whole optimizer."),
            (4 * P + 4 * T, "that is m and v in bf16; this model trains in fp32, so m and v are 4 bytes each."),
            (4 * P, "AdamW keeps two states, m and v, 4 bytes each in fp32, plus the step counters."),
            (12 * P + 4 * T, "you added an fp32 master copy of the weights, as in ZeRO's mixed precision; in fp32 "
                             "training the weights are the master copy: only m and v (8 B/param)."),
            (12 * P, "you added an fp32 master copy (ZeRO); in fp32 training only m and v: 8 B/param, plus steps."),
            (16 * P + 4 * T, "that is weights + gradients + optimizer; the question asks only for the optimizer."),
            (16 * P, "that is weights + gradients + optimizer states; the question asks only for the optimizer."),
        ]
    if optimizer == "adamw_8bit":
        return [
            (2 * P, "you left out the scales: one fp32 absmax per block of 256 values, for m and for v "
                    "(2 × 4 / 256 bytes per parameter)."),
            (P, "there are two states, m and v, one byte each."),
            (P + 4 * P / 256, "there are two states, m and v, each one byte plus its fp32 absmax per 256 values."),
            (2 * P + 2 * 4 * P / 64, "bitsandbytes' optimizer blocks hold 256 values (64 is the NF4 block size)."),
            (8 * P, "that is 32-bit AdamW; 8-bit keeps m and v as one byte each."),
            (8 * P + 4 * T, "that is 32-bit AdamW; 8-bit keeps m and v as one byte each."),
        ]
    return [
        (4 * P, "that is SGD with momentum (one buffer per parameter); plain SGD keeps no state at all."),
        (8 * P, "that is AdamW; plain SGD (no momentum) keeps no state at all."),
        (8 * P + 4 * T, "that is AdamW; plain SGD (no momentum) keeps no state at all."),
    ]


OPTIMIZER_HINTS = {
    "adamw": "m and v: 2 × 4 bytes per parameter, plus 4 bytes per parameter tensor.",
    "adamw_8bit": "2 bytes per parameter for m and v, plus 2 × 4 bytes per 256 parameters of scales.",
    "sgd": "plain SGD (momentum=0) updates w -= lr · grad and keeps nothing between steps.",
}


def _expect_optimizer(a: Answers, optimizer_bytes, model: str, optimizer: str, *, visible: bool) -> None:
    """optimizer_bytes(load_config(model), optimizer) equals the hard-coded bytes (8-bit: within 0.5 %)."""
    from ftcourse.memory import count_parameters, load_config

    counts = count_parameters(model)
    P, T = counts.total, counts.tensors
    want = OPTIMIZER_BYTES[(model, optimizer)]
    call = f"optimizer_bytes({'smol' if model == SMOL else 'cfg'}, {optimizer!r})"
    got = a.number(a.call(optimizer_bytes, load_config(model), optimizer), call)
    rel = 5e-3 if optimizer == "adamw_8bit" else 0.0
    if optimizer == "adamw" and got == int(got):
        got = int(got)  # to the byte
    units = a.mistake(got, _in_units(want), rel=1e-2) if want else None
    if visible:
        message = (f"{call} is {got:,.0f}; {optimizer} holds {want:,} bytes" +
                   (f" ({100 * (got - want) / want:+.2f} %)." if optimizer == "adamw_8bit" else
                    f" ({got - want:+,.0f})." if want else "."))
    else:
        message = f"{call} is {got:,.0f}, expected {want:,}."
    a.expect_close(got, want, rel=rel, mistakes=_optimizer_mistakes(optimizer, P, T),
                   hint=units or OPTIMIZER_HINTS[optimizer], message=message)


@question("q2", points=3)
def q2(a: Answers) -> None:
    """optimizer_bytes(cfg, optimizer): bytes of AdamW, 8-bit AdamW and SGD states for a full fp32 fine-tune."""
    optimizer_bytes = a.function("optimizer_bytes")
    with a.part("SmolLM2-135M with AdamW, to the byte", points=1):
        _expect_optimizer(a, optimizer_bytes, SMOL, "adamw", visible=True)
    with a.part("SmolLM2-135M with 8-bit AdamW (within 0.5 %) and SGD (exactly)", points=1):
        for optimizer in ("adamw_8bit", "sgd"):
            _expect_optimizer(a, optimizer_bytes, SMOL, optimizer, visible=True)
    with a.part(f"{OTHER_MODEL}, all three optimizers", points=1, hidden=True):
        for optimizer in OPTIMIZERS:
            _expect_optimizer(a, optimizer_bytes, OTHER_MODEL, optimizer, visible=False)


# -- q3 -------------------------------------------------------------------------------------------
def _activations(batch: int, seq: int) -> int:
    from ftcourse.memory import estimate_training_memory

    return estimate_training_memory("tiny", method="full", precision="fp32", batch_size=batch,
                                    seq_len=seq).activations


@question("q3", points=3)
def q3(a: Answers) -> None:
    """Predict activations at sizes you may not measure, within 3 %."""
    from ftcourse.memory import count_parameters, estimate_training_memory

    predict = a.function("predict_activations")
    got = {shape: a.number(a.call(predict, *shape), f"predict_activations{shape}") for shape in Q3_SHAPES}
    P = count_parameters("tiny").total
    (b1, s1), (b2, s2) = Q3_SHAPES
    same_for_both = close(got[Q3_SHAPES[0]], got[Q3_SHAPES[1]], rel=1e-3) and b1 * s1 != b2 * s2
    quadratic = close(got[Q3_SHAPES[0]] / (b1 * s1 * s1), got[Q3_SHAPES[1]] / (b2 * s2 * s2), rel=1e-2)
    ratio = got[Q3_SHAPES[0]] / got[Q3_SHAPES[1]] if got[Q3_SHAPES[1]] else 0.0  # tokens: 4096 / 2048 = 2
    one_size = next((name for name, size in (("the sequence length", s1 / s2), ("the batch size", b1 / b2))
                     if close(ratio, size, rel=1e-2)), None)

    def expect(shape: tuple[int, int], g: float) -> None:
        """g = predict_activations(*shape) within Q3_TOLERANCE of the measurement, else the likely mistake."""
        w = ACTIVATIONS[shape]
        static = estimate_training_memory("tiny", batch_size=shape[0], seq_len=shape[1]).total - w
        rule = ("that is the '2 bytes per parameter' idea: no batch or sequence in it. Activations are saved per "
                "token: measure two small shapes and see how the bytes grow with batch × sequence.")
        if same_for_both:  # a shape-independent answer: why, from the two visible shapes
            hint = ("your prediction grows with sequence² × batch; the fused attention kernel (SDPA) never stores "
                    "the sequence × sequence scores, so activations grow linearly with tokens (batch × sequence)."
                    if quadratic else
                    "your prediction is the same for 8 × 512 and 2 × 1024 tokens; it must grow with batch × sequence.")
        elif one_size:
            hint = (f"your prediction grows with {one_size} only: {b1} × {s1} comes out at {ratio:.2g} × "
                    f"{b2} × {s2}, yet it has {b1 * s1 / (b2 * s2):g} × the tokens. Activations are saved per token: "
                    "they grow with batch × sequence.")
        else:
            hint = a.mistake(g, [(w + static, "that includes weights, gradients and optimizer states; predict only "
                                              "`.activations`, the bytes saved for backward.")], rel=2e-2)
        a.expect_close(g, w, rel=Q3_TOLERANCE, mistakes=[(2 * P, rule), (4 * P, rule)], hint=hint or (
                           f"your prediction is {100 * (g / w - 1):+.1f} % off. Measure two or three small shapes "
                           "with measure_step(b, s).activations, divide the difference by the difference in tokens "
                           "(bytes per token), and add the small fixed part."),
                       message=f"predict_activations({shape[0]}, {shape[1]}) = {g:,.0f} bytes; measured {w:,}.")

    with a.part(f"batch {b1} × sequence {s1}", points=1):
        expect((b1, s1), got[(b1, s1)])
    with a.part(f"batch {b2} × sequence {s2} (long sequences)", points=1):
        expect((b2, s2), got[(b2, s2)])
    with a.part(f"batch {Q3_HIDDEN[0]} × sequence {Q3_HIDDEN[1]}", points=1, hidden=True):
        expect(Q3_HIDDEN, a.number(a.call(predict, *Q3_HIDDEN), f"predict_activations{Q3_HIDDEN}"))


# -- q4 -------------------------------------------------------------------------------------------
def _gpu_mistakes(want: str | None, full, needed: int) -> list[tuple[str | None, str]]:
    """Wrong GPU names -> why: a bigger GPU that also holds the run, then what the usual shortcuts pick."""
    from ftcourse.memory import GPUS, accelerate_style, estimate_training_memory, rule_of_thumb, suggest_hardware

    names = [g.name for g in GPUS]
    table: list[tuple[str | None, str]] = []
    if want in names:
        table += [(g.name, f"{g.name} holds it too, but it is not the smallest: {want} comes first in GPUS.")
                  for g in GPUS[names.index(want) + 1 :] if g.usable_bytes >= needed]
    wrong: dict[str | None, str] = {}
    for label, nbytes in [("the 20 B/param rule", rule_of_thumb(Q4_MODEL)),
                          ("accelerate's largest component", accelerate_style(Q4_MODEL, "mixed")),
                          ("the estimate's total (all parts added; they never coexist)", full.total)]:
        gpu = suggest_hardware(nbytes).gpu
        wrong.setdefault(gpu.name if gpu else None, label)
    bf16 = suggest_hardware(estimate_training_memory(Q4_MODEL, precision="bf16", batch_size=Q4_BATCH,
                                                     seq_len=Q4_SEQ)).gpu
    wrong.setdefault(bf16.name if bf16 else None, "pure bf16 instead of autocast (precision='mixed')")
    table += [(name, f"{name!r} is what {label} gives. Estimate this run (precision='mixed', batch 4 × 1024) and "
                     "pass the estimate itself to suggest_hardware: it uses the peak and adds the margin.")
              for name, label in wrong.items()]
    return table


@question("q4", points=3)
def q4(a: Answers) -> None:
    """The smallest GPU for a full fine-tune, and a plan that fits a T4."""
    from ftcourse.memory import GPUS, estimate_training_memory, suggest_hardware

    names = [g.name for g in GPUS]
    with a.part("full_gpu: the smallest GPU for full fine-tuning (mixed precision, AdamW)", points=1):
        full = estimate_training_memory(Q4_MODEL, method="full", precision="mixed", batch_size=Q4_BATCH,
                                        seq_len=Q4_SEQ)
        want = FULL_GPU
        got = a.value("full_gpu", stop=False)
        if got != want and got is not None and got not in names:
            a.fail(f"full_gpu is {got!r}, which is not a GPU of the table.",
                   hint=f"use a name from GPUS exactly: {', '.join(map(repr, names))} (or None).")
        needed = suggest_hardware(full).needed
        a.expect_equal(got, want, mistakes=_gpu_mistakes(want, full, needed) if got != want else None,
                       hint="estimate_training_memory('Qwen2.5-1.5B', method='full', precision='mixed', batch_size=4, "
                            "seq_len=1024), then suggest_hardware(estimate).gpu.name.",
                       message=f"full_gpu is {got!r}; this run needs {gib_text(needed)} with the margin.")
    with a.part("plan: batch 4 × 1024 on a T4", points=2):
        plan = a.value("plan", dict, stop=False)
        if "config" in plan:
            a.fail("plan contains 'config'; leave the model out, the check estimates Qwen2.5-1.5B.",
                   hint="only keyword arguments such as method, precision, activation_checkpointing, r.")
        if plan.get("batch_size") != Q4_BATCH or plan.get("seq_len") != Q4_SEQ:
            a.fail(f"plan has batch_size={plan.get('batch_size')!r}, seq_len={plan.get('seq_len')!r}; the run is "
                   f"batch {Q4_BATCH} × {Q4_SEQ}.", hint="keep batch_size=4 and seq_len=1024 in the plan; change "
                   "the method, precision, optimizer or checkpointing instead.")
        if plan.get("precision") == "bf16":
            a.fail("a T4 has no bf16.", hint="use precision='fp16': the same 2 bytes, supported by a T4.")
        try:
            est = estimate_training_memory(Q4_MODEL, **plan)
        except (TypeError, ValueError) as exc:
            a.fail(f"estimate_training_memory('Qwen2.5-1.5B', **plan) raised {type(exc).__name__}: {exc}",
                   hint="keys: method, precision, optimizer, batch_size, seq_len, activation_checkpointing, r, "
                   "target_modules, double_quant; values as in lesson 02.")
        suggestion = suggest_hardware(est)
        if T4 not in suggestion.fits:
            method = plan.get("method", "full")
            if method == "full":
                hint = ("full fine-tuning of 1.5 B parameters holds gradients and optimizer states for all of them; "
                        "try method='lora' or 'qlora'.")
            elif not plan.get("activation_checkpointing"):
                hint = ("with 4 × 1024 tokens the activations dominate: turn on activation_checkpointing=True "
                        "(or try QLoRA).")
            else:
                hint = "try method='qlora', a smaller r, or fewer target modules."
            a.fail(f"your plan needs {gib_text(suggestion.needed)} with the margin; a T4 offers "
                   f"{gib_text(GPUS[names.index(T4)].usable_bytes)}.", hint=hint)


def gib_text(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB"
