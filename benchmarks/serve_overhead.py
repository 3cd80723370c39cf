"""What `w2s serve` adds to a request: requests lost and added latency, against the upstream alone.

    python benchmarks/serve_overhead.py [--requests 200] [--latency-ms 200] [--teacher scripted]

Starts a local OpenAI-compatible upstream that answers every chat request after a fixed delay
(aiohttp, so 200 concurrent requests are really concurrent), then sends the same number of
concurrent requests with the official `openai` async client twice in one run: straight to the
upstream, and through the proxy. Prints requests lost (must be 0) and the latency percentiles
of both, with the proxy's added latency at p50 and p99.

The default teacher is scripted (a constant instruction, no model): the numbers are then the
proxy's own cost (HTTP hop, batching queue, placement, cache lookup). `--teacher NAME` puts a
real teacher model in front instead; its first pass writes every instruction, so run with
`--passes 2` to see the cached steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path


def start_upstream(latency_s: float) -> tuple[str, callable]:
    """A fixed-latency upstream on its own event loop; returns (base URL, stop)."""
    from aiohttp import web

    async def chat(request):
        body = await request.json()
        await asyncio.sleep(latency_s)
        text = f"echo:{body['messages'][-1]['content'][::-1]}"
        return web.json_response({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": text}}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)

    return f"http://127.0.0.1:{port}/v1", stop


async def fire(url: str, n: int, tag: str) -> tuple[list[float], int]:
    """n concurrent requests; (latencies of the successful ones in seconds, number lost)."""
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)

    async def one(i: int) -> float | None:
        start = time.perf_counter()
        try:
            answer = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"{tag} question {i}"}])
            ok = answer.choices[0].message.content.startswith("echo:")
        except openai.OpenAIError:
            ok = False
        return time.perf_counter() - start if ok else None

    results = await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
    done = [r for r in results if r is not None]
    return done, n - len(done)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--teacher", default="scripted", help="'scripted' (no model) or a teacher model name")
    parser.add_argument("--passes", type=int, default=1)
    args = parser.parse_args()

    from w2s.serve import ServeConfig, build_proxy, serving_in_background
    from w2s.students.scripted import ScriptedStudent
    from w2s.wst.protocol import InstructionProtocol

    upstream, stop = start_upstream(args.latency_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        scripted = args.teacher == "scripted"
        config = ServeConfig(teacher=args.teacher, upstream=upstream, cache=str(Path(tmp) / "cache.sqlite"),
                             max_concurrency=1024, instruction=InstructionProtocol())
        teacher = ScriptedStudent(lambda prompt, index: "Work step by step.", name="constant") if scripted else None
        proxy = build_proxy(config, teacher)
        with serving_in_background(proxy) as url:
            direct, lost_direct = asyncio.run(fire(upstream, args.requests, "direct"))
            for p in range(args.passes):
                proxied, lost_proxied = asyncio.run(fire(url, args.requests, "proxied"))
                print(f"pass {p + 1}: {args.requests} concurrent requests, upstream latency {args.latency_ms:.0f} ms, "
                      f"teacher {args.teacher} ({proxy.writer.batches} teacher batches so far)")
                print(f"  lost: direct {lost_direct}, through the proxy {lost_proxied}")
                for name, values in (("direct", direct), ("proxy", proxied)):
                    print(f"  {name:7} p50 {1000 * pct(values, 50):7.1f} ms   p99 {1000 * pct(values, 99):7.1f} ms")
                print(f"  added by the proxy: p50 {1000 * (pct(proxied, 50) - pct(direct, 50)):+.1f} ms, "
                      f"p99 {1000 * (pct(proxied, 99) - pct(direct, 99)):+.1f} ms")
    stop()


if __name__ == "__main__":
    main()
