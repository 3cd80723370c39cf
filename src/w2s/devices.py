"""Where models run, in what precision, and how sampling is seeded: one policy for all of w2s.

Students (hf, vLLM, any API), the teacher's GRPO training and the reasoning pipeline's SFT/DPO
all ask here, so "auto" means the same thing everywhere: the GPU when torch sees one, bf16 on a
GPU and fp32 on a CPU (bf16 on a CPU only when asked: it is fast only with native bf16
instructions, AVX512-BF16 or AMX, and slower than fp32 without them).
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import Any

from w2s.errors import W2SError


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(name: str = "auto") -> str:
    """'auto' → 'cuda' when torch sees a GPU, else 'cpu'; a CUDA device without a GPU is refused."""
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    if name.startswith("cuda") and not cuda_available():
        raise W2SError(f"student.device is '{name}' but torch sees no CUDA GPU here; use device=cpu or auto")
    return name


def torch_dtype(name: str, device: str) -> Any:
    """The torch dtype for a dtype name; 'auto' is bf16 on a GPU and fp32 on a CPU."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16), read from Linux's
    /proc/cpuinfo; False where that cannot be read. On such CPUs bf16 is the fast choice
    (generation 1.7x, LoRA updates 1.85x faster than fp32 here); without them bf16 is emulated
    and slower than fp32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


_BF16_NOTED: set[str] = set()


def note_emulated_bf16(what: str) -> bool:
    """Say once per process, on stderr, that bf16 on this CPU is emulated (and unusable); True if said.

    Measured on an AVX2-only CPU (benchmarks/README.md): a bf16 LoRA step of a 0.5B model did not
    finish in 9 minutes where fp32 took 34 s, and vLLM could not build its bf16 kernels. A user who
    asked for bf16 keeps it (their arithmetic may have to match another run's), but is told first.
    """
    if cuda_available() or cpu_has_native_bf16() or what in _BF16_NOTED:
        return False
    _BF16_NOTED.add(what)
    print(f"note: {what} in bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): bf16 is emulated here and "
          "far slower than fp32 (a LoRA step over 15x, vLLM may not start); use fp32 unless the arithmetic must "
          "match a bf16 run", file=sys.stderr)
    return True


def trainer_precision(bf16: bool | None = None) -> dict:
    """The precision and device arguments of a transformers/TRL trainer.

    `bf16` None means bf16 on a GPU only; True turns on bf16 autocast on a CPU too (worth it on
    CPUs with native bf16: a LoRA forward+backward was 1.85x faster than fp32 on AVX512-BF16;
    elsewhere it is emulated, and said so).
    """
    cuda = cuda_available()
    if bf16 and not cuda:
        note_emulated_bf16("training")
    return {"bf16": cuda if bf16 is None else bf16, "use_cpu": not cuda}


def sample_seed(seed: int, salt: int | str) -> int:
    """The seed of one sampled request (or static batch), from the run's seed and what is sampled.

    Every backend derives its seeds this way, so a run's samples are reproducible for the same
    seed and requests, and sample j of a prompt differs from sample j+1.
    """
    if isinstance(salt, str):
        salt = zlib.crc32(salt.encode())
    return seed * 1_000_003 + salt


def world_size() -> int:
    """How many training processes run together (`accelerate launch`/torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in a single-process run and in rank 0 of a multi-process one: the process that
    writes run files (configs, metrics, final models), so several processes never race on them."""
    return int(os.environ.get("RANK", "0")) == 0
