"""The teacher: a model that writes one instruction per question, plus the protocol it was trained with.

This is the one place where an instruction is written. `w2s wst eval`, `w2s serve`, the
quickstart and the experiments all call `Teacher.write`/`Teacher.instruct`; training is the one
exception, since TRL's GRPOTrainer samples the teacher itself, and its reward reads the samples
through the same `InstructionProtocol.clean`.

    from w2s import Teacher

    teacher = Teacher.load("results/wst_organism_teacher")     # run folder, adapter, model, pack, hub id
    [instruction] = teacher.instruct(["State the final answer: 12 + 7 - 3 ="])
    messages = teacher.apply([{"role": "user", "content": "..."}], instruction)
    teacher.protocol.student_max_tokens                         # the answer budget it was trained for

A teacher is loaded with its protocol (`instruction_protocol.json`, saved by `w2s wst train` in
the run folder and in `final/`): the template it is asked with, where its instruction goes in the
student's chat, its own limits and the student's answer budget. A teacher without a saved
protocol (an untrained model) gets the defaults, or the protocol it is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from w2s.cache import ResponseCache
from w2s.errors import W2SError
from w2s.paths import default_cache_path
from w2s.students import Completion, SamplingParams, Student
from w2s.wst.protocol import InstructionProtocol
from w2s.wst.runs import teacher_folder, trained_run_config, trained_task, training_student_calls  # noqa: F401


@dataclass(frozen=True)
class Instruction:
    """One written instruction: the text the student sees, and whether the teacher was cut at its limit."""

    text: str
    truncated: bool = False


def teacher_protocol(teacher: str | None, configured: InstructionProtocol | None) -> tuple[InstructionProtocol, str]:
    """The protocol a trained teacher was trained with (read from its run), else the configured
    one, else the defaults; and where it came from.

    Setting a different template, placement or teacher limit than the teacher's own is refused: a
    teacher is evaluated and served the way it was trained. The answer budget is not compared here;
    callers that override it say so (an evaluation at another budget is a different experiment).
    """
    saved = InstructionProtocol.saved_with(teacher_folder(teacher)) if teacher else None
    if saved is not None:
        if configured is not None and configured.how_asked() != saved.how_asked():
            raise W2SError(f"instruction.* differs from the protocol {teacher} was trained with "
                           f"({saved}); drop the instruction.* settings to use it as trained")
        return saved, f"as trained ({teacher})"
    if configured is not None:
        return configured, "from the config"
    return InstructionProtocol(), "defaults"


def load_teacher_lm(name: str, cache: ResponseCache | None = None, device: str = "auto",
                    batch_size: int = 64) -> Student:
    """A teacher's language model: any model name, or a LoRA adapter folder saved by `w2s wst train`.

    An adapter's base model is named in its `adapter_config.json`: a folder that exists here, or
    a name `resolve_model` knows (a pack, a hub id), so an adapter copied to another machine
    still finds its base. The adapter is merged, and the fingerprint names the adapter's files,
    so two different adapters never share cached instructions. Instructions are short (48 tokens
    by default), so they are written 64 at a time.
    """
    from w2s.students.hf import HFStudent

    folder = teacher_folder(name)
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from w2s.models import resolve_model
        from w2s.models.sources import folder_hash

        base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
        base_path = Path(base) if Path(base).is_dir() else resolve_model(base).path
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), folder).merge_and_unload()
        return HFStudent(model, AutoTokenizer.from_pretrained(folder), cache=cache, device=device, batch_size=batch_size,
                         fingerprint=f"lora@{folder_hash(folder)}", name=str(folder))
    return HFStudent(str(folder) if folder.is_dir() else name, cache=cache, device=device, batch_size=batch_size)


class Teacher:
    """A language model that writes instructions, and the protocol saying how (see the module docstring).

    `lm` is any model behind the one model interface (`w2s.LM`): a local model, or a model behind
    an OpenAI-compatible API (a stronger model as teacher). Instructions are greedy, so the same
    question always gets the same instruction, and cached by (model fingerprint, prompt).
    """

    def __init__(self, lm: Student, protocol: InstructionProtocol | None = None, source: str = "defaults") -> None:
        self.lm = lm
        self.protocol = protocol or InstructionProtocol()
        self.source = source  # where the protocol came from, for printing
        self.folder: Path | None = None  # the run or model folder it was loaded from, if any

    @classmethod
    def load(cls, name: str | Path, protocol: InstructionProtocol | None = None,
             cache: ResponseCache | str | Path | None = None, device: str = "auto") -> Teacher:
        """A teacher from a `w2s wst train` run folder, its `final/`, a LoRA adapter or model folder,
        an offline pack or a hub id, with the protocol it was trained with.

        `protocol` is for teachers that have none saved (an untrained model); for a trained teacher
        it must match the saved one. `cache` is a `ResponseCache` or a path; by default the
        user's response cache (`$W2S_HOME/responses.sqlite`), so a question asked before costs nothing.
        """
        check_teacher_source(str(name))
        saved, source = teacher_protocol(str(name), protocol)
        if not isinstance(cache, ResponseCache):
            cache = ResponseCache(cache or default_cache_path())
        teacher = cls(load_teacher_lm(str(name), cache, device), saved, source)
        teacher.folder = Path(name) if Path(name).is_dir() else None
        return teacher

    def push_to_hub(self, repo_id: str, private: bool = False) -> str:
        """Upload this teacher (what `Teacher.load` needs, and its run card) to a hub repo; its URL.
        Only a teacher loaded from a local run or adapter folder can be pushed."""
        from w2s.wst.share import push_teacher

        if self.folder is None:
            raise W2SError(f"teacher {self.name} was not loaded from a local folder: there is nothing of it to push")
        return push_teacher(self.folder, repo_id, private)

    @property
    def name(self) -> str:
        return self.lm.name

    def write(self, questions: Sequence[str], desc: str | None = None, progress: bool = True) -> list[Instruction]:
        """One instruction per question, in order, batched and cached; each says whether it was cut."""
        if not questions:
            return []
        params = SamplingParams(max_tokens=self.protocol.max_tokens)  # greedy: one instruction per question
        outs = self.lm.generate([self.protocol.teacher_prompt(q) for q in questions], params,
                                desc=desc or f"instructions ({self.name})", progress=progress)
        return [Instruction(self.protocol.clean(o[0].text, o[0].finish_reason == "length"),
                            o[0].finish_reason == "length") for o in outs]

    def sample(self, questions: Sequence[str], k: int, temperature: float, seed: int = 0,
               desc: str = "teacher") -> list[list[Completion]]:
        """k raw sampled completions per question, as GRPO samples them in training (the reward
        cleans them with `protocol.clean`); for experiments that measure the training signal."""
        params = SamplingParams(temperature=temperature, max_tokens=self.protocol.max_tokens, seed=seed)
        return self.lm.generate([self.protocol.teacher_prompt(q) for q in questions], params, k=k, desc=desc)

    def instruct(self, questions: Sequence[str] | str) -> list[str]:
        """The instruction the student sees for each question (a single string gives a list of one)."""
        if isinstance(questions, str):
            questions = [questions]
        return [i.text for i in self.write(questions)]

    def apply(self, messages: list[dict], instruction: str | None) -> list[dict]:
        """The student's chat with the instruction placed as this teacher was trained (system or prefix)."""
        return self.protocol.place(messages, instruction)

    def __repr__(self) -> str:
        return f"Teacher({self.name!r}, protocol {self.source})"


def check_teacher_source(name: str) -> None:
    """Refuse, before any model loads, a teacher that cannot be one: a URL (with the way to name
    an endpoint), a path that does not exist, a training run stopped before its `final/`."""
    if name.startswith(("http://", "https://")):
        raise W2SError("--teacher is a URL: name an endpoint with teacher_api.backend=openai "
                       "teacher_api.base_url=URL teacher_api.model=NAME")
    path = Path(name).expanduser()
    if not path.exists():
        if name.startswith(("/", ".", "~")) or name.count("/") > 1:
            raise W2SError(f"teacher {name}: no such folder (a `w2s wst train` run folder, its final/, a model "
                           "folder, a LoRA adapter, a pack or a hub id)")
        return
    folder = teacher_folder(path)
    if folder.is_dir() and not any((folder / f).is_file() for f in ("adapter_config.json", "config.json")):
        checkpoints = sorted(folder.glob("checkpoint-*"))
        if checkpoints:
            raise W2SError(f"teacher {name}: this run has no final/ yet (it stopped after {checkpoints[-1].name}); "
                           f"finish it with `w2s wst train --resume --output {name}`, or name {checkpoints[-1]}")
        raise W2SError(f"teacher {name}: neither a run folder with final/ nor a model or adapter folder")
