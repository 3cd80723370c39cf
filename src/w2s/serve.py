"""`w2s serve`: a trained teacher as an OpenAI-compatible proxy in front of any student model.

A client talks to w2s exactly as it would to the upstream model (`/v1/chat/completions`, with
`stream` or not). For each request the teacher writes an instruction for the last user turn;
the proxy places it the way the teacher was trained (its run's `instruction_protocol.json`) and
forwards the request, with every other field the client sent, to the upstream. A request that
sets no `max_tokens` gets the answer budget the teacher was trained for (its protocol's
`student_max_tokens`, or `--student-max-tokens`); a client's own budget is passed as sent. The upstream's
answer comes back unchanged, plus the instruction: in the `X-W2S-Instruction` header
(percent-encoded) and, for non-streamed answers, a `w2s_instruction` field.

- The teacher is `w2s.wst.teacher.Teacher` (a run folder, a model name or pack, or any
  OpenAI-compatible endpoint), so its instructions go through the response cache: a question
  seen before costs no teacher generation.
- Concurrent requests share batched teacher generation: requests that arrive within
  `batch_wait_ms` of each other are written in one batch.
- Upstream failures become OpenAI-style errors: 502 (the upstream failed or answered 5xx) or 504
  (it timed out), with the reason; an upstream 4xx (the client's request was refused) is passed
  through as is. Requests in flight to the upstream are bounded by `max_concurrency`.
- Keys come from environment variables only and never reach a log line or an error message.

The HTTP server and the upstream client are aiohttp's.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from w2s.cache import ResponseCache
from w2s.config import check_ranges, setting
from w2s.errors import W2SError, redact
from w2s.paths import default_cache_path
from w2s.students import Student, StudentConfig, make_student
from w2s.students.base import check_base_url
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.teacher import Teacher, check_teacher_source, load_teacher_lm, teacher_protocol

log = logging.getLogger("w2s.serve")


@dataclass
class ServeConfig:
    """Everything `w2s serve` needs: the teacher, the upstream, the listening address, limits."""

    teacher: str = ""  # a `w2s wst train` run folder, a model folder, LoRA adapter, pack or hub id
    # a teacher behind an OpenAI-compatible endpoint instead: teacher_api.backend=openai
    # teacher_api.model=NAME teacher_api.base_url=URL (then `teacher` is ignored)
    teacher_api: StudentConfig | None = None
    upstream: str = ""  # the student's OpenAI-compatible base URL, e.g. http://localhost:8001/v1
    upstream_model: str | None = None  # replaces the client's "model" field when set
    upstream_api_key_env: str = "OPENAI_API_KEY"  # the NAME of the variable holding the upstream's key
    api_key_env: str | None = None  # when set, clients must send this variable's value as a Bearer key
    host: str = "127.0.0.1"
    port: int = setting(8000, low=0, high=65535)
    max_concurrency: int = setting(64, low=1)  # requests in flight to the upstream
    timeout_s: float = setting(300.0, above=0, high=86400)  # longest wait for the upstream's answer (or its next streamed chunk)
    batch_wait_ms: float = setting(10.0, low=0, high=60000)  # how long a teacher batch waits for more requests
    teacher_batch_size: int = setting(16, low=1)
    instruction: InstructionProtocol | None = None  # None: the teacher's own, else the defaults
    cache: str | None = None
    teacher_device: str = "auto"
    # the student's answer budget for requests that set none; None: the one the teacher was trained for
    student_max_tokens: int | None = setting(None, low=1)
    max_question_chars: int = setting(8000, low=1)  # longer last user turns are refused (400): the teacher reads it whole
    max_request_mb: float = setting(1.0, above=0, high=1024)  # larger request bodies are refused (413) before they are read

    def __post_init__(self) -> None:
        if not self.upstream:
            raise ValueError("upstream: the student's OpenAI-compatible base URL is required (--upstream URL)")
        check_base_url(self.upstream, "upstream (--upstream)")
        if not self.teacher and self.teacher_api is None:
            raise ValueError("teacher: a run folder, model name or pack is required (--teacher)")
        check_ranges(self)


def last_user_text(messages: list) -> str:
    """The text of the last user turn (string content, or the text parts of a content list).

    A malformed chat is the client's mistake, so it is a ValueError (a 400), never a 500."""
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{i}]: expected an object with 'role' and 'content'")
        content = message.get("content")
        parts = content if isinstance(content, list) else []
        if any(not isinstance(p, dict) or p.get("type") == "text" and not isinstance(p.get("text"), str) for p in parts):
            raise ValueError(f"messages[{i}].content: every part must be an object, and a text part's 'text' a string")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise ValueError("messages: expected at least one message with role 'user'")


