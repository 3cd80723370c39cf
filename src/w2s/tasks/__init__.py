"""Task registry: `get_task("gsm8k")`."""

from __future__ import annotations

from pathlib import PurePath

from w2s.errors import W2SError
from w2s.tasks.base import Example, Message, Task
from w2s.tasks.gsm8k import GSM8K
from w2s.tasks.gsm_symbolic import GSMSymbolic
from w2s.tasks.hh_rlhf import HHRLHF
from w2s.tasks.math500 import Math500

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (GSM8K, Math500, GSMSymbolic, HHRLHF)}


def get_task(name: str) -> Task:
    """A task instance by registry name; unknown names list the known ones."""
    if name.startswith("rg:"):
        from w2s.tasks.rg import RGTask

        return RGTask(name)
    if name == "hh_rlhf" or name.startswith("hh_rlhf?"):
        return HHRLHF(name)
    try:
        return TASKS[name.lower()]()
    except KeyError:
        raise W2SError(f"unknown task '{name}' (expected one of: {', '.join(TASKS)}, hh_rlhf?subset=...&reward_model=..., or rg:<reasoning-gym "
                       "dataset>; `w2s tasks` lists them)") from None


def task_label(spec: str) -> str:
    """A task spec for plot titles: a parameter naming a local file or folder shows only its last
    part (`hh_rlhf?reward_model=rm`), since a full path is long and says where a run ran. A hub
    id (`org/name`) is kept whole."""
    name, _, query = spec.partition("?")
    if not query:
        return spec
    params = (item.partition("=") for item in query.split("&"))
    return name + "?" + "&".join(f"{k}{eq}{PurePath(v).name if _is_local_path(v) else v}" for k, eq, v in params)


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", "~", ".")) or value.count("/") > 1


__all__ = ["TASKS", "Example", "Message", "Task", "get_task", "task_label"]
