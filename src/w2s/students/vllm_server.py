"""`student.backend: vllm-server`: a model served by vLLM's own OpenAI server, started by w2s.

w2s resolves the model (an offline pack's converted folder, a model folder, or a hub id), starts
`vllm.entrypoints.openai.api_server` on 127.0.0.1 with the engine's Python (`w2s engines install
vllm`, or `student.extra.python`), waits until it is healthy, talks to it through the `openai`
backend (same retries, cache, accounting; text scoring through vLLM's `prompt_logprobs`), and
stops it when the student is closed or w2s exits. vLLM batches continuously: a finished answer's
slot goes to the next request at once, so send many requests (`student.concurrency`).

Options (`student.*`): `dtype` (auto: fp32 on a CPU, vLLM's choice on a GPU), `concurrency`,
`max_retries`, `timeout_s`; `student.extra.*`: `max_model_len` (2048), `kv_cache_gb` (2, the KV
cache on a CPU), `threads` (all cores), `python`. On GPUs a vLLM server you run yourself, with
tensor parallelism, is `student.backend=openai student.base_url=URL` (docs/scaling.md). The
fingerprint is `vllm-server` + the weights' fingerprint + dtype: vLLM's answers never mix with
another engine's in the cache.
"""

from __future__ import annotations

from w2s.devices import cuda_available, note_emulated_bf16
from w2s.engines import VLLMServer, find_vllm_python
from w2s.students.openai_compat import LOCAL_SERVER_TIMEOUT_S, ManagedServerStudent


class VLLMServerStudent(ManagedServerStudent):
    options = ("dtype", "concurrency", "max_retries", "timeout_s")

    def __init__(self, model: str, *, dtype: str = "auto", concurrency: int = 32, max_retries: int = 6,
                 timeout_s: float = LOCAL_SERVER_TIMEOUT_S, max_model_len: int = 2048, kv_cache_gb: float = 2.0,
                 threads: int | None = None, python: str | None = None, cache=None) -> None:
        from w2s.models import resolve_model

        source = resolve_model(model)
        if dtype == "auto" and not cuda_available():
            dtype = "float32"  # what the hf backend uses on a CPU; bf16 is emulated, and slow, without native support
        if dtype == "bfloat16":
            note_emulated_bf16("vLLM's server")
        self.server = VLLMServer(find_vllm_python(python), str(source.path), model, dtype, max_model_len,
                                 kv_cache_gb, threads).start()
        super().__init__(model, self.server.url, api_key_env="W2S_VLLM_NO_KEY", concurrency=concurrency,
                         max_retries=max_retries, timeout_s=timeout_s, cache=cache)
        self.name = model
        self.fingerprint = f"vllm-server:{source.fingerprint}#{dtype}"
