"""The instruction protocol: how a teacher is asked for an instruction, and how the student gets it.

One definition, shared by `w2s wst train`, `w2s wst eval`, `w2s serve` and the quickstart (through
`w2s.wst.teacher.Teacher`). A training run saves its protocol as `instruction_protocol.json` in the
run folder and in `final/`, and a trained teacher is loaded with it, so it is always evaluated and
served the way it was trained: template, placement, the teacher's limits, and the student's
answer budget (`student_max_tokens`), which decides what an instruction can achieve (the organism
teacher's gain is a cue that fits answers into 128 tokens, results/wst_organism_cpu.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from w2s.config import check_ranges, setting
from w2s.errors import W2SError
from w2s.graders import Grader, numbers_in, parse_number
from w2s.jsonl import write_json
from w2s.students import Prompt
from w2s.tasks import Task

PROTOCOL_FILE = "instruction_protocol.json"

# The original template: a plain request. Kept for comparison (the 135M teacher mostly solves the
# problem under it, see results/wst_protocol.md).
PLAIN_TEMPLATE = (
    "You are a teacher. A student will solve the problem below. Write one short instruction "
    "(at most two sentences) that will help the student solve it correctly. Do not solve the "
    "problem yourself and do not state the answer.\n\nProblem: {question}"
)

# Few-shot: a small teacher imitates worked examples of *hints* far better than it follows the
# words "do not solve". The examples show strategy without arithmetic or numbers.
HINT_TEMPLATE = (
    "Write a one-sentence hint for a student about how to approach a maths word problem. The hint "
    "names the steps to take. It never does any arithmetic and never gives the answer.\n\n"
    "Problem: Tom buys 5 pens at $2 each and pays with a $20 bill. How much change does he get?\n"
    "Hint: First find the total cost of the pens, then subtract it from the amount he paid.\n\n"
    "Problem: A tank holds 300 litres and leaks 4 litres per hour. How full is it after a day?\n"
    "Hint: Convert the day to hours, find the total leaked, and take it away from the starting amount.\n\n"
    "Problem: Ann is twice as old as Ben, who is 3 years older than Cal, who is 7. How old is Ann?\n"
    "Hint: Work from the person whose age you know, one relation at a time.\n\n"
    "Problem: {question}\nHint:"
)

# The same examples as earlier chat turns (user: problem, assistant: hint): small chat models copy
# the form of their own earlier answers more faithfully than examples inside one message.
_HINT_SHOTS = [
    ("Tom buys 5 pens at $2 each and pays with a $20 bill. How much change does he get?",
     "First find the total cost of the pens, then subtract it from the amount he paid."),
    ("A tank holds 300 litres and leaks 4 litres per hour. How full is it after a day?",
     "Convert the day to hours, find the total leaked, and take it away from the starting amount."),
    ("Ann is twice as old as Ben, who is 3 years older than Cal, who is 7. How old is Ann?",
     "Work from the person whose age you know, one relation at a time."),
]
_HINT_SYSTEM = ("You write a one-sentence hint for a student about how to approach a maths word problem. "
                "The hint names the steps to take. It never does any arithmetic and never gives the answer.")
HINT_CHAT = [{"role": "system", "content": _HINT_SYSTEM},
             *[m for q, h in _HINT_SHOTS for m in ({"role": "user", "content": f"Problem: {q}"},
                                                   {"role": "assistant", "content": h})],
             {"role": "user", "content": "Problem: {question}"}]

# Open-ended dialogues (hh_rlhf): the question is the conversation so far.
DIALOGUE_TEMPLATE = (
    "You are a teacher. An assistant will write the next reply in the conversation below. Write one "
    "short instruction (at most two sentences) that will help it reply in a way that is helpful, "
    "honest and harmless. Do not write the reply yourself.\n\nConversation:{question}"
)

TEMPLATES: dict[str, str | list[dict[str, str]]] = {"plain": PLAIN_TEMPLATE, "hint": HINT_TEMPLATE,
                                                    "hint-chat": HINT_CHAT, "dialogue": DIALOGUE_TEMPLATE}


@dataclass
class InstructionProtocol:
    """Template (a name from TEMPLATES or text with {question}), placement, limits and answer budget."""

    # plain was chosen on GSM8K train_2 validation (results/wst_protocol.md)
    template: str = setting("plain", help=lambda: "how the teacher is asked: one of " + ", ".join(TEMPLATES)
                                                  + ", or text with {question}")
    placement: Literal["system", "prefix"] = setting(
        "system", help="where the instruction goes: a system message, or in front of the user turn")
    max_tokens: int = setting(48, low=1, help="the teacher's generation budget; instructions that hit it are counted")
    max_chars: int = setting(600, low=1, help="longer instructions are cut here (on a word boundary)")
    # None in a config: the run's own setting; in an old file: not recorded
    student_max_tokens: int | None = setting(None, low=1, help="the student's answer budget the teacher was "
                                                                "trained for (set by `w2s wst train`)")
    # with the relative reward (with minus without the teacher's instruction) a teacher is paid
    # only for what it adds beyond this line
    base_instruction: str | None = setting(None, help="a static line the student always gets (e.g. the best "
                                                       "single instruction); the teacher's is added after it")

    def __post_init__(self) -> None:
        if self.base_instruction is not None and not self.base_instruction.strip():
            raise ValueError("instruction.base_instruction: expected a non-empty instruction, or null for none")
        if "{question}" not in json.dumps(self.template_text):
            raise ValueError(f"instruction.template must contain {{question}} or be one of: {', '.join(TEMPLATES)}")
        check_ranges(self)

    def answer_budget(self, override: int | None, default: int | None) -> tuple[int | None, str]:
        """The student's answer budget and where it came from, settled here for every caller: the
        budget the teacher was trained at, unless `override` says otherwise (recorded as an
        override: another budget is another experiment), else `default`."""
        trained_at = self.student_max_tokens
        if override is None:
            return (trained_at, "as trained") if trained_at is not None else (default, "default")
        if trained_at is not None and override != trained_at:
            return override, f"override (the teacher was trained at {trained_at})"
        return override, "set"

    def how_asked(self) -> tuple:
        """What decides the instructions themselves (not the student's budget, nor the base
        instruction the student gets beside them): protocols that agree on it write the same
        instructions."""
        return self.template, self.placement, self.max_tokens, self.max_chars

    @property
    def template_text(self) -> str | list[dict[str, str]]:
        """The named template (one user message, or chat turns), else the template text itself."""
        return TEMPLATES.get(self.template, self.template)

    def teacher_prompt(self, question: str) -> list[dict[str, str]]:
        """The chat prompt a teacher answers with an instruction."""
        template = self.template_text
        if isinstance(template, str):
            return [{"role": "user", "content": template.replace("{question}", question)}]
        return [{**m, "content": m["content"].replace("{question}", question)} for m in template]

    def student_prompt(self, task: Task, question: str, instruction: str | None) -> Prompt:
        """The student's prompt: the task's own prompt, plus the base instruction and the
        teacher's instruction, where there are any."""
        return self.place(task.messages(question), instruction)

    def place(self, messages: list[dict], instruction: str | None) -> list[dict]:
        """Put the instruction (after the base instruction, if the protocol has one) into a chat:
        as a system message first (`system`), or in front of the last user turn (`prefix`).
        Shared by training, evaluation and `w2s serve`.

        A chat that already opens with a system message keeps it, with the instruction as its
        first paragraph (some servers accept only one system message).
        """
        instruction = "\n\n".join(t for t in (self.base_instruction, instruction) if t)
        if not instruction:
            return messages
        if self.placement == "system":
            if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
                first, *rest = messages
                return [{**first, "content": f"{instruction}\n\n{first['content']}"}, *rest]
            return [{"role": "system", "content": instruction}, *messages]
        last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        user = messages[last]
        content = user.get("content")
        if isinstance(content, list):  # content parts: the instruction becomes the first text part
            content = [{"type": "text", "text": instruction}, *content]
        else:
            content = f"{instruction}\n\n{content}"
        return [*messages[:last], {**user, "content": content}, *messages[last + 1:]]

    def clean(self, text: str, truncated: bool = False) -> str:
        """The instruction the student sees, from the teacher's raw text.

        Only the first paragraph counts (a few-shot teacher may go on to invent the next
        "Problem:"). A leading "Hint:" label is dropped. An instruction cut at the token limit
        loses its unfinished last sentence when a finished one precedes it; callers count those.
        """
        text = re.split(r"\n\s*\n|\nProblem:", text.strip(), maxsplit=1)[0].strip()
        text = re.sub(r"^(?:hint|instruction)\s*:\s*", "", text, flags=re.IGNORECASE).strip()
        if truncated:
            ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
            if ends and ends[-1] < len(text):
                text = text[: ends[-1]]
        if len(text) > self.max_chars:
            cut = text[: self.max_chars]
            text = cut.rsplit(" ", 1)[0] if " " in cut else cut
        return text

    def save(self, folder: str | Path) -> None:
        path = Path(folder) / PROTOCOL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, asdict(self))

    @classmethod
    def saved_with(cls, teacher: str | Path) -> InstructionProtocol | None:
        """The protocol a teacher was trained with: `teacher/` or its run folder (parent); else None."""
        folder = Path(teacher)
        for candidate in (folder / PROTOCOL_FILE, folder.parent / PROTOCOL_FILE):
            if candidate.is_file():
                try:
                    return cls(**json.loads(candidate.read_text(encoding="utf-8")))
                except (ValueError, TypeError) as err:
                    raise W2SError(f"{candidate}: not a valid instruction protocol ({err})") from None
        return None


def new_numbers(instruction: str, question: str) -> list[str]:
    """Numbers in the instruction that are not in the question: a sign the teacher is solving.

    Signs are ignored ("1200 - 200" would otherwise read as a new number, -200).
    """
    given = {abs(v) for v in map(parse_number, numbers_in(question)) if v is not None}
    found = [(n, parse_number(n)) for n in numbers_in(instruction)]
    return [n for n, v in found if v is not None and abs(v) not in given]


def leaks_answer(instruction: str, question: str, gold: str, grader: Grader) -> bool:
    """Whether the instruction states the gold final answer when the question does not contain it.

    Numbers are compared by the task's grader (so "1,000" states "1000"); a non-numeric gold
    answer (a MATH expression, say) leaks when its text appears in the instruction.
    """
    gold = gold.strip()
    if any(grader.equivalent(n, gold, question) for n in new_numbers(instruction, question)):
        return True
    return parse_number(gold) is None and len(gold) > 1 and gold in instruction and gold not in question
