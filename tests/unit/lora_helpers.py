"""Shared by the LoRA tests: small random Llamas built from a config (no download) and random adapters."""

import torch


def small_llama(gqa: bool = True, bias: bool = False, hidden: int = 64, seed: int = 0):
    """A random 2-layer Llama (with or without grouped-query attention and biases)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=128, hidden_size=hidden, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2 if gqa else 4, head_dim=hidden // 4,
                         max_position_embeddings=64, tie_word_embeddings=False, attention_bias=bias, mlp_bias=bias)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def randomize_lora(model, seed: int = 1, std: float = 0.05):
    """Give every hand-written LoRA factor random values (a fresh B is zero: comparisons would be vacuous)."""
    from ftcourse.lora import lora_modules

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in lora_modules(model):
            for factor in (layer.lora_A, layer.lora_B):
                factor.weight.copy_(torch.randn(factor.weight.shape, generator=gen) * std)