class InstructionWriter:
    """Writes instructions in batches: requests arriving close together share one `Teacher.write` call."""

    def __init__(self, teacher: Teacher, batch_wait_s: float, max_batch: int) -> None:
        self.teacher = teacher
        self.batch_wait_s, self.max_batch = batch_wait_s, max_batch
        self.queue: asyncio.Queue[tuple[str, asyncio.Future]] = asyncio.Queue()
        self.batches = 0
        self.task: asyncio.Task | None = None

    async def write(self, question: str) -> str:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((question, future))
        return await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.batch_wait_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            questions = list(dict.fromkeys(q for q, _ in batch))
            try:
                outs = await asyncio.to_thread(self.teacher.write, questions, "instructions", False)
                written = {q: o.text for q, o in zip(questions, outs, strict=True)}
                self.batches += 1
                for question, future in batch:
                    if not future.done():
                        future.set_result(written[question])
            except Exception as err:  # noqa: BLE001 - every waiting request gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)


def error_response(status: int, message: str, kind: str):
    from aiohttp import web

    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


class Proxy:
    """The aiohttp application: auth, instruction, placement, forwarding, errors."""

    def __init__(self, config: ServeConfig, teacher: Teacher) -> None:
        self.config, self.teacher, self.protocol = config, teacher, teacher.protocol
        # the answer budget the teacher was trained for, unless --student-max-tokens overrides it
        self.student_max_tokens = config.student_max_tokens or self.protocol.student_max_tokens
        self.writer = InstructionWriter(teacher, config.batch_wait_ms / 1000, config.teacher_batch_size)
        self.upstream = config.upstream.rstrip("/")
        self.upstream_host = urlsplit(self.upstream).netloc
        self.gate: asyncio.Semaphore | None = None  # made on the server's event loop
        self.session = None
        self.counts = {"requests": 0, "upstream_errors": 0, "teacher_errors": 0}
        # what the upstream reported in its answers' `usage` (streamed answers usually carry none)
        self.upstream_usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def secrets(self) -> list[str | None]:
        names = [self.config.upstream_api_key_env, self.config.api_key_env]
        return [os.environ.get(n) for n in names if n]

    def app(self):
        from aiohttp import web

        app = web.Application(client_max_size=int(self.config.max_request_mb * 1024 * 1024))
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app) -> None:
        import aiohttp

        self.gate = asyncio.Semaphore(self.config.max_concurrency)
        # timeout_s bounds each wait for the upstream (its first byte, then each streamed chunk), not the
        # whole answer: a long streamed answer that keeps coming is not cut off.
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.timeout_s, sock_read=self.config.timeout_s))
        self.writer.task = asyncio.create_task(self.writer.run())

    async def _stop(self, app) -> None:
        if self.writer.task is not None:
            self.writer.task.cancel()
        if self.session is not None:
            await self.session.close()
        u = self.upstream_usage
        print(f"served {self.counts['requests']} requests; teacher {self.teacher.lm.usage_line()}; upstream "
              f"{u['calls']} answers ({u['prompt_tokens']:,} prompt + {u['completion_tokens']:,} completion tokens "
              "reported)")

    def _authorized(self, request) -> bool:
        if not self.config.api_key_env:
            return True
        expected = os.environ.get(self.config.api_key_env, "")
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # a header with bytes that are not UTF-8 arrives with surrogates: compare bytes, never fail
        return bool(expected) and hmac.compare_digest(sent.encode("utf-8", "surrogateescape"),
                                                      expected.encode("utf-8", "surrogateescape"))

    def _upstream_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.upstream_api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def health(self, request):
        from aiohttp import web

        return web.json_response({"status": "ok", "teacher": self.teacher.name, "upstream": self.upstream_host,
                                  **self.counts, "teacher_batches": self.writer.batches,
                                  "teacher_usage": self.teacher.lm.stats.usage(self.teacher.lm.price),
                                  "upstream_usage": self.upstream_usage})

    async def models(self, request):
        from aiohttp import web

        if not self._authorized(request):
            return error_response(401, "invalid or missing API key for this w2s proxy", "authentication_error")
        try:
            async with self.session.get(f"{self.upstream}/models", headers=self._upstream_headers()) as response:
                body = await response.read()
                return web.Response(body=body, status=response.status, content_type="application/json")
        except Exception as err:  # noqa: BLE001
            return self._upstream_failure(err)

    async def chat(self, request):
        from aiohttp import web

        self.counts["requests"] += 1
        if not self._authorized(request):
            return error_response(401, "invalid or missing API key for this w2s proxy", "authentication_error")
        try:
            body = await request.json()
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("expected a JSON object with a 'messages' list")
            question = last_user_text(body["messages"])
            if len(question) > self.config.max_question_chars:
                raise ValueError(f"the last user turn has {len(question)} characters; this proxy's teacher reads "
                                 f"at most {self.config.max_question_chars} (max_question_chars)")
        except ValueError as err:
            return error_response(400, f"bad request: {err}", "invalid_request_error")
        started = time.perf_counter()
        try:
            instruction = await self.writer.write(question)
        except Exception as err:  # noqa: BLE001 - the teacher failed: say so, never hang
            self.counts["teacher_errors"] += 1
            log.warning("teacher failed: %s", redact(str(err), *self.secrets()))
            return error_response(500, redact(f"the teacher could not write an instruction: {err}", *self.secrets()),
                                  "teacher_error")
        teacher_s = time.perf_counter() - started
        forwarded = {**body, "messages": self.teacher.apply(body["messages"], instruction)}
        if self.student_max_tokens and not any(k in body for k in ("max_tokens", "max_completion_tokens")):
            forwarded["max_tokens"] = self.student_max_tokens  # a client's own budget is its explicit choice
        if self.config.upstream_model:
            forwarded["model"] = self.config.upstream_model
        header = {"X-W2S-Instruction": quote(instruction, safe=" ,.;:!?'()-")}
        async with self.gate:
            try:
                response = await self.session.post(f"{self.upstream}/chat/completions", json=forwarded,
                                                   headers=self._upstream_headers())
            except Exception as err:  # noqa: BLE001
                return self._upstream_failure(err)
            try:
                if response.status >= 500:
                    self.counts["upstream_errors"] += 1
                    detail = await response.text()
                    return error_response(502, redact(f"upstream {self.upstream_host} answered HTTP {response.status}: "
                                                      f"{detail}", *self.secrets(), limit=300), "upstream_error")
                if body.get("stream") and response.status == 200:
                    stream = web.StreamResponse(status=200, headers={
                        **header, "Content-Type": response.headers.get("Content-Type", "text/event-stream"),
                        "Cache-Control": "no-cache"})
                    await stream.prepare(request)
                    try:
                        async for chunk in response.content.iter_any():
                            await stream.write(chunk)
                    except Exception as err:  # noqa: BLE001 - the 200 is sent: end the stream with an error event
                        failure = self._upstream_failure(err)
                        log.warning("stream cut: %s", failure.text)
                        await stream.write(b"data: " + failure.body + b"\n\n")
                    await stream.write_eof()
                    return stream
                raw = await response.read()
            except Exception as err:  # noqa: BLE001 - a failure midway through the upstream's answer
                return self._upstream_failure(err)
            finally:
                response.release()
        if response.status != 200:  # the upstream refused the request (4xx): the client should see why,
            # minus any key (a 401 body often repeats the key it refused: the proxy's own upstream key)
            text = redact(raw.decode("utf-8", "replace"), *self.secrets())
            return web.Response(text=text, status=response.status, content_type="application/json", headers=header)
        try:
            answer = json.loads(raw)
            answer["w2s_instruction"] = instruction
            self._count_usage(answer.get("usage"))
        except (ValueError, TypeError):
            self.counts["upstream_errors"] += 1
            return error_response(502, f"upstream {self.upstream_host} answered with a body that is not JSON",
                                  "upstream_error")
        log.info("answered in %.2fs (teacher %.2fs)", time.perf_counter() - started, teacher_s)
        return web.json_response(answer, headers=header)

    def _count_usage(self, usage) -> None:
        self.upstream_usage["calls"] += 1
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(key), int):
                    self.upstream_usage[key] += usage[key]

    def _upstream_failure(self, err: Exception):
        self.counts["upstream_errors"] += 1
        if isinstance(err, asyncio.TimeoutError | TimeoutError):
            return error_response(504, f"upstream {self.upstream_host} did not answer within {self.config.timeout_s}s",
                                  "upstream_timeout")
        reason = redact(f"{type(err).__name__}: {err}".splitlines()[0], *self.secrets(), limit=300)
        return error_response(502, f"upstream {self.upstream_host} failed ({reason})", "upstream_error")


