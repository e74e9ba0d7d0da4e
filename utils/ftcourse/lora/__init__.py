"""LoRA by hand, interchangeable with peft: the layer, injection, merging, peft's file format, size rule, twin.

>>> from ftcourse.lora import inject_lora, merge_lora, save_adapter, load_adapter
>>> model = inject_lora(load_model("tiny"), ["q_proj", "v_proj"], r=8, lora_alpha=16)
trainable params: 30,720 || all params: 3,178,944 || trainable%: 0.9664
>>> save_adapter(model, "my-adapter")   # PeftModel.from_pretrained(base, "my-adapter") loads it

The method's shape (DESIGN.md): `layer` + `inject` + `merge` + `io` by hand, `cost` its size rule,
`twin` the functions tying it to peft.
"""

from ftcourse._util import lazy_exports

_WHERE = {
    "LoRALinear": "lora.layer", "check_hyperparameters": "lora.layer", "lora_scaling": "lora.layer",
    "inject_lora": "lora.inject", "linear_module_names": "lora.inject", "lora_modules": "lora.inject",
    "match_targets": "lora.inject", "freeze_all_but_lora": "lora.inject",
    "ALL_LINEAR": "inject", "TrainableReport": "inject", "print_trainable_parameters": "inject",
    "trainable_parameters": "inject",
    "merge_lora": "lora.merge",
    "AdapterMismatchError": "lora.io", "adapter_config": "lora.io", "from_peft_key": "lora.io",
    "load_adapter": "lora.io", "lora_state_dict": "lora.io", "read_adapter": "lora.io", "save_adapter": "lora.io",
    "to_peft_key": "lora.io",
    "adapter_megabytes": "lora.cost", "adapter_parameters": "lora.cost", "lora_tensor_sizes": "lora.cost",
    "resolve_targets": "lora.cost",
    "copy_into_peft": "lora.twin", "from_peft": "lora.twin", "peft_config": "lora.twin", "peft_grads": "lora.twin",
    "peft_linear": "lora.twin",
}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
