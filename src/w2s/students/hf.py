"""In-process transformers backend: batched, left-padded, length-sorted, KV-cached generation.

Two ways to batch greedy decoding:

- `static` (default): fixed batches of `batch_size`; a batch decodes until its longest answer
  ends, so when answer lengths vary (GSM8K answers run 100 to 512+ tokens) most rows of a batch
  are finished padding for most steps. Best for short outputs (instructions, capped rewards).
- `continuous`: transformers' continuous batching (`generate_batch` machinery, paged KV cache):
  a finished sequence frees its slot for the next request at once, so no step is spent on a
  finished answer. Meant for long answers of varied length (evaluations); on full batches it is
  slower per token on a CPU (see benchmarks/README.md). Sampled requests always use
  static batches, whose per-batch seeds make sampling reproducible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from w2s.devices import note_emulated_bf16, resolve_device, sample_seed, torch_dtype
from w2s.errors import W2SError
from w2s.students.base import Completion, OnResult, Prompt, Request, SamplingParams, Student, TargetScore


def set_cpu_threads() -> None:
    """Use every core this process may run on, unless the user pinned OMP/torch threads."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))


def precision_tag(dtype) -> str:
    """Precision changes greedy answers (bf16 rounds differently from fp32), so answers of one
    precision are never served from the cache to another; fp32 keeps the plain key."""
    import torch

    return "" if dtype == torch.float32 else f"#{str(dtype).removeprefix('torch.')}"


