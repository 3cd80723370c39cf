"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat/completions protocol, with faults.

Used only by tests. Each request's fate is decided by `plan(body, attempt)` where `attempt`
counts how often the server has seen that exact prompt: it can answer, sleep, send 429 with
Retry-After, 500, or a malformed body. Answers are derived from the prompt so the client can be
checked for mix-ups; the server counts successful answers per prompt to catch duplicates.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ("ok" | "sleep" | "429" | "400" | "500" | "garbage" | "drop" | "trickle" | "stall", seconds)
Fault = tuple[str, float]


def answer_for(prompt: str) -> str:
    return f"echo:{prompt[::-1]}"


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the default backlog (5) resets connections under 64-way load


class FakeOpenAIServer:
    def __init__(self, plan: Callable[[str, int], Fault] = lambda prompt, attempt: ("ok", 0.0),
                 latency_s: float = 0.0, port: int = 0, scoring: bool = False) -> None:
        self.plan = plan
        self.scoring = scoring  # serve vLLM's /tokenize and prompt_logprobs (else 404, as most servers)
        self.latency_s = latency_s
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.bodies: list[dict] = []  # every request body, as received
        self.in_flight = self.max_in_flight = 0  # requests being handled at once, and the most seen
        self.health_status = 200  # what GET /health answers (vLLM: 503 once its engine has died)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server naming
                if self.path.rstrip("/") == "/health":
                    self._send(server.health_status, {"status": "ok" if server.health_status == 200 else "dead"})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):  # noqa: N802 - http.server naming
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/tokenize"):  # vLLM's: one token per character, chats as role:content lines
                    if not server.scoring:
                        self._send(404, {"detail": "Not Found"})
                        return
                    text = body.get("prompt") if "prompt" in body else "".join(
                        f"{m['role']}:{m['content']}\n" for m in body["messages"]) + "assistant:"
                    self._send(200, {"tokens": [ord(c) for c in text], "count": len(text)})
                    return
                if "prompt_logprobs" in body:  # vLLM's prompt log-probabilities: -0.1 for a digit, -2 otherwise
                    ids = body["prompt"]
                    server.bodies.append(body)
                    found = [None] + [{str(t): {"logprob": -0.1 if chr(t).isdigit() else -2.0, "rank": 1,
                                                "decoded_token": chr(t)}} for t in ids[1:]]
                    self._send(200, {"id": "x", "object": "text_completion", "created": 0, "model": body["model"],
                                     "choices": [{"index": 0, "text": "x", "finish_reason": "length", "logprobs": None,
                                                  "prompt_logprobs": found}]})
                    return
                prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                with server._lock:
                    attempt = server.attempts[prompt]
                    server.attempts[prompt] += 1
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                    server.bodies.append(body)
                kind, seconds = server.plan(prompt, attempt)
                time.sleep(server.latency_s)
                if kind == "sleep":
                    time.sleep(seconds)
                    kind = "ok"
                if kind == "429":
                    self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": str(seconds)})
                elif kind == "400":
                    self._send(400, {"error": {"message": "bad request: unknown parameter"}})
                elif kind == "500":
                    self._send(500, {"error": {"message": "boom"}})
                elif kind == "garbage":
                    self._send_raw(200, b"{this is not json")
                elif kind == "trickle":  # a valid answer, one byte every `seconds`: each read is quick
                    payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                          "choices": [{"index": 0, "message": {"role": "assistant",
                                                                               "content": answer_for(prompt)},
                                                       "finish_reason": "stop"}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    try:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(seconds)
                    except OSError:  # the client gave up: what the test expects
                        pass
                elif kind == "stall":  # a stream that sends one event, then nothing for `seconds`
                    event = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "delta": {"content": "Counting"}, "finish_reason": None}]}
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    try:
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(seconds)
                    except OSError:
                        pass
                    self.close_connection = True
                elif kind == "drop":  # the connection closes with no response at all
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif kind == "401":  # as hosted APIs do: the refusal repeats the key it was sent
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    self._send(401, {"error": {"message": f"Incorrect API key provided: {key}."}})
                else:
                    text = "" if kind == "empty" else answer_for(prompt)
                    if body.get("stream"):  # server-sent events, three content pieces then [DONE]
                        with server._lock:
                            server.answered[prompt] += 1
                        third = max(1, len(text) // 3)
                        pieces = [text[:third], text[third:2 * third], text[2 * third:]]
                        events = [{"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                                   "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                                  for piece in pieces]
                        events[-1]["choices"][0]["finish_reason"] = "stop"
                        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                        self._send_raw(200, data.encode(), content_type="text/event-stream")
                        return
                    if "messages" in body:
                        choice = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}
                        obj = "chat.completion"
                    else:
                        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
                        obj = "text_completion"
                    with server._lock:
                        server.answered[prompt] += 1
                    self._send(200, {"id": "x", "object": obj, "created": 0, "model": body["model"],
                                     "choices": [choice],
                                     "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})

            def _send(self, status, payload, headers=None):
                self._send_raw(status, json.dumps(payload).encode(), headers)

            def _send_raw(self, status, data, headers=None, content_type="application/json"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # serve from its own process (no GIL shared with the client under test)
    import sys

    latency, seconds = float(sys.argv[1]), float(sys.argv[2])
    with FakeOpenAIServer(latency_s=latency) as server:
        print(server.url, flush=True)
        time.sleep(seconds)  # bounded: stops by itself
