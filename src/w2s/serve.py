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
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from w2s.cache import ResponseCache
from w2s.config import cache_setting, check_ranges, setting
from w2s.errors import W2SError, redact, redact_data, secret_from_env
from w2s.paths import default_cache_path
from w2s.students import Student, StudentConfig, make_student
from w2s.students.base import check_base_url
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.teacher import Teacher, teacher_protocol

log = logging.getLogger("w2s.serve")


@dataclass
class ServeConfig:
    """Everything `w2s serve` needs: the teacher, the upstream, the listening address, limits."""

    teacher: str = setting("",
                           help="a `w2s wst train` run folder, a model folder, LoRA adapter, pack or hub id")
    teacher_api: StudentConfig | None = setting(None,
                                                help="a teacher behind an OpenAI-compatible endpoint "
                                                     "instead: teacher_api.backend=openai "
                                                     "teacher_api.model=NAME teacher_api.base_url=URL (then "
                                                     "`teacher` is ignored)")
    upstream: str = setting("",
                            help="the student's OpenAI-compatible base URL, e.g. http://localhost:8001/v1")
    upstream_model: str | None = setting(None, help="replaces the client's \"model\" field when set")
    upstream_api_key_env: str = setting("OPENAI_API_KEY",
                                        help="the NAME of the variable holding the upstream's key")
    api_key_env: str | None = setting(None,
                    help="when set, clients must send this variable's value as a Bearer key")
    host: str = setting("127.0.0.1", help="address to listen on")
    port: int = setting(8000, low=0, high=65535, help="port (0: any free one)")
    max_concurrency: int = setting(64, low=1, help="requests in flight to the upstream")
    timeout_s: float = setting(300.0, above=0, high=86400,
                               help="longest wait for the upstream's answer (or its next streamed chunk)")
    batch_wait_ms: float = setting(10.0, low=0, high=60000,
                                   help="how long a teacher batch waits for more requests")
    teacher_batch_size: int = setting(16, low=1, help="questions the teacher writes instructions for at once")
    instruction: InstructionProtocol | None = setting(None, help="None: the teacher's own, else the defaults")
    cache: str | None = cache_setting()
    teacher_device: str = setting("auto", help="auto = cuda if available else cpu")
    student_max_tokens: int | None = setting(None, low=1,
                                             help="the student's answer budget for requests that set none; "
                                                  "None: the one the teacher was trained for")
    max_question_chars: int = setting(8000, low=1,
                    help="longer last user turns are refused (400): the teacher reads it whole")
    max_request_mb: float = setting(1.0, above=0, high=1024,
                                    help="larger request bodies are refused (413) before they are read")

    def __post_init__(self) -> None:
        if not self.upstream:
            raise ValueError("upstream: the student's OpenAI-compatible base URL is required (--upstream URL)")
        check_base_url(self.upstream, "upstream (--upstream)", "--upstream-api-key-env")
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
                except TimeoutError:  # asyncio.TimeoutError is this class on Python 3.11+, which w2s requires
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

    return web.json_response({"error": {"message": redact(message), "type": kind, "code": status}}, status=status)


def web_json(data: dict, headers: dict):
    from aiohttp import web

    return web.json_response(data, headers=headers)


