"""A stand-in Hugging Face hub on disk, for running full mode with no GPU and no network (a dry run).

`build(root)` writes, under the real hub ids, what full mode downloads:
- every model of the registry (`models.registry.ARCHITECTURES`) as a small RANDOM model of its real
  architecture family (Llama for SmolLM2 / Llama-3.2, Qwen2 with its q/k/v biases for Qwen2.5,
  Mistral): the shipped config.json with its dimensions scaled down (`TINY_DIMS`), module names
  unchanged, and the embedded model's tokenizer (4,096 tokens), so the vocabulary fits;
- SST-2 (`stanfordnlp/sst2`: train / validation / an unlabelled test, label -1, as on the hub) from the
  package's generated reviews, and WikiText-2 (`Salesforce/wikitext`, `wikitext-2-raw-v1`: one line
  per row, " = Title = " headings) from Python's help topics, both small (`SIZES`).
`StandinHub.environ()` gives the variables that point transformers and datasets at it, offline
(HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1), with FTCOURSE_MODE=full and FTCOURSE_DRY_RUN=1.
The numbers such a run prints mean nothing (random weights); it proves that full mode's code runs.

    python -m ftcourse.standin /tmp/standin     # builds it (seconds) and prints the `export` lines
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ftcourse.models import registry

COMMIT = "0" * 40  # the one snapshot of every stand-in repository
# Dimensions of every stand-in model; everything else (family, rope, norms, biases, tying) is the shipped config's.
TINY_DIMS: dict[str, int] = dict(num_hidden_layers=2, hidden_size=64, head_dim=16, num_attention_heads=4,
                                 num_key_value_heads=2, intermediate_size=128)
# Rows per split of the stand-in datasets (the real SST-2 has 67,349 / 872 / 1,821; WikiText-2 600 articles).
SIZES: dict[str, dict[str, int]] = {
    "sst2": {"train": 256, "validation": 128, "test": 32},
    "wikitext": {"train": 40, "validation": 30},  # articles (Python's 79 help topics; the test split gets the rest)
}
SST2 = ("stanfordnlp/sst2", "default")
WIKITEXT = ("Salesforce/wikitext", "wikitext-2-raw-v1")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_DROPPED_KEYS = ("transformers_version", "_name_or_path", "dtype", "torch_dtype")


@dataclass(frozen=True)
class StandinHub:
    """Where a stand-in hub lies; `environ()` is what a process needs to use it."""

    root: Path

    @property
    def hub_cache(self) -> Path:
        return self.root / "hub"

    @property
    def datasets_cache(self) -> Path:
        return self.root / "datasets"

    def environ(self) -> dict[str, str]:
        """Environment variables for a full-mode dry run against this cache, with nothing reaching the network."""
        return {
            "FTCOURSE_MODE": "full", "FTCOURSE_DRY_RUN": "1",
            "HF_HOME": str(self.root / "home"), "HF_HUB_CACHE": str(self.hub_cache),
            "HF_DATASETS_CACHE": str(self.datasets_cache),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }


def standin_config(architecture: str) -> dict:
    """The shipped config of `architecture` with `TINY_DIMS` and the embedded tokenizer's vocabulary and token ids.

    `build` may pad vocab_size further when the family's tokenizer class adds tokens.
    """
    registry_path = registry.config_path(architecture, "full")
    if registry_path is None or registry.architecture_of(architecture) is None:
        raise ValueError(f"unknown architecture {architecture!r}; valid choices: {', '.join(registry.ARCHITECTURES)}")
    config = {k: v for k, v in json.loads(registry_path.read_text()).items() if k not in _DROPPED_KEYS}
    tiny = json.loads((registry.TINY_DIR / "config.json").read_text())
    config.update(TINY_DIMS)
    for key in ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id"):  # the tokenizer's, so ids fit
        config[key] = tiny[key]
    return config


def _write_model(architecture: str, directory: Path, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    for fname in TOKENIZER_FILES:
        shutil.copy(registry.TINY_DIR / fname, directory / fname)
    config = AutoConfig.for_model(**standin_config(architecture))
    config.save_pretrained(directory)
    # the family's tokenizer class may add tokens (Qwen2's adds <|endoftext|>): pad the embeddings to fit them,
    # as the real checkpoints do (Qwen2.5: 151,936 rows for 151,665 tokens)
    n_tokens = len(AutoTokenizer.from_pretrained(directory))
    config.vocab_size = max(config.vocab_size, -(-n_tokens // 64) * 64)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # transformers zeroes linear biases; random ones make Qwen2's q/k/v biases matter
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.normal_(0.0, 0.02)
    logging.disable_progress_bar()  # "Writing model shards" for a 1 MB file
    try:
        model.save_pretrained(directory)
    finally:
        logging.enable_progress_bar()


def _snapshot(cache: Path, kind: str, repo_id: str) -> Path:
    """The snapshot folder of `repo_id` in a hub cache laid out as huggingface_hub writes it (refs/main -> COMMIT)."""
    repo = cache / f"{kind}--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def _write_dataset(cache: Path, repo_id: str, config_name: str, splits: dict[str, dict[str, list]],
                   features) -> None:
    """Write `splits` where `datasets.load_dataset(repo_id, config_name)` finds a cached copy when offline."""
    import datasets
    from datasets.arrow_writer import ArrowWriter
    from datasets.naming import camelcase_to_snakecase

    namespace, name = repo_id.split("/")
    folder = cache / f"{namespace}___{camelcase_to_snakecase(name)}" / config_name / "0.0.0" / COMMIT[:16]
    folder.mkdir(parents=True, exist_ok=True)
    infos = datasets.SplitDict(dataset_name=name)
    for split, columns in splits.items():
        path = folder / f"{camelcase_to_snakecase(name)}-{split}.arrow"
        with ArrowWriter(features=features, path=str(path)) as writer:
            writer.write_batch(columns)
            n_rows, n_bytes = writer.finalize()
        infos.add(datasets.SplitInfo(name=split, num_bytes=n_bytes, num_examples=n_rows, dataset_name=name))
    info = datasets.DatasetInfo(features=features, splits=infos, builder_name="parquet", dataset_name=name,
                                config_name=config_name, version="0.0.0")
    info.write_to_directory(str(folder))


def _sst2_splits() -> tuple[dict[str, dict[str, list]], object]:
    from ftcourse.data import sentiment

    sizes = SIZES["sst2"]
    generated = sentiment.make_sentiment(n_train=sizes["train"], n_validation=sizes["validation"] + sizes["test"],
                                         seed=0)
    splits = {"train": generated["train"].to_dict()}
    held = generated["validation"].to_dict()
    n_val = sizes["validation"]
    splits["validation"] = {k: v[:n_val] for k, v in held.items()}
    splits["test"] = {"idx": list(range(sizes["test"])), "sentence": held["sentence"][n_val:],
                      "label": [-1] * sizes["test"]}  # the hub's test split is unlabelled
    return splits, generated["train"].features


def _wikitext_splits() -> tuple[dict[str, dict[str, list]], object]:
    from pydoc_data.topics import topics

    import datasets

    names = sorted(topics)
    n_train, n_val = SIZES["wikitext"]["train"], SIZES["wikitext"]["validation"]
    articles = {"train": names[:n_train], "validation": names[n_train:n_train + n_val], "test": names[n_train + n_val:]}
    splits = {}
    for split, keys in articles.items():
        lines: list[str] = []
        for key in keys:  # one help topic per article, laid out as WikiText's rows
            lines += ["", f" = {key.replace('-', ' ').title()} = \n", ""]
            lines += [f" {line.strip()} \n" if line.strip() else "" for line in topics[key].splitlines()]
        splits[split] = {"text": lines}
    return splits, datasets.Features({"text": datasets.Value("string")})


def build(root: str | Path, *, seed: int = 0) -> StandinHub:
    """Write the stand-in hub (every registry model, SST-2, WikiText-2) under `root`; a few seconds on a CPU."""
    hub = StandinHub(Path(root))
    for i, (architecture, hub_id) in enumerate(registry.ARCHITECTURES.items()):
        _write_model(architecture, _snapshot(hub.hub_cache, "models", hub_id), seed + i)
    (hub.root / "home").mkdir(parents=True, exist_ok=True)
    for (repo_id, config_name), (splits, features) in ((SST2, _sst2_splits()), (WIKITEXT, _wikitext_splits())):
        _write_dataset(hub.datasets_cache, repo_id, config_name, splits, features)
    return hub


def main(argv: list[str] | None = None) -> int:
    """`python -m ftcourse.standin DIR`: build the stand-in hub in DIR and print the shell lines that use it."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ftcourse.standin",
        description="Write a stand-in hub (small random models and datasets under the real hub ids, offline) "
                    "for a full-mode dry run, and print the environment variables that point at it.")
    parser.add_argument("dir", help="directory to write the hub into (created if missing)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    hub = build(args.dir)
    print(f"# stand-in hub written to {hub.root}; a full-mode dry run in this shell:")
    for key, value in hub.environ().items():
        print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["COMMIT", "SIZES", "StandinHub", "TINY_DIMS", "build", "main", "standin_config"]
