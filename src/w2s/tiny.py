"""A tiny real causal LM (about 100K parameters) with a tokenizer trained in-process, offline.

Whole pipelines run on it in seconds, on a CPU or a GPU, with no network: the tests use it, and so
does `benchmarks/gpu_check.py`, which checks w2s's CUDA paths on a machine that has nothing but
torch and transformers. Its answers are gibberish: it checks mechanics, never quality.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    "Janet has 3 apples and buys 4 more. How many apples does she have? The answer is 7.",
    "A train travels 60 miles per hour for 2 hours. It travels 120 miles. #### 120",
    "Let's think step by step. First add the numbers, then multiply by two.",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "The teacher writes an instruction; the student answers the question with it.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 100 1000 $ % , . ? !",
]


def build_tiny_model(folder: Path, arch: str = "llama", seed: int = 0, init_std: float = 0.02, **sizes) -> Path:
    """Train a BPE tokenizer on a toy corpus and save a randomly initialised tiny causal LM.

    At the default init its greedy output repeats one token; `init_std` near 1 gives answers
    that differ between prompts (tests of where answers stop need that). `sizes` override the
    model config's sizes (a real engine's kernels need a head size of 32 or more).
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    from tokenizers import decoders

    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    common = dict(vocab_size=fast.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                  pad_token_id=fast.pad_token_id, tie_word_embeddings=True, initializer_range=init_std)
    common.update(sizes)
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