class Proxy:
    """The aiohttp application: auth, instruction, placement, forwarding, errors."""

    def __init__(self, config: ServeConfig, teacher: Teacher) -> None:
        self.config, self.teacher, self.protocol = config, teacher, teacher.protocol
        # the answer budget the teacher was trained for, unless --student-max-tokens overrides it
        self.student_max_tokens, _ = self.protocol.answer_budget(config.student_max_tokens, None)
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
        return [secret_from_env(n) for n in names if n]

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
        expected = secret_from_env(self.config.api_key_env) or ""
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        # a header with bytes that are not UTF-8 arrives with surrogates: compare bytes, never fail
        return bool(expected) and hmac.compare_digest(sent.encode("utf-8", "surrogateescape"),
                                                      expected.encode("utf-8", "surrogateescape"))

    def _upstream_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = secret_from_env(self.config.upstream_api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def health(self, request):
        from aiohttp import web

        # the teacher's name, never this machine's path to it
        name = self.teacher.name.rstrip("/").rsplit("/", 1)[-1] if self.teacher.name.startswith(("/", ".", "~")) \
            else self.teacher.name
        return web.json_response({"status": "ok", "teacher": name, "upstream": self.upstream_host,
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
        """Parse the client's request, write its instruction, forward it, relay the answer."""
        self.counts["requests"] += 1
        if not self._authorized(request):
            return error_response(401, "invalid or missing API key for this w2s proxy", "authentication_error")
        try:
            body, question = await self._parse(request)
        except ValueError as err:
            return error_response(400, f"bad request: {err}", "invalid_request_error")
        started = time.perf_counter()
        try:
            instruction = await self.writer.write(question)
        except Exception as err:  # noqa: BLE001 - the teacher failed: say so, never hang
            self.counts["teacher_errors"] += 1
            log.warning("teacher failed: %s", redact(str(err)))
            return error_response(500, redact(f"the teacher could not write an instruction: {err}", *self.secrets()),
                                  "teacher_error")
        header = {"X-W2S-Instruction": quote(instruction, safe=" ,.;:!?'()-")}
        async with self.gate:
            answer = await self._forward(request, self._forwarded(body, instruction), header, bool(body.get("stream")))
        if isinstance(answer, dict):
            answer["w2s_instruction"] = instruction
            log.info("answered in %.2fs", time.perf_counter() - started)
            return web_json(answer, header)
        return answer

    async def _parse(self, request) -> tuple[dict, str]:
        """The request's JSON body and its last user turn; ValueError (a 400) for anything malformed."""
        raw = await request.read()
        try:
            body = json.loads(raw)
        except RecursionError:
            raise ValueError("the JSON body is nested too deeply") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("the body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise ValueError("expected a JSON object with a 'messages' list")
        question = last_user_text(body["messages"])
        if len(question) > self.config.max_question_chars:
            raise ValueError(f"the last user turn has {len(question)} characters; this proxy's teacher reads "
                             f"at most {self.config.max_question_chars} (max_question_chars)")
        return body, question

    def _forwarded(self, body: dict, instruction: str) -> dict:
        """The client's request with the instruction placed, the trained budget and the upstream model."""
        forwarded = {**body, "messages": self.teacher.apply(body["messages"], instruction)}
        if self.student_max_tokens and not any(k in body for k in ("max_tokens", "max_completion_tokens")):
            forwarded["max_tokens"] = self.student_max_tokens  # a client's own budget is its explicit choice
        if self.config.upstream_model:
            forwarded["model"] = self.config.upstream_model
        return forwarded

    async def _forward(self, request, forwarded: dict, header: dict, stream: bool):
        """Send to the upstream; its answer as a dict (a JSON object) or a finished response. The
        whole exchange is bounded by `timeout_s`, except a stream's body once it flows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s

        def left() -> float:
            return max(0.0, deadline - loop.time())

        try:
            response = await asyncio.wait_for(self.session.post(
                f"{self.upstream}/chat/completions", json=forwarded, headers=self._upstream_headers()), left())
        except Exception as err:  # noqa: BLE001
            return self._upstream_failure(err)
        try:
            if response.status >= 500:
                detail = await asyncio.wait_for(response.text(errors="replace"), left())
                self.counts["upstream_errors"] += 1
                return error_response(502, redact(f"upstream {self.upstream_host} answered HTTP {response.status}: "
                                                  f"{detail}", *self.secrets(), limit=300), "upstream_error")
            if stream and response.status == 200 and "event-stream" in response.headers.get("Content-Type", ""):
                return await self._relay_stream(request, response, header)
            raw = await asyncio.wait_for(response.read(), left())
        except Exception as err:  # noqa: BLE001 - a failure midway through the upstream's answer
            return self._upstream_failure(err)
        finally:
            response.release()
        return self._classify(response.status, raw, header)

    def _classify(self, status: int, raw: bytes, header: dict):
        """A whole upstream body: a 4xx passed on (minus any key), a JSON object as the answer,
        anything else a 502, whether or not the client asked for a stream."""
        from aiohttp import web

        if status != 200:  # the upstream refused the request (4xx): the client should see why, minus any key
            text = redact(raw.decode("utf-8", "replace"), *self.secrets())
            return web.Response(text=text, status=status, content_type="application/json", headers=header)
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            self.counts["upstream_errors"] += 1
            return error_response(502, f"upstream {self.upstream_host} answered with a body that is not a JSON "
                                       "object", "upstream_error")
        self._count_usage(answer.get("usage"))
        return json.loads(redact_data(json.dumps(answer)))

    async def _relay_stream(self, request, response, header: dict):
        """Relay an event stream event by event, each redacted whole (a key split between two
        chunks is still found); a client that leaves ends the relay without blaming the upstream."""
        from aiohttp import web

        stream = web.StreamResponse(status=200, headers={
            **header, "Content-Type": response.headers.get("Content-Type", "text/event-stream"),
            "Cache-Control": "no-cache"})
        await stream.prepare(request)
        pending = b""
        try:
            async for chunk in response.content.iter_any():
                events = (pending + chunk).split(b"\n\n")
                pending = events.pop()
                for event in events:
                    await stream.write(self._redacted(event) + b"\n\n")
            if pending:
                await stream.write(self._redacted(pending))
        except ConnectionResetError:  # the client left: nothing to answer, and not the upstream's fault
            log.info("client left mid-stream")
            return stream
        except Exception as err:  # noqa: BLE001 - the 200 is sent: end the stream with an error event
            failure = self._upstream_failure(err)
            log.warning("stream cut: %s", failure.text)
            try:
                await stream.write(b"data: " + failure.body + b"\n\n")
            except ConnectionResetError:
                return stream
        await stream.write_eof()
        return stream

    def _redacted(self, event: bytes) -> bytes:
        """An event without the keys in play: streamed answers are the model's words, so only what
        is surely a key goes (`redact_data`; the generic patterns of error lines would change text)."""
        self.secrets()  # registers the keys in play
        return redact_data(event.decode("utf-8", "replace")).encode()

    def _count_usage(self, usage) -> None:
        self.upstream_usage["calls"] += 1
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:  # never negative totals
                    self.upstream_usage[key] += value

    def _upstream_failure(self, err: Exception):
        self.counts["upstream_errors"] += 1
        if isinstance(err, asyncio.TimeoutError | TimeoutError):
            return error_response(504, f"upstream {self.upstream_host} did not answer within {self.config.timeout_s}s",
                                  "upstream_timeout")
        reason = redact(f"{type(err).__name__}: {err}".splitlines()[0], *self.secrets(), limit=300)
        return error_response(502, f"upstream {self.upstream_host} failed ({reason})", "upstream_error")


def load_serving_teacher(config: ServeConfig, cache: ResponseCache) -> Teacher:
    """The teacher: an API endpoint, or a trained run's final teacher or any model, with its protocol."""
    if config.teacher_api is not None:
        return Teacher(make_student(config.teacher_api, cache), *teacher_protocol(config.teacher or None,
                                                                                  config.instruction))
    return Teacher.load(config.teacher, config.instruction, cache, config.teacher_device)


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
    budget, source = protocol.answer_budget(config.student_max_tokens, None)
    limit = f"up to {budget} tokens ({source})" if budget else "as long as the upstream allows"
    print(f"teacher {teacher.name}; instruction protocol {teacher.source}: template {protocol.template!r:.40}, "
          f"placement {protocol.placement}, max {protocol.max_tokens} tokens; a request that sets no max_tokens "
          f"gets answers {limit}; upstream {urlsplit(config.upstream).netloc}")
    check_keys(config)
    return Proxy(config, teacher)


def check_keys(config: ServeConfig) -> None:
    """Say at start-up, not in every answer, what a key variable that is not set means."""
    if config.api_key_env and not secret_from_env(config.api_key_env):
        raise W2SError(f"--api-key-env {config.api_key_env}: that variable is not set, so every client would get "
                       f"401; set it, or drop --api-key-env to serve without a key")
    if not secret_from_env(config.upstream_api_key_env):
        print(f"no upstream key: ${config.upstream_api_key_env} is not set, so requests go to the upstream without "
              "one (set it, or name another variable with --upstream-api-key-env, if the upstream needs a key)")


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


