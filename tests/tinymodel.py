"""A tiny randomly initialised Llama with SmolLM2's real tokenizer, for fast training tests."""

from __future__ import annotations

from pathlib import Path


def make_tiny_llama(path: Path, *, seed: int = 0) -> Path:
    """Write a 2-layer, 64-wide Llama (random weights) and the real tokenizer to ``path``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from learners.backends.llm import local_gguf_path

    gguf = local_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
