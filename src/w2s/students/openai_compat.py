"""Any OpenAI-compatible server as a student: vLLM, llama.cpp server, Ollama, hosted APIs.

Async with bounded concurrency. Transient failures (429, 5xx, timeouts, dropped connections,
malformed JSON bodies) are retried with exponential backoff and full jitter, honouring the
server's Retry-After. The API key is read from an environment variable whose NAME is
configured; the key itself is never logged, cached or written anywhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import email.utils
import ipaddress
import json
import os
import random
import time
from typing import NoReturn
from urllib.parse import urlsplit

from w2s.devices import cuda_available, sample_seed
from w2s.errors import W2SError, redact, secret_from_env
from w2s.students.base import (
    Completion,
    OnResult,
    Prompt,
    Request,
    SamplingParams,
    Student,
    TargetScore,
    check_base_url,
)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EmptyAnswer(ValueError):
    """A 200 response whose answer is empty: retried like a malformed one, never cached."""


def server_url(base_url: str | None) -> str:
    """The server a student talks to: the given URL, else $OPENAI_BASE_URL, else OpenAI's."""
    return base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"


class OpenAIStudent(Student):
    options = ("base_url", "api_key_env", "concurrency", "max_retries", "timeout_s")

    def __init__(self, model: str, base_url: str | None = None, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 32, max_retries: int = 6, timeout_s: float = 120.0,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0, cache=None) -> None:
        super().__init__(cache)
        self.name = model
        self.model = model
        self.base_url = server_url(base_url)
        try:
            check_base_url(self.base_url)
        except ValueError as err:
            raise W2SError(str(err)) from None
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.fingerprint = self._fingerprint(self.base_url, model)
        # a server on this machine computes on the trainer's CPU cores unless a GPU serves it
        self.separate_compute = not _on_this_machine(self.base_url) or cuda_available()

    @staticmethod
    def _fingerprint(base_url: str, model: str) -> str:
        return f"openai:{base_url.rstrip('/')}:{model}"

    @classmethod
    def fingerprint_for(cls, config) -> str | None:
        if cls is not OpenAIStudent:  # a server w2s starts names its weights instead (each its own)
            return None
        return cls._fingerprint(server_url(config.base_url), config.model)

    def _client(self):
        from openai import AsyncOpenAI

        # Local servers accept any key; hosted APIs need the variable set.
        key = self._key() or "EMPTY"
        if any(not 32 < ord(c) < 127 for c in key):  # would fail inside the HTTP layer as a "malformed response"
            raise W2SError(f"the key in ${self.api_key_env} has characters an HTTP header cannot carry (spaces, "
                           "newlines or non-ASCII); check how it was set")
        kwargs = {}
        try:  # aiohttp's connection pool costs far less CPU per request than httpx's at 64-way load
            from openai import DefaultAioHttpClient

            kwargs["http_client"] = DefaultAioHttpClient(timeout=self.timeout_s)
        except (ImportError, RuntimeError):
            pass
        return AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=self.timeout_s, **kwargs)

    def _key(self) -> str | None:
        return secret_from_env(self.api_key_env)

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._agenerate(requests, params, on_result))
            return
        # Called from inside an event loop (e.g. a notebook): run ours on a fresh thread.
        with cf.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._agenerate(requests, params, on_result)).result()

    async def _agenerate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        client = self._client()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(i: int, request: Request) -> None:
            async with gate:
                if self.budget_spent():  # student.budget: send nothing more; the base class says so
                    return
                completion = await self._with_retries(lambda: self._once(client, request, params))
            on_result(i, completion)

        try:
            outcomes = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)), return_exceptions=True)
        finally:
            await client.close()
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise W2SError(redact(f"{len(failures)} of {len(requests)} requests to {self.base_url} failed "
                                  f"(answers received so far are cached): {failures[0]}", self._key(), limit=600))

    async def _with_retries(self, call):
        """`call()` (a coroutine factory: one request) with the retry policy above; W2SError when it gives up."""
        attempt = 0
        while True:
            start = time.monotonic()
            try:  # bounds the whole request: a body trickled byte by byte never resets this clock
                return await asyncio.wait_for(call(), self.timeout_s)
            except W2SError:  # already one line saying what to do: not a transient failure
                raise
            except Exception as err:  # noqa: BLE001 - classified below
                retry, wait, reason = self._classify(err, attempt, time.monotonic() - start)
                if not retry or attempt >= self.max_retries:
                    if isinstance(err, EmptyAnswer):  # kept out of the cache and counted (see base.py)
                        return Completion("", 0, "empty")
                    raise W2SError(redact(f"{reason} after {attempt + 1} attempt(s)", self._key(), limit=400)) from None
                attempt += 1
                self.stats.retries += 1
                await asyncio.sleep(wait)

    # ---- scoring: teacher-forced log-probabilities through the server ---------------------------

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        """Each target's log-probability after its prompt, from the server's *prompt* log-probabilities.

        The prompt is tokenized by the server (`/tokenize`, chat template applied for chats), the
        target appended as its tokens, and `/v1/completions` asked for `prompt_logprobs` with one
        token to generate: vLLM's extension, so the likelihood reward and the judge's probability
        mode work against a vLLM server as they do in process. A server without it is refused in
        one line (hosted APIs and llama.cpp's server do not return prompt log-probabilities).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._ascore(pairs, advance))
        with cf.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self._ascore(pairs, advance)).result()

    async def _ascore(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        import aiohttp

        client = self._client()
        root = self.base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {self._key() or 'EMPTY'}"}
        gate = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            async def tokens(body: dict) -> list[int]:
                async with session.post(f"{root}/tokenize", json={"model": self.model, **body}) as response:
                    if response.status == 404:
                        raise W2SError(f"{self.base_url}: the server has no /tokenize endpoint, so it cannot score "
                                       "text; scoring (reward.kind likelihood, judge_mode probability) needs a vLLM "
                                       "server or a local backend (hf)")
                    response.raise_for_status()
                    found = (await response.json()).get("tokens")
                if not isinstance(found, list) or not all(isinstance(t, int) for t in found):
                    raise ValueError("malformed /tokenize answer")
                return found

            async def one(prompt: Prompt, target: str) -> TargetScore:
                async with gate:
                    head = await self._with_retries(lambda: tokens(
                        {"prompt": prompt, "add_special_tokens": True} if isinstance(prompt, str)
                        else {"messages": prompt, "add_generation_prompt": True}))
                    tail = await self._with_retries(lambda: tokens({"prompt": target, "add_special_tokens": False}))
                    response = await self._with_retries(lambda: client.completions.create(
                        model=self.model, prompt=head + tail, max_tokens=1, temperature=0.0,
                        extra_body={"prompt_logprobs": 0}))
                found = (response.choices[0].model_extra or {}).get("prompt_logprobs")
                if not isinstance(found, list) or len(found) != len(head) + len(tail):
                    raise W2SError(f"{self.base_url} returned no prompt log-probabilities; scoring needs a server "
                                   "that supports vLLM's prompt_logprobs, or a local backend (hf)")
                total = 0.0
                for position, token in zip(found[len(head):], tail, strict=True):
                    entry = (position or {}).get(str(token))
                    if not isinstance(entry, dict) or not isinstance(entry.get("logprob"), int | float):
                        raise W2SError(f"{self.base_url}: prompt log-probabilities without the prompt's own tokens")
                    total += float(entry["logprob"])
                advance(1)
                return TargetScore(total, len(tail))

            try:
                return list(await asyncio.gather(*(one(p, t) for p, t in pairs)))
            finally:
                await client.close()

    async def _once(self, client, request: Request, params: SamplingParams) -> Completion:
        common = {"model": self.model, "max_tokens": params.max_tokens, "temperature": params.temperature}
        if params.temperature > 0:
            common.update(top_p=params.top_p, seed=sample_seed(params.seed, request.index))
        if isinstance(request.prompt, str):
            response = await client.completions.create(prompt=request.prompt, **common)
            text = response.choices[0].text
        else:
            response = await client.chat.completions.create(messages=request.prompt, **common)
            text = response.choices[0].message.content
        if not isinstance(text, str):
            raise ValueError("malformed response: no text in choices[0]")
        if not text.strip():
            raise EmptyAnswer("empty answer")
        usage = getattr(response, "usage", None)
        n_tokens = _count(getattr(usage, "completion_tokens", None)) or len(text.split())
        finish = response.choices[0].finish_reason or "stop"
        return Completion(text, n_tokens, "length" if finish == "length" else "stop",
                          prompt_tokens=_count(getattr(usage, "prompt_tokens", None)))

    def _classify(self, err: Exception, attempt: int, elapsed_s: float | None = None) -> tuple[bool, float, str]:
        """(retryable?, seconds to wait, a one-line reason without secrets).

        The aiohttp transport reports a connection the server closed as a *timeout*, so an
        APITimeoutError that came long before `timeout_s` is reported as the dropped connection
        it was (a user chasing a "timeout" would raise the timeout instead of fixing the server).
        """
        import openai

        backoff = random.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))
        if isinstance(err, openai.APIStatusError):
            status = err.status_code
            reason = f"HTTP {status} from {self.base_url}"
            if status in _RETRY_STATUS:
                after = _retry_after(err.response.headers)
                return True, (after + random.uniform(0, 0.1)) if after is not None else backoff, reason
            return False, 0.0, f"{reason}: {_short(err)}"
        import aiohttp

        if isinstance(err, aiohttp.ClientResponseError):  # the scoring path's own requests (/tokenize)
            return err.status in _RETRY_STATUS, backoff, f"HTTP {err.status} from {self.base_url}"
        if isinstance(err, aiohttp.ClientConnectionError):
            return True, backoff, f"connection to {self.base_url} failed ({type(err).__name__})"
        if isinstance(err, TimeoutError | asyncio.TimeoutError):  # asyncio.wait_for: the whole request took longer than timeout_s
            return True, backoff, (f"no complete answer within {self.timeout_s}s from {self.base_url} "
                                  "(long answers from a busy server: raise student.timeout_s)")
        if isinstance(err, openai.APITimeoutError):
            if elapsed_s is None or elapsed_s >= 0.9 * self.timeout_s:
                return True, backoff, f"timeout after {self.timeout_s}s from {self.base_url}"
            cause = err.__cause__ or err.__context__
            detail = f": {_short(cause)}" if cause is not None else ""
            return True, backoff, f"connection to {self.base_url} dropped after {elapsed_s:.1f}s{detail}"
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err.__context__
            detail = f" ({type(cause).__name__})" if cause is not None else ""
            return True, backoff, f"connection to {self.base_url} failed{detail}"
        if isinstance(err, EmptyAnswer):
            return True, backoff, f"empty answers from {self.base_url}"
        if isinstance(err, (json.JSONDecodeError, openai.APIResponseValidationError, ValueError,
                            AttributeError, IndexError, TypeError)):
            return True, backoff, f"malformed response from {self.base_url}"
        return False, 0.0, f"{type(err).__name__} from {self.base_url}: {_short(err)}"


# The per-request limit for a server w2s started on this machine. On a 2-core CPU, 64 requests
# of 1,024 tokens in flight take about 7 minutes each, longer on slower CPUs, and a timed-out
# request is retried from its start; a server that dies is reported at once (`_blame_server`),
# so the limit only has to catch a server that hangs.
LOCAL_SERVER_TIMEOUT_S = 3600.0


class ManagedServerStudent(OpenAIStudent):
    """An `openai` student whose server w2s started (`self.server`, a `w2s.engines.ManagedServer`)
    and stops: on `close()`, at the end of a `with` block, or when w2s exits.

    While requests are in flight the server is watched: a server that exits, or fails its health
    check for `unhealthy_limit_s` (stopped, hung, or with a dead engine behind a live front end),
    ends the run with one line within seconds, not after the hour-long request timeout.
    """

    server = None
    watch_every_s = 10.0  # how often a run looks at its server
    unhealthy_limit_s = 180.0  # how long a failing health check is borne (a loaded CPU answers late)

    def _generate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        try:
            super()._generate(requests, params, on_result)
        except W2SError as err:
            self._blame_server(err)

    def _score(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        try:
            return super()._score(pairs, advance)
        except W2SError as err:
            self._blame_server(err)

    async def _agenerate(self, requests: list[Request], params: SamplingParams, on_result: OnResult) -> None:
        await self._watched(super()._agenerate(requests, params, on_result))

    async def _ascore(self, pairs: list[tuple[Prompt, str]], advance) -> list[TargetScore]:
        return await self._watched(super()._ascore(pairs, advance))

    async def _watched(self, work):
        """`work`'s result, unless the server fails first: then the requests are cancelled (answers
        received are already cached) and the failure is raised as one line."""
        if self.server is None:
            return await work
        job, watch = asyncio.ensure_future(work), asyncio.ensure_future(self._watch())
        try:
            await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (job, watch):
                task.cancel()
            await asyncio.gather(job, watch, return_exceptions=True)
        if job.cancelled():
            raise watch.exception()
        return job.result()

    async def _watch(self) -> NoReturn:
        """Raise W2SError once the server has exited or has failed its health check for too long."""
        failing_since = None
        while True:
            await asyncio.sleep(self.watch_every_s)
            if (death := self.server.death()) is not None:
                raise W2SError(f"{death} (answers received so far are cached: rerun to continue)")
            if await asyncio.to_thread(self.server.healthy, max(self.watch_every_s, 1.0)):
                failing_since = None
                continue
            failing_since = failing_since or time.monotonic()
            if (silent := time.monotonic() - failing_since) >= self.unhealthy_limit_s:
                raise W2SError(f"{self.server.silence(silent)} (answers received so far are cached: "
                               "rerun to continue)")

    def _blame_server(self, err: W2SError) -> NoReturn:
        """Requests failed: if the server w2s started has died, say that (its exit code and last log
        line, and where its log is kept) instead of the connection errors it caused."""
        death = self.server.death() if self.server is not None else None
        if death is None:
            raise err
        raise W2SError(f"{death} (answers received so far are cached: rerun to continue)") from None

    def close(self) -> None:
        """Stop the server now (it is also stopped at exit)."""
        if self.server is not None:
            self.server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _on_this_machine(base_url: str) -> bool:
    """Whether `base_url` names this machine (localhost or a loopback address)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in ("localhost", "0.0.0.0") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _count(value) -> int:
    """A token count a server reported; anything but a non-negative integer counts as not reported (0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _retry_after(headers) -> float | None:
    """Seconds from Retry-After (seconds or HTTP date) or retry-after-ms, capped at 60."""
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return min(60.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        pass
    try:  # an HTTP date; anything else ("soon") falls back to the usual backoff
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(60.0, max(0.0, parsed.timestamp() - time.time())) if parsed else None


def _short(err: Exception) -> str:
    """The error's first line, whole: callers redact it, then cut it (never the other way round)."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__