class HFStudent(Student):
    """A transformers causal LM. Loads from any `resolve_model` name, or takes a model in memory."""

    options = ("batch_size", "batching", "dtype", "device")

    @classmethod
    def fingerprint_for(cls, config) -> str | None:
        """Known without loading when the model is prepared already (a converted pack, a local
        folder); None for a pack not converted yet or a hub model not downloaded."""
        from w2s.models.packs import find_pack
        from w2s.models.sources import pack_status, resolve_model

        pack = find_pack(config.model)
        if pack is not None and pack_status(pack) != "ready":
            return None
        if pack is None and not Path(config.model).expanduser().is_dir():
            return None
        return resolve_model(config.model, install=False).fingerprint + precision_tag(
            torch_dtype(config.dtype, resolve_device(config.device)))

    def __init__(self, model: str | Any, tokenizer: Any = None, *, batch_size: int = 16, dtype: str = "auto",
                 device: str = "auto", cache=None, fingerprint: str | None = None, name: str | None = None,
                 packed_linear: bool = True, batching: str = "static") -> None:
        super().__init__(cache)
        if batching not in ("static", "continuous"):
            raise W2SError(f"student.batching: expected 'static' or 'continuous', got '{batching}'")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        set_cpu_threads()
        device = resolve_device(device)
        if isinstance(model, str):
            from w2s.models import resolve_model

            source = resolve_model(model)
            dtype_ = torch_dtype(dtype, device)
            if dtype == "bfloat16" and device == "cpu":
                note_emulated_bf16("generation")
            try:
                self.model = AutoModelForCausalLM.from_pretrained(source.path, dtype=dtype_).to(device)
                self.tokenizer = AutoTokenizer.from_pretrained(source.path)
            except Exception as err:  # noqa: BLE001 - a broken folder is the user's to fix: say which, in one line
                first = (str(err).strip().splitlines() or [""])[0][:200]
                raise W2SError(f"{source.path}: cannot load this model folder ({type(err).__name__}: {first}); "
                               "check config.json, the weight files and the tokenizer files") from None
            self.name, self.fingerprint = name or model, fingerprint or source.fingerprint + precision_tag(dtype_)
        else:
            if tokenizer is None or fingerprint is None:
                raise ValueError("an in-memory model needs its tokenizer and a fingerprint")
            self.model, self.tokenizer = model, tokenizer
            self.name, self.fingerprint = name or "in-memory", fingerprint
        self.model.eval()
        # Packing rewrites the module tree, so only for models this student loaded and owns: a
        # model passed in (say, a teacher being trained) must stay an ordinary trainable module.
        owns_model = isinstance(model, str)
        if packed_linear and owns_model and device == "cpu" and next(self.model.parameters()).dtype == torch.float32:
            pack_linear_layers(self.model)
        self.device = device
        self.batch_size = batch_size
        self.batching = batching
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.stop_ids = _stop_ids(self.model, self.tokenizer)

    def render(self, prompt: Prompt) -> str:
        """Chat messages through the tokenizer's chat template; raw text as is."""
        if isinstance(prompt, str):
            return prompt
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in prompt) + "\n\n"

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        import torch
        from transformers import GenerationConfig

        encoded = [self.tokenizer(self.render(r.prompt), add_special_tokens=isinstance(r.prompt, str))["input_ids"]
                   for r in requests]
        if self.batching == "continuous" and params.temperature == 0:
            self._generate_continuous(encoded, params, on_result)
            return
        # Longest first: similar lengths share a batch (little padding), and an out-of-memory
        # error, if any, comes in the first batch rather than after an hour.
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i]))
        config = GenerationConfig(
            max_new_tokens=params.max_tokens, do_sample=params.temperature > 0,
            temperature=params.temperature if params.temperature > 0 else None,
            top_p=params.top_p if params.temperature > 0 else None, top_k=None,
            eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id,
        )
        for start in range(0, len(order), self.batch_size):
            if self.budget_spent():  # student.budget: stop between batches; the base class says so
                return
            batch = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            pad = self.tokenizer.pad_token_id
            ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in batch])
            mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch])
            if params.temperature > 0:
                # One seed per batch, derived from the run seed and the batch's first request,
                # so sampled outputs are reproducible for the same requests and batch size.
                torch.manual_seed(sample_seed(params.seed, repr(requests[batch[0]])))
            # A batch of long answers takes minutes on a CPU: show its decoding steps as they go.
            steps = tqdm(total=params.max_tokens, desc=f"  batch {start // self.batch_size + 1}/"
                         f"{-(-len(order) // self.batch_size)}", unit="tok", leave=False, dynamic_ncols=True,
                         disable=not self.show_progress or len(order) <= 1 and params.max_tokens < 64)
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          generation_config=config, stopping_criteria=[_StepProgress(steps)])
            steps.close()
            for row, i in enumerate(batch):
                on_result(i, self._completion(out[row, width:].tolist(), params.max_tokens, len(encoded[i])))

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        """Teacher-forced log-probabilities of each target after its rendered prompt, in batches.

        Right padding keeps every real token at its natural position. Only the target positions
        go through the output layer (a full vocabulary of logits for every prompt token would cost
        GBs for a 150K-token vocabulary), then log-softmax and the target tokens' entries.

        The last target token is predicted, never read, so the input is the prompt plus the target
        minus its last token; pairs with the same input share one forward pass. A pairwise judge's
        "A" and "B" after the same prompt cost one pass, not two.
        """
        import torch

        encoded = []
        for prompt, target in pairs:
            head = self.tokenizer(self.render(prompt), add_special_tokens=isinstance(prompt, str))["input_ids"]
            tail = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            encoded.append((head, tail))
        results: dict[int, TargetScore] = {i: TargetScore(0.0, 0) for i, (_, tail) in enumerate(encoded) if not tail}
        shared: dict[tuple[int, ...], list[int]] = {}  # input tokens -> the pairs they serve
        for i, (head, tail) in enumerate(encoded):
            if tail:
                shared.setdefault(tuple(head + tail[:-1]), []).append(i)
        inputs = sorted(shared, key=len, reverse=True)
        decoder, head_layer = self.model.get_decoder(), self.model.get_output_embeddings()
        pad = self.tokenizer.pad_token_id
        advance(len(results))
        for start in range(0, len(inputs), self.batch_size):
            if self.budget_spent():  # student.budget: stop between batches; the base class says so
                return
            batch = inputs[start : start + self.batch_size]
            width = max(map(len, batch))
            ids = torch.tensor([list(s) + [pad] * (width - len(s)) for s in batch], device=self.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch], device=self.device)
            with torch.inference_mode():
                hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
                for row, seq in enumerate(batch):
                    for i in shared[seq]:
                        head, tail = encoded[i]
                        # the hidden state at position p predicts token p + 1
                        states = hidden[row, len(head) - 1 : len(head) + len(tail) - 1]
                        logprobs = torch.log_softmax(head_layer(states).float(), dim=-1)
                        picked = logprobs.gather(1, torch.tensor(tail, device=self.device)[:, None])
                        results[i] = TargetScore(float(picked.sum()), len(tail))
            advance(sum(len(shared[seq]) for seq in batch))
        return [results[i] for i in range(len(pairs))]

    def _generate_continuous(self, encoded: list[list[int]], params: SamplingParams, on_result: OnResult) -> None:
        """Greedy decoding with continuous batching; each answer is handed over (and cached) as it ends."""
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        config = GenerationConfig(max_new_tokens=params.max_tokens, do_sample=False, eos_token_id=self.stop_ids,
                                  pad_token_id=self.tokenizer.pad_token_id)
        # Left to itself, transformers sizes the KV cache from 90% of RAM on a CPU and decodes every
        # request at once. Its paged attention then scores each query against every cached token
        # of the step's batch (masked), a cost that grows with the square of the batch: so at most
        # `batch_size` requests decode together, in a cache just big enough for them.
        page = 256
        pages_each = -(-(max(map(len, encoded)) + params.max_tokens) // page)
        batching = ContinuousBatchingConfig(page_size=page, num_blocks=self.batch_size * pages_each + 1,
                                            max_requests_per_batch=self.batch_size,
                                            max_batch_tokens=max(2048, self.batch_size))
        with self.model.continuous_batching_context_manager(generation_config=config, block=True, timeout=5,
                                                            continuous_batching_config=batching) as manager:
            ids = manager.add_requests(inputs=encoded, max_new_tokens=params.max_tokens)
            index, left = {rid: i for i, rid in enumerate(ids)}, len(ids)
            while left and not self.budget_spent():  # student.budget: stop; the base class says so
                result = manager.get_result(timeout=1)
                if result is None:
                    if not manager.is_running():
                        raise RuntimeError("continuous batching stopped with requests still pending")
                    continue
                if not result.is_finished() or result.request_id not in index:
                    continue
                if result.error is not None:
                    raise RuntimeError(f"continuous batching failed on a request: {result.error}")
                i = index.pop(result.request_id)
                on_result(i, self._completion(list(result.generated_tokens), params.max_tokens, len(encoded[i])))
                left -= 1

    def _completion(self, new_ids: list[int], max_tokens: int, prompt_tokens: int = 0) -> Completion:
        stops = set(self.stop_ids)
        n = next((k for k, t in enumerate(new_ids) if t in stops), len(new_ids))
        text = self.tokenizer.decode(new_ids[:n], skip_special_tokens=True)
        finish = "stop" if n < len(new_ids) or n < max_tokens else "length"
        return Completion(text, n, finish, prompt_tokens=prompt_tokens)


class _StepProgress:
    """A stopping criterion that never stops: it only advances a progress bar each decode step."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.bar.update(1)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def pack_linear_layers(module: Any) -> None:
    """Swap nn.Linear for oneDNN-packed fp32 linears (inference only; identical outputs).

    On CPU, MKL's small-M matmuls (one row per sequence in a decode step) run far below peak;
    oneDNN with prepacked weights is ~1.8x faster at batch 16 (see benchmarks/README.md).
    """
    import torch
    from torch.utils.mkldnn import MkldnnLinear

    if not torch.backends.mkldnn.is_available():
        return
    with torch.inference_mode():
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, MkldnnLinear(child, torch.float32))
            else:
                pack_linear_layers(child)


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id if model.generation_config is not None else None
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
