"""One place for API names that differ across the library versions the course supports.

The package's dependency ranges are wide on purpose (Colab keeps its own torch and transformers), so a
renamed method is looked up here instead of being called by one name that some versions lack.
"""

from __future__ import annotations


def enable_activation_checkpointing(model) -> None:
    """Turn on activation (gradient) checkpointing under the name the installed transformers has.

    transformers 5.23 calls it `activation_checkpointing_enable` and warns on the old
    `gradient_checkpointing_enable`; earlier 5.x releases (5.17 seen) only have the old name.
    """
    for name in ("activation_checkpointing_enable", "gradient_checkpointing_enable"):
        enable = getattr(model, name, None)
        if callable(enable):
            enable()
            return
    raise TypeError(f"{type(model).__name__} has neither activation_checkpointing_enable nor "
                    "gradient_checkpointing_enable; checkpointing needs a transformers PreTrainedModel")


__all__ = ["enable_activation_checkpointing"]
