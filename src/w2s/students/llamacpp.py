"""`student.backend: llamacpp`: a GGUF model served by llama.cpp's own `llama-server`.

w2s starts the server on 127.0.0.1 for an offline pack's GGUF (kept once, never re-assembled)
or any `.gguf` file, waits until it is healthy, talks to it through the `openai` backend (same
retries, cache and accounting), and stops it when the student is closed or w2s exits. It runs
the quantized weights as they are: about 0.9 GB for the Qwen 0.5B pack against 4.7 GB for the
hf backend's dequantized copy, and faster single-stream answers.

Options (`student.extra.*`): `slots` (parallel sequences, default 16), `ctx_per_slot` (2048),
`threads` (all cores), `server` (a llama-server binary to use). Reproducibility: with one slot
greedy answers are reproducible; with several, batch composition changes the arithmetic and a
greedy answer can differ from run to run. The fingerprint is `llamacpp` + the GGUF's SHA-256,
so these answers never mix with the hf backend's in the cache.
"""

from __future__ import annotations

from w2s.engines import LlamaServer, find_llama_server
from w2s.students.openai_compat import LOCAL_SERVER_TIMEOUT_S, ManagedServerStudent


class LlamaCppStudent(ManagedServerStudent):
    options = ("max_retries", "timeout_s")

    def __init__(self, model: str, *, slots: int = 16, ctx_per_slot: int = 2048, threads: int | None = None,
                 server: str | None = None, max_retries: int = 6, timeout_s: float = LOCAL_SERVER_TIMEOUT_S, cache=None) -> None:
        from w2s.models.sources import resolve_gguf

        gguf, digest = resolve_gguf(model)
        self.server = LlamaServer(find_llama_server(server), gguf, slots, ctx_per_slot, threads).start()
        super().__init__(model, self.server.url, api_key_env="W2S_LLAMACPP_NO_KEY", concurrency=slots,
                         max_retries=max_retries, timeout_s=timeout_s, cache=cache)
        self.name = model
        self.fingerprint = f"llamacpp:{digest[:16]}"
