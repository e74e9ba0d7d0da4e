"""Train the embedded tiny model from scratch: ``python -m ftcourse.models.build_tiny``.

A Llama-architecture causal LM with grouped-query attention (module names ``q_proj`` …
``down_proj`` as in Llama, Qwen and SmolLM), a byte-level BPE tokenizer of its own, trained
on the standard library's documentation (``ftcourse.data.corpus``). Everything is seeded
and the number of steps is fixed, so a rerun on the same machine gives the same model.
It writes config, weights, tokenizer, ``checksums.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ftcourse.data.corpus import load_documents

TINY_DIR = Path(__file__).with_name("tiny")
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"}


@dataclass(frozen=True)
class BuildSettings:
    """Everything that decides the model; recorded in the model card."""

    vocab_size: int = 4096
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    seq_len: int = 256
    batch_size: int = 16
    steps: int = 1800
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0
    eval_batches: int = 16


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (no unknown tokens) that prepends <s> to every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos = SPECIAL_TOKENS["bos_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1024, **SPECIAL_TOKENS)


def make_config(s: BuildSettings, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        intermediate_size=s.intermediate_size,
        num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads,
        num_key_value_heads=s.num_key_value_heads,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def token_stream(texts: list[str], tokenizer) -> torch.Tensor:
    """All documents as one stream of ids: <s> document </s> <s> document </s> …"""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for enc in tokenizer(texts, verbose=False)["input_ids"]:
        ids.extend(enc)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def eval_loss(model, stream: torch.Tensor, seq_len: int, max_batches: int) -> float:
    """Mean next-token loss over consecutive non-overlapping windows of a token stream."""
    n = min((len(stream) - 1) // seq_len, max_batches * 8)
    windows = stream[: n * seq_len].view(n, seq_len)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for chunk in windows.split(8):
            out = model(input_ids=chunk, labels=chunk)
            total += out.loss.item() * chunk.numel()
            count += chunk.numel()
    model.train()
    return total / count


def _lr_at(step: int, s: BuildSettings) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    model, stream: torch.Tensor, s: BuildSettings, heldout: torch.Tensor | None = None, log_every: int = 100
) -> list[tuple[int, float, float | None]]:
    """Next-token training on random windows of the stream.

    Returns (step, mean training loss, held-out loss) every log_every steps; the held-out
    loss (4 batches) is measured every 3 × log_every steps when a held-out stream is given.
    """
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(s.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=s.lr, betas=(0.9, 0.95),
    )
    history = []
    running = 0.0
    model.train()
    bar = tqdm(range(s.steps), desc="training tiny model", mininterval=5)
    for step in bar:
        starts = torch.randint(0, len(stream) - s.seq_len - 1, (s.batch_size,), generator=gen)
        batch = torch.stack([stream[i : i + s.seq_len] for i in starts.tolist()])
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, s)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        running += loss.item()
        if (step + 1) % log_every == 0:
            held = None
            if heldout is not None and (step + 1) % (3 * log_every) == 0:
                held = eval_loss(model, heldout, s.seq_len, 4)
            history.append((step + 1, running / log_every, held))
            bar.set_postfix(loss=f"{running / log_every:.3f}")
            running = 0.0
    return history


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checksums(out: Path) -> None:
    files = sorted(p.name for p in out.iterdir() if p.is_file() and p.name not in {"checksums.json", "MODEL_CARD.md"})
    (out / "checksums.json").write_text(json.dumps({name: sha256(out / name) for name in files}, indent=2) + "\n")


SAMPLE_PROMPTS = ("The", "A list is", "Return the", "If the file")


def build(s: BuildSettings, out: Path, samples: tuple[str, ...] = SAMPLE_PROMPTS) -> dict:
    """Train tokenizer and model with settings s and write everything to out; returns the card's facts."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(s.seed)
    random.seed(s.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    train_texts = [d.text for d in load_documents("train")]
    heldout_texts = [d.text for d in load_documents("heldout")]
    tokenizer = train_tokenizer(train_texts, s.vocab_size)
    train_stream = token_stream(train_texts, tokenizer)
    heldout_stream = token_stream(heldout_texts, tokenizer)
    config = make_config(s, tokenizer)
    model = LlamaForCausalLM(config)
    untrained = eval_loss(model, heldout_stream, s.seq_len, s.eval_batches)
    t1 = time.perf_counter()
    history = train(model, train_stream, s, heldout_stream)
    t2 = time.perf_counter()
    trained = eval_loss(model, heldout_stream, s.seq_len, s.eval_batches)
    train_final = eval_loss(model, train_stream, s.seq_len, s.eval_batches)

    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_checksums(out)

    model.eval()
    generations = []
    for prompt in samples:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=40, do_sample=False, repetition_penalty=1.3)
        generations.append((prompt, tokenizer.decode(gen[0], skip_special_tokens=True)))
    facts = {
        "settings": asdict(s),
        "parameters": model.num_parameters(),
        "train_documents": len(train_texts),
        "heldout_documents": len(heldout_texts),
        "train_tokens": len(train_stream),
        "heldout_tokens": len(heldout_stream),
        "tokens_seen": s.steps * s.batch_size * s.seq_len,
        "untrained_heldout_loss": untrained,
        "trained_heldout_loss": trained,
        "trained_train_loss": train_final,
        "prep_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "history": history,
        "generations": generations,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
    }
    (out / "MODEL_CARD.md").write_text(model_card(facts))
    return facts


