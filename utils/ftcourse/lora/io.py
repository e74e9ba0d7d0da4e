"""Saving and loading hand-written LoRA adapters in peft's on-disk format, both ways.

The folder format itself (two files, key prefix, atomic writes) is method-neutral and lives in
`ftcourse.peft_format`; this module adds what is LoRA's: the LoraConfig fields peft writes, the
options plain LoRA does not implement, and the checks that an adapter fits a model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ftcourse import peft_format
from ftcourse.inject import set_module
from ftcourse.lora.inject import FACTORS, freeze_all_but_lora, linear_module_names, lora_modules
from ftcourse.lora.layer import LoRALinear, check_hyperparameters
from ftcourse.peft_format import PEFT_PREFIX, WEIGHTS_NAME

PEFT_FORMAT_VERSION = "0.21.2"  # the peft release whose save_pretrained output we reproduce field for field

# Every field peft 0.21's LoraConfig writes, at its default; save_adapter fills in the rest.
PEFT_CONFIG_DEFAULTS: dict = {
    "alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None, "bias": "none",
    "corda_config": None, "ensure_weight_tying": False, "eva_config": None, "exclude_modules": None,
    "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "kasa_config": None,
    "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
    "lora_bias": False, "lora_ga_config": None, "megatron_config": None, "megatron_core": "megatron.core",
    "modules_to_save": None, "monteclora_config": None, "peft_type": "LORA", "peft_version": PEFT_FORMAT_VERSION,
    "qalora_group_size": 16, "rank_pattern": {}, "revision": None, "target_parameters": None, "task_type": None,
    "trainable_token_indices": None, "use_bdlora": None, "use_dora": False, "use_qalora": False,
    "velora_config": None,
}
# Options that change what the adapter computes and that plain LoRA does not implement.
UNSUPPORTED = ("alora_invocation_tokens", "alpha_pattern", "arrow_config", "fan_in_fan_out", "kasa_config",
               "layer_replication", "lora_bias", "modules_to_save", "monteclora_config", "rank_pattern",
               "target_parameters", "trainable_token_indices", "use_bdlora", "use_dora", "use_qalora",
               "velora_config")


class AdapterMismatchError(ValueError):
    """An adapter file does not fit this model (modules, shapes or rank); the model was not changed."""


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA factors only, keyed `<module path>.lora_A.weight` / `.lora_B.weight` (peft's keys minus the prefix)."""
    return {f"{name}.{factor}.weight": getattr(layer, factor).weight.detach()
            for name, layer in lora_modules(model) for factor in FACTORS}


to_peft_key = peft_format.to_peft_key


def from_peft_key(key: str) -> str:
    """peft's saved key → ours; peft's adapter name in a live PeftModel key (`lora_A.default.`) is dropped too."""
    return peft_format.from_peft_key(key, FACTORS)


def _uniform(model: nn.Module) -> dict:
    layers = list(lora_modules(model))
    if not layers:
        raise ValueError("the model has no LoRA layers to save (inject_lora or load_adapter first)")
    settings = {(m.r, m.lora_alpha, m.use_rslora, getattr(m.lora_dropout, "p", 0.0)) for _, m in layers}
    if len(settings) > 1:
        raise ValueError(f"LoRA layers differ in (r, alpha, use_rslora, dropout): {sorted(settings)}; "
                         "peft's format without rank_pattern needs one setting for all layers")
    r, alpha, use_rslora, dropout = settings.pop()
    return {"r": r, "lora_alpha": alpha, "use_rslora": use_rslora, "lora_dropout": dropout,
            "names": [n for n, _ in layers]}


def _target_modules(model: nn.Module, names: list[str]) -> list[str]:
    """Leaf names (e.g. ["q_proj", "v_proj"]) when they select exactly the adapted modules, else full names."""
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
    internal = [f"{n}." for n in names]
    candidates = [n for n, _ in model.named_modules() if n and not any(n.startswith(p) for p in internal)]
    selected = {n for n in candidates if n.rsplit(".", 1)[-1] in leaves}
    return leaves if selected == set(names) else sorted(names)


def adapter_config(model: nn.Module, base_model_name_or_path: str | None = None) -> dict:
    """The adapter_config.json dict that peft's `save_pretrained` writes for the same LoraConfig."""
    s = _uniform(model)
    config = dict(PEFT_CONFIG_DEFAULTS)
    config.update(
        r=s["r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"], use_rslora=s["use_rslora"],
        target_modules=_target_modules(model, s["names"]),
        base_model_name_or_path=base_model_name_or_path or getattr(model, "name_or_path", None) or None,
        # task_type None: peft records the base class so PeftModel.from_pretrained can rebuild the wrapper
        auto_mapping={"base_model_class": type(model).__name__, "parent_library": type(model).__module__},
    )
    return dict(sorted(config.items()))


