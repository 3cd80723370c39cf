"""The proxy answers every request with a bounded, correct status, and no key leaves it: upstream
bodies of every shape (HTML with the key escaped, error events inside a 200 stream, HTML or
truncated JSON where JSON was due, a body that trickles), hostile requests, clients that leave.

The upstream here is a real aiohttp server whose answer each test scripts byte for byte."""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from w2s.errors import W2SError
from w2s.serve import ServeConfig, build_proxy, serving_in_background
from w2s.students.scripted import ScriptedStudent
from w2s.wst.protocol import InstructionProtocol

KEY = "sk-up/SECRET+0123456789"


class ScriptedUpstream:
    """An HTTP server whose /chat/completions runs `handler(request)` (an aiohttp coroutine)."""

    def __init__(self, handler) -> None:
        self.handler = handler

    def __enter__(self) -> str:
        from aiohttp import web

        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handler)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def proxy_for(upstream: str, tmp_path, **kw):
    config = ServeConfig(teacher="scripted", upstream=upstream, cache=str(tmp_path / "c.sqlite"),
                         instruction=InstructionProtocol(), upstream_api_key_env="UPSTREAM_KEY", **kw)
    return build_proxy(config, ScriptedStudent(lambda p, i: "Hint.", name="teacher"))


def post(url: str, body: bytes | dict, timeout: float = 30) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/chat/completions", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


ASK = {"model": "m", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}


@pytest.fixture(autouse=True)
def upstream_key(monkeypatch):
    monkeypatch.setenv("UPSTREAM_KEY", KEY)


def test_an_html_error_body_with_the_key_escaped_is_redacted(tmp_path):
    from aiohttp import web

    async def forbidden(request):
        return web.Response(status=403, content_type="text/html",
                            text="<p>key sk-up&#x2F;SECRET&#43;0123456789 refused</p>")

    with ScriptedUpstream(forbidden) as upstream, serving_in_background(proxy_for(upstream, tmp_path)) as url:
        status, text = post(url, ASK)
    assert status == 403 and "SECRET" not in text and "***" in text


def test_an_error_event_inside_a_200_stream_is_redacted(tmp_path):
    from aiohttp import web

    async def revoked(request):
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        event = json.dumps({"error": {"message": f"key {KEY} revoked"}}).encode()
        await response.write(b"data: " + event[:20])  # the key arrives split over two chunks
        await response.write(event[20:] + b"\n\n")
        await response.write_eof()
        return response

    with ScriptedUpstream(revoked) as upstream, serving_in_background(proxy_for(upstream, tmp_path)) as url:
        status, text = post(url, {**ASK, "stream": True})
    assert status == 200 and "SECRET" not in text and "revoked" in text


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"choices": [', b"[1,2,3]"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_200_that_is_not_a_json_object_is_a_502_streamed_or_not(tmp_path, body, stream):
    from aiohttp import web

    async def broken(request):
        return web.Response(status=200, body=body, content_type="text/html" if body.startswith(b"<") else
                            "application/json")

    with ScriptedUpstream(broken) as upstream, serving_in_background(proxy_for(upstream, tmp_path)) as url:
        status, text = post(url, {**ASK, "stream": stream})
    assert status == 502 and "not a JSON object" in text


def test_a_trickled_body_is_cut_at_the_timeout_with_a_504(tmp_path):
    from aiohttp import web

    async def trickle(request):
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(60):
            await response.write(b" ")
            await asyncio.sleep(0.5)
        return response

    with ScriptedUpstream(trickle) as upstream, serving_in_background(proxy_for(upstream, tmp_path,
                                                                                timeout_s=2)) as url:
        started = time.monotonic()
        status, _ = post(url, ASK)
    assert status == 504 and time.monotonic() - started < 8


def test_a_deeply_nested_request_is_a_400(tmp_path):
    from aiohttp import web

    async def unused(request):
        return web.json_response({})

    with ScriptedUpstream(unused) as upstream, serving_in_background(proxy_for(upstream, tmp_path)) as url:
        status, text = post(url, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nested too deeply" in text


def test_negative_usage_never_lowers_the_totals(tmp_path):
    from aiohttp import web

    async def negative(request):
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "4"}}],
                                  "usage": {"prompt_tokens": -500, "completion_tokens": 3}})

    with ScriptedUpstream(negative) as upstream:
        proxy = proxy_for(upstream, tmp_path)
        with serving_in_background(proxy) as url:
            assert post(url, ASK)[0] == 200
    assert proxy.upstream_usage == {"calls": 1, "prompt_tokens": 0, "completion_tokens": 3}


def test_a_client_that_leaves_mid_stream_is_not_an_upstream_error(tmp_path):
    import socket
    from urllib.parse import urlsplit

    from aiohttp import web

    async def slow_stream(request):
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(20):
            await response.write(f"data: {json.dumps({'i': i})}\n\n".encode())
            await asyncio.sleep(0.1)
        await response.write_eof()
        return response

    with ScriptedUpstream(slow_stream) as upstream:
        proxy = proxy_for(upstream, tmp_path)
        with serving_in_background(proxy) as url:
            parts = urlsplit(url)
            body = json.dumps({**ASK, "stream": True}).encode()
            with socket.create_connection((parts.hostname, parts.port)) as conn:
                conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                conn.recv(200)  # the stream has begun; then the client goes away
            time.sleep(2.5)
    assert proxy.counts["upstream_errors"] == 0


def test_a_client_key_variable_that_is_not_set_is_one_line_at_start(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PROXY_KEY", raising=False)
    with pytest.raises(W2SError, match="--api-key-env NO_SUCH_PROXY_KEY: that variable is not set"):
        proxy_for("http://127.0.0.1:9/v1", tmp_path, api_key_env="NO_SUCH_PROXY_KEY")


def test_credentials_in_the_upstream_url_point_at_the_upstream_key_setting():
    with pytest.raises(ValueError, match="named by --upstream-api-key-env"):
        ServeConfig(teacher="t", upstream="http://user:key@host/v1")
