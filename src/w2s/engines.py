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


def installed_engines() -> dict[str, str]:
    """What `w2s engines` lists: engine name -> where its binary is (or why it is missing)."""
    try:
        return {"llamacpp": str(find_llama_server())}
    except W2SError:
        return {"llamacpp": "not installed (w2s engines install llamacpp)"}


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


class LlamaServer:
    """One `llama-server` process for one GGUF file, on 127.0.0.1, for as long as w2s needs it."""

    def __init__(self, binary: Path, gguf: Path, slots: int = 16, ctx_per_slot: int = 2048,
                 threads: int | None = None, startup_timeout_s: float = 300.0) -> None:
        if slots < 1 or ctx_per_slot < 64:
            raise W2SError("llamacpp: student.extra.slots must be >= 1 and ctx_per_slot >= 64")
        self.binary, self.gguf, self.slots = binary, gguf, slots
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
                        "-np", str(slots), "-c", str(slots * ctx_per_slot), "--no-webui",
                        "-t", str(threads or max(1, len(os.sched_getaffinity(0))))]
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="w2s-llama-server-", suffix=".log", delete=False)

    def start(self) -> LlamaServer:
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise W2SError(f"llama-server exited with code {self.process.returncode} before it was ready: "
                               f"{self.last_log_line()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise W2SError(f"llama-server was not ready after {self.startup_timeout_s:.0f}s ({self.last_log_line()})")

    def last_log_line(self) -> str:
        try:
            lines = [line for line in Path(self.log.name).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no output"

    def stop(self) -> None:
        """Terminate the server (then kill it if it lingers); safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        try:
            self.log.close()
            os.unlink(self.log.name)
        except OSError:
            pass
