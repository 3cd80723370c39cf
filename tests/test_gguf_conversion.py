"""GGUF -> safetensors conversion (`w2s.models.sources`), on a tiny GGUF written in the test.

The offline packs ship GGUF files; w2s dequantizes one once into a safetensors folder that every
backend loads. Here the tiny test model (large random weights, so its greedy text is not empty) is written as an F32 GGUF the way llama.cpp's converter
writes it (llama tensor names, q/k rows permuted for its rope layout, the BPE tokenizer in the
metadata), converted by w2s, and must come back as the same model: same weights, same greedy text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def permute_for_gguf(weights, heads: int):
    """llama.cpp's q/k permutation (transformers reverses it when it loads a GGUF)."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_gguf(model_dir: Path, path: Path) -> None:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tensors = load_file(model_dir / "model.safetensors")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_vocab_size(config["vocab_size"])
    vocab = tokenizer.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])]
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    special = {token.content for token in tokenizer.added_tokens_decoder.values() if token.special}
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(config["num_hidden_layers"]):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
    for hf_name, gguf_name in names.items():
        array = tensors[hf_name].astype(np.float32)
        if gguf_name.endswith("attn_q.weight"):
            array = permute_for_gguf(array, heads)
        elif gguf_name.endswith("attn_k.weight"):
            array = permute_for_gguf(array, kv_heads)
        writer.add_tensor(gguf_name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_converts_once_into_the_same_model(varied_model, tmp_path):
    pytest.importorskip("gguf")
    import torch
    from transformers import AutoModelForCausalLM

    from w2s.models.sources import resolve_model
    from w2s.students import SamplingParams
    from w2s.students.hf import HFStudent

    gguf_file = tmp_path / "tiny.gguf"
    write_gguf(varied_model, gguf_file)
    source = resolve_model(str(gguf_file))
    assert (source.path / "model.safetensors").is_file() and (source.path / "tokenizer_config.json").is_file()
    original = AutoModelForCausalLM.from_pretrained(varied_model, dtype=torch.float32).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32).state_dict()
    for name, weights in original.items():
        assert torch.allclose(weights, converted[name]), name
    prompts, params = [[{"role": "user", "content": "What is 3 plus 4?"}]], SamplingParams(max_tokens=8)
    text = HFStudent(str(varied_model)).generate(prompts, params, progress=False)[0][0].text
    assert text.strip() and HFStudent(str(gguf_file)).generate(prompts, params, progress=False)[0][0].text == text
    mtime = (source.path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model(str(gguf_file)).path == source.path  # converted once: the second call reuses it
    assert (source.path / "model.safetensors").stat().st_mtime_ns == mtime