def model_card(f: dict) -> str:
    s = f["settings"]
    ppl = math.exp
    rows = "\n".join(
        f"| {step} | {loss:.3f} | {'' if held is None else f'{held:.3f}'} |" for step, loss, held in f["history"]
    )
    gens = "\n".join(f"- `{p!r}` → {g!r}" for p, g in f["generations"])
    return f"""# ftcourse tiny model

The course's embedded model for smoke mode: it runs offline on a CPU and has the module
names of real Llama-family models (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`,
`up_proj`, `down_proj`), so every lesson's code runs unchanged on SmolLM2, Qwen2.5 or Llama.
It is small and only knows Python's documentation: good for seeing fine-tuning work,
not for answering questions.

## Architecture
LlamaForCausalLM, {f['parameters']:,} parameters (embeddings tied to the output head),
{s['num_hidden_layers']} layers, hidden size {s['hidden_size']}, MLP {s['intermediate_size']},
{s['num_attention_heads']} query heads sharing {s['num_key_value_heads']} key/value heads
(grouped-query attention), RoPE, RMSNorm, SwiGLU, no biases. Byte-level BPE tokenizer with
{s['vocab_size']} tokens; `<s>` is prepended to every text, `</s>` ends a document, `<pad>` pads.
Weights: {f['weights_bytes'] / 2**20:.1f} MiB (fp32 safetensors).

## Data
English documentation that ships with Python {f['python']}: the interpreter's help topics
(`pydoc_data.topics`) and the docstrings (at least 120 characters) of the standard library's
source files, without tests and tools (`ftcourse.data.corpus`). One document in twenty,
chosen by a CRC32 of its name, is held out: {f['train_documents']:,} training documents
({f['train_tokens']:,} tokens) and {f['heldout_documents']:,} held-out documents
({f['heldout_tokens']:,} tokens).

## Training
`python -m ftcourse.models.build_tiny` — seed {s['seed']}, {s['steps']:,} steps of AdamW
(lr {s['lr']}, betas 0.9/0.95, weight decay {s['weight_decay']}, {s['warmup_steps']} warm-up steps,
cosine to 10 %), batch {s['batch_size']} × {s['seq_len']} tokens ({f['tokens_seen']:,} tokens seen,
about {f['tokens_seen'] / f['train_tokens']:.1f} passes), gradient clipping 1.0, fp32 on CPU with
{f['threads']} threads, torch {f['torch']}. Training took {f['train_seconds'] / 60:.1f} minutes
(plus {f['prep_seconds']:.0f} s for the corpus and tokenizer).

| step | training loss (mean of last 100 steps) | held-out loss (4 batches) |
|---:|---:|---:|
{rows}

## Results (held-out documents, {s['seq_len']}-token windows)
| model | loss | perplexity |
|---|---:|---:|
| untrained (random init) | {f['untrained_heldout_loss']:.3f} | {ppl(f['untrained_heldout_loss']):,.1f} |
| trained | {f['trained_heldout_loss']:.3f} | {ppl(f['trained_heldout_loss']):,.1f} |
| trained, on training text | {f['trained_train_loss']:.3f} | {ppl(f['trained_train_loss']):,.1f} |

Greedy samples (repetition penalty 1.3, 40 new tokens):
{gens}

## Limits
A few million parameters trained for minutes: it writes documentation-flavoured English,
not facts. Use it to watch losses fall and outputs change, and the full-mode models for
anything you would show as quality.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TINY_DIR, help="where to write (default: the package's tiny/)")
    parser.add_argument("--steps", type=int, default=BuildSettings.steps)
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    facts = build(BuildSettings(steps=args.steps), args.out)
    print(
        f"wrote {args.out}: {facts['parameters']:,} parameters, held-out perplexity "
        f"{math.exp(facts['untrained_heldout_loss']):,.1f} untrained → "
        f"{math.exp(facts['trained_heldout_loss']):,.1f} trained, "
        f"{facts['train_seconds'] / 60:.1f} min training"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
