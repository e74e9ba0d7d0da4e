"""Training memory: exact parameter counts, an estimator that matches measurement, and the measurement.

>>> from ftcourse.memory import count_parameters, estimate_training_memory, suggest_hardware
>>> est = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512)
>>> print(est.table()); print(suggest_hardware(est).line())
"""

import importlib

_WHERE = {
    "GIB": "breakdown", "Breakdown": "breakdown", "gib": "breakdown",
    "KNOWN": "configs", "load_config": "configs",
    "METHODS": "estimate", "OPTIMIZERS": "estimate", "PRECISIONS": "estimate", "accelerate_style": "estimate",
    "estimate_main": "estimate", "estimate_training_memory": "estimate", "rule_of_thumb": "estimate",
    "GPUS": "hardware", "suggest_hardware": "hardware",
    "LINEAR_MODULES": "params", "ParameterCount": "params", "architecture": "params", "count_parameters": "params",
    "measure_training_memory": "measure", "bench_main": "bench",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    """Import submodules on first use, so `python -m ftcourse.memory.estimate` runs cleanly and torch loads late."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"ftcourse.memory.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ftcourse.memory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
