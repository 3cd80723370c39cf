"""In-process vLLM for GPU machines (optional extra: `pip install 'w2s[vllm]'`).

Imported lazily: nothing else in w2s needs vllm, and it only runs on CUDA machines.
vLLM batches and schedules internally, so all requests go in one call.
"""

from __future__ import annotations

from w2s.devices import sample_seed
from w2s.errors import W2SError
from w2s.students.base import Completion, OnResult, Prompt, Request, SamplingParams, Student, TargetScore


class VLLMStudent(Student):
    options = ("dtype",)

    def __init__(self, model: str, *, dtype: str = "auto", cache=None, **engine_kwargs) -> None:
        super().__init__(cache)
        try:
            import vllm
        except ImportError:
            raise W2SError("backend 'vllm' needs vLLM on a CUDA machine: pip install 'w2s[vllm]'; "
                           "on CPU use backend 'hf', or 'openai' with any running server") from None
        from w2s.models import resolve_model

        source = resolve_model(model)
        # vLLM's kernels and precision give answers of their own: never served to an hf student
        self.name, self.fingerprint = model, f"vllm:{source.fingerprint}#{dtype}"
        self._vllm = vllm
        self.llm = vllm.LLM(model=str(source.path), dtype=dtype, **engine_kwargs)

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        def sampling(index: int):
            return self._vllm.SamplingParams(
                temperature=params.temperature, top_p=params.top_p if params.temperature > 0 else 1.0,
                max_tokens=params.max_tokens, seed=sample_seed(params.seed, index) if params.temperature > 0 else None)

        chats = [i for i, r in enumerate(requests) if not isinstance(r.prompt, str)]
        texts = [i for i, r in enumerate(requests) if isinstance(r.prompt, str)]
        for group, call in ((chats, self.llm.chat), (texts, self.llm.generate)):
            if not group:
                continue
            outputs = call([requests[i].prompt for i in group], [sampling(requests[i].index) for i in group],
                           use_tqdm=False)
            for i, output in zip(group, outputs, strict=True):
                best = output.outputs[0]
                on_result(i, Completion(best.text, len(best.token_ids),
                                        "length" if best.finish_reason == "length" else "stop",
                                        prompt_tokens=len(output.prompt_token_ids or [])))

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        """Teacher-forced scores from vLLM's prompt log-probabilities (one engine call, no sampling).

        The prompt is rendered with the model's chat template and the target appended as tokens;
        vLLM returns, for every prompt position, the log-probability of the token actually there.
        """
        from vllm.inputs import TokensPrompt

        tokenizer = self.llm.get_tokenizer()
        inputs, spans = [], []
        for prompt, target in pairs:
            text = prompt if isinstance(prompt, str) else tokenizer.apply_chat_template(
                prompt, tokenize=False, add_generation_prompt=True)
            head = tokenizer(text, add_special_tokens=isinstance(prompt, str))["input_ids"]
            tail = tokenizer(target, add_special_tokens=False)["input_ids"]
            inputs.append(TokensPrompt(prompt_token_ids=head + tail))
            spans.append((len(head), tail))
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        scores = []
        for output, (start, tail) in zip(outputs, spans, strict=True):
            logprobs = output.prompt_logprobs
            total = sum(logprobs[start + j][token].logprob for j, token in enumerate(tail))
            scores.append(TargetScore(float(total), len(tail)))
        advance(len(pairs))
        return scores