def save_adapter(model: nn.Module, path: str | os.PathLike, base_model_name_or_path: str | None = None) -> Path:
    """Write `adapter_config.json` and `adapter_model.safetensors` exactly as peft does; returns the folder.

    `PeftModel.from_pretrained(base_model, path)` loads the result. Each file is written atomically.
    """
    return peft_format.write_adapter(path, adapter_config(model, base_model_name_or_path), lora_state_dict(model))


def read_adapter(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """The config dict and the tensors (our keys) of a peft LoRA adapter folder, validated for plain LoRA."""
    config, raw = peft_format.read_adapter_files(path, "LORA")
    weights_file = Path(path) / WEIGHTS_NAME
    for key in UNSUPPORTED:
        if config.get(key) not in (None, False, {}, []):
            raise ValueError(f"the adapter uses {key}={config[key]!r}, which plain LoRA here does not implement; "
                             "load it with peft (PeftModel.from_pretrained)")
    if config.get("bias", "none") != "none":
        raise ValueError(f"the adapter trains biases (bias={config['bias']!r}); load it with peft")
    if config.get("init_lora_weights", True) not in (True, False, "gaussian"):
        raise ValueError(f"init_lora_weights={config['init_lora_weights']!r} changes the base weights as well; "
                         "load it with peft")
    check_hyperparameters(config.get("r"), config.get("lora_alpha"), config.get("lora_dropout", 0.0))
    tensors = {from_peft_key(k): v for k, v in raw.items()}
    strange = [k for k in raw if not k.startswith(PEFT_PREFIX) or not k.endswith((".lora_A.weight", ".lora_B.weight"))]
    if strange:
        raise ValueError(f"{weights_file} has tensors plain LoRA does not use, e.g. {strange[:3]}; load it with peft")
    return config, tensors


def _plan(model: nn.Module, config: dict, tensors: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """Check the adapter against the model without touching it: module name → (base linear, A, B)."""
    modules = dict(model.named_modules())
    names = sorted({k.rsplit(".", 2)[0] for k in tensors})
    where = (f"(adapter trained on {config.get('base_model_name_or_path')!r}, "
             f"this model is {getattr(model, 'name_or_path', None) or type(model).__name__!r})")
    absent = [n for n in names if not isinstance(modules.get(n), nn.Linear | LoRALinear)]
    if absent:
        raise AdapterMismatchError(
            f"base-model mismatch: the adapter adapts {len(absent)} module(s) this model has no linear layer for, "
            f"e.g. {absent[:3]} {where}; this model's linear layers: {linear_module_names(model)[:6]}…")
    extra = [n for n, _ in lora_modules(model) if n not in names]
    if extra:
        raise AdapterMismatchError(f"the model has LoRA layers the adapter does not, e.g. {extra[:3]}; "
                                   "load into the base model or merge_lora first")
    r = config["r"]
    plan = {}
    for name in names:
        module = modules[name]
        if isinstance(module, LoRALinear):
            if module.merged:
                raise AdapterMismatchError(f"{name} has a merged LoRA; unmerge() it before loading another adapter")
            module = module.base_layer
        try:
            a, b = tensors[f"{name}.lora_A.weight"], tensors[f"{name}.lora_B.weight"]
        except KeyError as exc:
            raise AdapterMismatchError(f"{name}: the adapter file lacks {exc.args[0]}") from None
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise AdapterMismatchError(f"{name}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} are not "
                                       "(r × in) and (out × r) of one rank")
        if a.shape[0] != r:
            raise AdapterMismatchError(f"rank mismatch at {name}: the factors have rank {a.shape[0]}, "
                                       f"adapter_config.json says r={r}")
        if (a.shape[1], b.shape[0]) != (module.in_features, module.out_features):
            raise AdapterMismatchError(
                f"shape mismatch at {name}: the adapter is for a {a.shape[1]}→{b.shape[0]} layer, this model's is "
                f"{module.in_features}→{module.out_features} {where}")
        plan[name] = (module, a, b)
    return plan


def load_adapter(model: nn.Module, path: str | os.PathLike, is_trainable: bool = False) -> nn.Module:
    """Load a peft LoRA adapter folder into the model as LoRALinear layers (in place); returns the model.

    Everything is checked before anything changes: a shape, rank or base-model mismatch raises
    `AdapterMismatchError` and leaves the model as it was. Like `PeftModel.from_pretrained`, the
    loaded adapter is frozen unless is_trainable=True; the base model is always frozen.
    """
    config, tensors = read_adapter(path)
    plan = _plan(model, config, tensors)
    built = {}
    for name, (base, a, b) in plan.items():
        layer = LoRALinear(base, config["r"], config["lora_alpha"], config.get("lora_dropout", 0.0),
                           bool(config.get("use_rslora", False)))
        with torch.no_grad():
            layer.lora_A.weight.copy_(a)
            layer.lora_B.weight.copy_(b)
        built[name] = layer
    for name, layer in built.items():  # every layer built before any is put in: a failure changes nothing
        set_module(model, name, layer)
    freeze_all_but_lora(model, train_lora=is_trainable)
    return model
