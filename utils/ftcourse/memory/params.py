"""Exact parameter counts from a model config, without building the model.

Supported families: Llama (SmolLM2 and the course's embedded model are Llama), Mistral and
Qwen2 (Qwen2.5). Per decoder layer a model holds q/k/v/o projections, a gated MLP
(gate/up/down) and two RMSNorm weight vectors; around the layers, the token embedding, a
final norm and the output head, which is the embedding matrix itself when
`tie_word_embeddings` is true (then counted once, as `model.num_parameters()` does).
Biases: Qwen2 always has q/k/v biases (o none); Llama has q/k/v/o biases when
`attention_bias` and MLP biases when `mlp_bias`; Mistral has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftcourse._util import check_choice, check_positive_int
from ftcourse.memory.configs import load_config

FAMILIES = ("llama", "mistral", "qwen2")
LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_TIE_DEFAULT = {"llama": False, "mistral": False, "qwen2": False}


@dataclass(frozen=True)
class Architecture:
    """The sizes that decide parameter counts and activation memory, read from a config."""

    family: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    name: str = ""

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear module of one decoder layer."""
        h, i = self.hidden_size, self.intermediate_size
        return {"q_proj": (h, self.q_dim), "k_proj": (h, self.kv_dim), "v_proj": (h, self.kv_dim),
                "o_proj": (self.q_dim, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_biases(self) -> dict[str, bool]:
        """Which linear modules of a layer carry a bias vector."""
        return {"q_proj": self.qkv_bias, "k_proj": self.qkv_bias, "v_proj": self.qkv_bias, "o_proj": self.o_bias,
                "gate_proj": self.mlp_bias, "up_proj": self.mlp_bias, "down_proj": self.mlp_bias}


def _as_dict(config) -> dict:
    if isinstance(config, dict):
        return config
    if isinstance(config, str | Path):
        return _as_dict(load_config(config))
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise ValueError(f"config must be a dict, a transformers config, a config.json path or a model name, "
                     f"got {type(config).__name__}")


def _positive_int(cfg: dict, key: str, value=None) -> int:
    """A config field that must be a positive int (`value` when given, else cfg[key]), named if it is not."""
    return check_positive_int(f"config field {key}", cfg.get(key) if value is None else value)


def architecture(config) -> Architecture:
    """Read an Architecture from a dict, a transformers config, a config.json path or a known model name."""
    cfg = _as_dict(config)
    family = cfg.get("model_type")
    if family not in FAMILIES:
        check_choice("model_type", family, FAMILIES)
    hidden = _positive_int(cfg, "hidden_size")
    heads = _positive_int(cfg, "num_attention_heads")
    kv_heads = heads if cfg.get("num_key_value_heads") is None else cfg["num_key_value_heads"]  # None: MHA
    head_dim = hidden // heads if cfg.get("head_dim") is None else cfg["head_dim"]
    _positive_int(cfg, "num_key_value_heads", kv_heads)
    _positive_int(cfg, "head_dim", head_dim)
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads={heads} must be a multiple of num_key_value_heads={kv_heads}")
    attention_bias = bool(cfg.get("attention_bias", False))
    return Architecture(
        family=family,
        vocab_size=_positive_int(cfg, "vocab_size"),
        hidden_size=hidden,
        intermediate_size=_positive_int(cfg, "intermediate_size"),
        num_layers=_positive_int(cfg, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        tied=bool(cfg.get("tie_word_embeddings", _TIE_DEFAULT[family])),
        qkv_bias=family == "qwen2" or (family == "llama" and attention_bias),
        o_bias=family == "llama" and attention_bias,
        mlp_bias=family == "llama" and bool(cfg.get("mlp_bias", False)),
        name=str(cfg.get("_name_or_path") or cfg.get("name_or_path") or ""),
    )


@dataclass(frozen=True)
class ParameterCount:
    """Parameters by component; `total` equals `model.num_parameters()` (a tied head counted once)."""

    embeddings: int
    attention: int
    mlp: int
    norms: int
    lm_head: int
    tensors: int  # how many parameter tensors (AdamW keeps one step counter per tensor)
    per_layer: int
    linear_in_layers: int  # weights of the layers' linear modules (what QLoRA quantizes)

    @property
    def total(self) -> int:
        return self.embeddings + self.attention + self.mlp + self.norms + self.lm_head

    def table(self) -> str:
        """One row per component with its share of the total."""
        rows = [f"{'component':<12}{'parameters':>16}{'share':>9}"]
        for name in ("embeddings", "attention", "mlp", "norms", "lm_head"):
            value = getattr(self, name)
            rows.append(f"{name:<12}{value:>16,}{100 * value / self.total:>8.1f}%")
        rows.append(f"{'total':<12}{self.total:>16,}{'100.0%':>9}")
        return "\n".join(rows)


def count_parameters(config) -> ParameterCount:
    """Exact parameter count by component from a config alone (no weights, no model built)."""
    arch = architecture(config)
    shapes, biases = arch.linear_shapes(), arch.linear_biases()
    weight = {m: fan_in * fan_out for m, (fan_in, fan_out) in shapes.items()}
    bias = {m: shapes[m][1] if biases[m] else 0 for m in shapes}
    attn_names, mlp_names = LINEAR_MODULES[:4], LINEAR_MODULES[4:]
    attention = sum(weight[m] + bias[m] for m in attn_names)
    mlp = sum(weight[m] + bias[m] for m in mlp_names)
    layer_norms = 2 * arch.hidden_size
    layer_tensors = len(LINEAR_MODULES) + sum(biases.values()) + 2
    embeddings = arch.vocab_size * arch.hidden_size
    return ParameterCount(
        embeddings=embeddings,
        attention=arch.num_layers * attention,
        mlp=arch.num_layers * mlp,
        norms=arch.num_layers * layer_norms + arch.hidden_size,
        lm_head=0 if arch.tied else embeddings,
        tensors=arch.num_layers * layer_tensors + 2 + (0 if arch.tied else 1),
        per_layer=attention + mlp + layer_norms,
        linear_in_layers=arch.num_layers * sum(weight.values()),
    )
