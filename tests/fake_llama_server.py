"""A stand-in for llama.cpp's `llama-server`: same command line, OpenAI-compatible answers.

Used only by tests of the llamacpp backend's process management. It records its command line
and pid in $FAKE_LLAMA_RECORD, then serves /health and the completion endpoints (echo answers)
on the --port it was given. FAKE_LLAMA_MODE=crash makes it fail like a server that cannot load
its model; =slow makes every completion take 1.5 s, =hang an hour; =dead-engine does too, and its health
check answers 503 from the first completion request on (vLLM's front end with a dead engine).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("-m", required=True)
parser.add_argument("--host")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("-np", type=int)
parser.add_argument("-c", type=int)
parser.add_argument("-t", type=int)
parser.add_argument("--no-webui", action="store_true")
args = parser.parse_args()
if os.environ.get("FAKE_LLAMA_RECORD"):
    Path(os.environ["FAKE_LLAMA_RECORD"]).write_text(json.dumps({"argv": sys.argv[1:], "pid": os.getpid()}))
if os.environ.get("FAKE_LLAMA_MODE") == "crash":
    print(f"llama_model_load: error loading model: {args.m} is not a GGUF file", file=sys.stderr)
    sys.exit(1)
MODE = os.environ.get("FAKE_LLAMA_MODE", "")


def plan(prompt: str, attempt: int) -> tuple[str, float]:
    if MODE == "dead-engine":
        fake.health_status = 503
    if MODE == "slow":
        return "sleep", 1.5
    return ("sleep", 3600.0) if MODE in ("hang", "dead-engine") else ("ok", 0.0)


with FakeOpenAIServer(plan=plan, port=args.port) as fake:
    while True:
        time.sleep(1)
