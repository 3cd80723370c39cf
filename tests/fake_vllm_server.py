"""A stand-in for vLLM's OpenAI server (`python -m vllm.entrypoints.openai.api_server ...`).

Used only by tests of the vllm-server backend's process management. It records its command line,
pid and the environment w2s set in $FAKE_VLLM_RECORD, then serves /health, the completion
endpoints (echo answers) and vLLM's /tokenize + prompt_logprobs on the --port it was given.
FAKE_VLLM_MODE=crash makes it fail like a server that cannot load its model.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

argv = sys.argv[1:]
assert argv[:2] == ["-m", "vllm.entrypoints.openai.api_server"], argv
parser = argparse.ArgumentParser()
for flag in ("--model", "--served-model-name", "--host", "--max-model-len", "--dtype"):
    parser.add_argument(flag)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--no-enable-chunked-prefill", action="store_true")
args = parser.parse_args(argv[2:])
if os.environ.get("FAKE_VLLM_RECORD"):
    env = {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", "OMP_NUM_THREADS", "HF_HUB_OFFLINE",
                                        "VLLM_CPU_NUM_OF_RESERVED_CPU")}
    Path(os.environ["FAKE_VLLM_RECORD"]).write_text(json.dumps({"argv": argv, "pid": os.getpid(), "env": env}))
if os.environ.get("FAKE_VLLM_MODE") == "crash":
    print(f"ValueError: the model at {args.model} needs more KV cache than VLLM_CPU_KVCACHE_SPACE allows",
          file=sys.stderr)
    sys.exit(1)
with FakeOpenAIServer(port=args.port, scoring=True):
    while True:
        time.sleep(1)
