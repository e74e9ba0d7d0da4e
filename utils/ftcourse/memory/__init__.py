"""Training memory: exact parameter counts, an estimator that matches measurement, and the measurement.

>>> from ftcourse.memory import count_parameters, estimate_training_memory, suggest_hardware
>>> est = estimate_training_memory("SmolLM2-135M", batch_size=4, seq_len=512)
>>> print(est.table()); print(suggest_hardware(est).line())
"""

from ftcourse._util import lazy_exports

_NAMES = {
    "breakdown": ("GIB", "Breakdown", "gib"),
    "configs": ("KNOWN", "load_config"),
    "estimate": ("METHODS", "OPTIMIZERS", "PRECISIONS", "accelerate_style", "estimate_main",
                 "estimate_training_memory", "rule_of_thumb"),
    "hardware": ("GPUS", "suggest_hardware"),
    "params": ("LINEAR_MODULES", "ParameterCount", "architecture", "count_parameters"),
    "measure": ("measure_training_memory",),
}
_WHERE = {name: f"memory.{module}" for module, names in _NAMES.items() for name in names}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
