"""LoRA by hand, interchangeable with peft: the layer, injection, merging, peft's file format, cost and sweeps.

>>> from ftcourse.lora import inject_lora, merge_lora, save_adapter, load_adapter
>>> model = inject_lora(load_model("tiny"), ["q_proj", "v_proj"], r=8, alpha=16)
trainable params: 30,720 || all params: 3,178,944 || trainable%: 0.9664
>>> save_adapter(model, "my-adapter")   # PeftModel.from_pretrained(base, "my-adapter") loads it
"""

import importlib

_WHERE = {
    "LoRALinear": "layer", "check_hyperparameters": "layer", "lora_scaling": "layer",
    "ALL_LINEAR": "inject", "TrainableReport": "inject", "inject_lora": "inject", "linear_module_names": "inject",
    "lora_modules": "inject", "match_targets": "inject", "print_trainable_parameters": "inject",
    "trainable_parameters": "inject",
    "merge_lora": "merge",
    "AdapterMismatchError": "io", "adapter_config": "io", "from_peft_key": "io", "load_adapter": "io",
    "lora_state_dict": "io", "read_adapter": "io", "save_adapter": "io", "to_peft_key": "io",
    "bench_main": "bench",
    "adapter_megabytes": "cost", "adapter_parameters": "cost",
    "LESSON08": "sweep", "RunResult": "sweep", "format_summary": "sweep", "load_results": "sweep",
    "lora_run": "sweep", "reference_sweep": "sweep", "summarize": "sweep",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    """Import submodules on first use, so `python -m ftcourse.lora.bench` runs cleanly and torch loads late."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"ftcourse.lora.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ftcourse.lora' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