def load_serving_teacher(config: ServeConfig, cache: ResponseCache) -> Teacher:
    """The teacher: an API endpoint, or a trained run's final teacher or any model, with its protocol."""
    protocol, source = teacher_protocol(config.teacher or None, config.instruction)
    if config.teacher_api is not None:
        return Teacher(make_student(config.teacher_api, cache), protocol, source)
    check_teacher_source(config.teacher)
    return Teacher(load_teacher_lm(config.teacher, cache, config.teacher_device), protocol, source)


def build_proxy(config: ServeConfig, teacher: Teacher | Student | None = None) -> Proxy:
    """The proxy for `config`; `teacher` (a Teacher, or a model to use under config's protocol) for tests."""
    cache = ResponseCache(config.cache or default_cache_path())
    if teacher is None:
        teacher = load_serving_teacher(config, cache)
    elif not isinstance(teacher, Teacher):
        teacher = Teacher(teacher, *teacher_protocol(config.teacher or None, config.instruction))
    if teacher.lm.cache is None:  # instructions are always cached by (teacher fingerprint, prompt)
        teacher.lm.cache = cache
    protocol = teacher.protocol
    budget = config.student_max_tokens or protocol.student_max_tokens
    print(f"teacher {teacher.name}; instruction protocol {teacher.source}: template {protocol.template!r:.40}, "
          f"placement {protocol.placement}, max {protocol.max_tokens} tokens; student answers up to "
          f"{budget or 'what the client asks'} tokens when a request sets none"
          f"{' (as trained)' if budget and not config.student_max_tokens else ''}; upstream "
          f"{urlsplit(config.upstream).netloc}")
    return Proxy(config, teacher)


@contextmanager
def serving_in_background(proxy: Proxy, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the proxy on its own event loop in a thread; yields its base URL (tests, notebooks)."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(proxy.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, port)
    loop.run_until_complete(site.start())
    bound = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{bound}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def run_server(config: ServeConfig, teacher: Teacher | Student | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM shut down gracefully)."""
    from aiohttp import web

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    proxy = build_proxy(config, teacher)
    try:  # bound here, so a port in use is one line and `--port 0` can say which port it got
        sock = socket.create_server((config.host, config.port))
    except OSError as err:
        raise W2SError(f"cannot listen on {config.host}:{config.port} ({err.strerror or err}); is another server "
                       "using it? choose another --port") from None
    port = sock.getsockname()[1]
    web.run_app(proxy.app(), sock=sock, shutdown_timeout=10,  # announced once it listens, never before
                print=lambda _: print(f"w2s proxy on http://{config.host}:{port}/v1 (Ctrl-C stops it)", flush=True),
                access_log_format='%a "%r" %s %Tfs')  # no headers: keys never reach the log


