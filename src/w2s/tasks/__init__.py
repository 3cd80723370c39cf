"""Task registry: `get_task("gsm8k")`."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from w2s.errors import W2SError
from w2s.registry import LazyRegistry
from w2s.tasks.base import Example, Message, Task

# name -> a Task subclass or a factory `f(spec) -> Task`, as "module:attr" (imported when asked
# for) or the object itself. A spec is the name, optionally with parameters: `hh_rlhf?subset=...`,
# and for the `rg` family `rg:<reasoning-gym dataset>?key=value&...`.
TASKS = LazyRegistry("task", {
    "gsm8k": "w2s.tasks.gsm8k:GSM8K",
    "math500": "w2s.tasks.math500:Math500",
    "gsm_symbolic": "w2s.tasks.gsm_symbolic:GSMSymbolic",
    "hh_rlhf": "w2s.tasks.hh_rlhf:HHRLHF",
    "rg": "w2s.tasks.rg:RGTask",
})


def register_task(name: str, factory: Any, replace: bool = False) -> None:
    """Make `task: name` (and `name?key=value...`) build a task: a Task subclass, or a callable taking
    the spec string and returning a Task, or either as a "module:attr" string (imported when the
    task is first used, and checked for importability now). A name already taken (a built-in
    task, say) is refused unless `replace=True`."""
    if not isinstance(name, str) or not name or any(c in name for c in "?:&="):
        raise W2SError(f"register_task: a task name is a non-empty string without ? : & =, got {name!r}")
    if name.lower() in TASKS and not replace:
        raise W2SError(f"register_task: task '{name}' exists already; pass replace=True to replace it")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        import importlib.util

        try:
            found = bool(attr) and importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise W2SError(f"register_task: '{factory}' is not an importable 'module:attr' (module '{module}' "
                           "not found)")
    elif not callable(factory):
        raise W2SError(f"register_task: the factory must be a Task subclass, a callable or a 'module:attr' string, "
                       f"got {type(factory).__name__}")
    TASKS.register(name.lower(), factory)


def get_task(spec: str) -> Task:
    """A task by spec: a registered name, with its parameters after `?` (`rg:` names a reasoning-gym dataset)."""
    if not isinstance(spec, str):
        raise W2SError(f"get_task: a task is named by a string such as 'gsm8k' or 'rg:chain_sum', got {spec!r}")
    name = spec.partition("?")[0]
    key = "rg" if name.startswith("rg:") else name.lower()
    if key not in TASKS:
        raise W2SError(f"unknown task '{spec}' (expected one of: {', '.join(k for k in TASKS if k != 'rg')}, "
                       "hh_rlhf?subset=...&reward_model=..., or rg:<reasoning-gym dataset>; `w2s tasks` lists them)")
    factory = TASKS.load(key)
    task = factory.from_spec(spec) if isinstance(factory, type) and issubclass(factory, Task) else factory(spec)
    if not isinstance(task, Task):
        raise W2SError(f"task '{spec}': its factory returned {type(task).__name__}, not a w2s Task")
    return task


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


__all__ = ["TASKS", "Example", "Message", "Task", "get_task", "register_task", "task_label"]


def tasks_help() -> str:
    """The task names every command's `task` setting accepts, from the registry (help never drifts)."""
    names = " | ".join("rg:<reasoning-gym dataset>" if name == "rg" else name for name in TASKS)
    return f"the task: {names}"
