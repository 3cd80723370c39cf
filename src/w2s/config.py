"""YAML configs with `key.sub=value` command-line overrides, validated into dataclasses.

A config file is plain YAML whose keys mirror a (nested) dataclass. Overrides are applied to
the raw mapping before validation, so a typo in a file or on the command line gets the same
one-line error: the source, the dotted key, and what was expected.

One rule for numbers: every numeric field of a config declares its range once, beside the field
(`setting(default, low=..., above=..., high=...)`), and `build` checks every numeric value it
reads, from a file, an override or the Python API: finite (no NaN or infinity) and in range,
before anything loads. `tests/test_config.py` walks every config and checks that each numeric
field has a range.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from w2s.errors import W2SError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: `low <= v` (or `low < v` when open), `v <= high`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        parts = [f"{'>' if self.low_open else '>='} {self.low:g}"] if self.low is not None else []
        parts += [f"<= {self.high:g}"] if self.high is not None else []
        return " and ".join(parts) or "any finite number"


def setting(default: Any = dataclasses.MISSING, *, help: str | Callable[[], str] = "", low: float | None = None,
            above: float | None = None, high: float | None = None, flag: str | None = None,
            flags: dict[str, str] | None = None, positional: bool = False,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """A config field with everything said about it, declared once beside it.

    `help` (a string, or a function giving one from a registry) is the flag's help and the
    field's documentation; a numeric range is `low` inclusive, `above` exclusive, `high` inclusive,
    and `build` refuses any value outside it (None passes where allowed). On the command line a
    top-level field is the flag `--field-name` (`flag` renames it, and is also a keyword the Python
    API accepts; `positional` makes it an argument); a section (`default_factory`) exposes the
    sub-settings named in `flags` ({sub-field: flag name}) as flags of their own."""
    if low is not None and above is not None:
        raise ValueError("give low or above, not both")
    metadata: dict[str, Any] = {"help": help, "flag": flag, "flags": flags or {}, "positional": positional}
    if low is not None or above is not None or high is not None:
        metadata["range"] = Range(above if above is not None else low, high, above is not None)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def numeric_range(field: dataclasses.Field) -> Range | None:
    return field.metadata.get("range")


def check_ranges(obj: Any) -> None:
    """Every `setting` field of a config object finite and in its range, and every `Literal` field
    one of its choices, else a ValueError naming it. Configs call it first in `__post_init__`, so
    one built in Python is checked as one read from YAML is (where `build` has already named the
    full dotted key)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        choices = _choices(hints[f.name])
        if choices is not None and getattr(obj, f.name) not in choices:
            raise ValueError(f"{f.name}: expected one of {', '.join(map(str, choices))}, got {getattr(obj, f.name)!r}")
        bounds, value = numeric_range(f), getattr(obj, f.name)
        if bounds is None or value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value) or not bounds.allows(value):
            raise ValueError(f"{f.name} = {value!r} (expected a finite number, {bounds})")


def _choices(hint: Any) -> tuple | None:
    """A Literal field's choices (None allowed where the field is optional), else None."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1 and typing.get_origin(inner[0]) is typing.Literal:
            return (*typing.get_args(inner[0]), None)
    return None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; empty files give {}."""
    path = Path(path)
    if not path.is_file():
        raise W2SError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise W2SError(f"{path}: not UTF-8 text (byte {err.start}); save the config as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise W2SError(f"{where}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise W2SError(f"{path}: expected a mapping of keys to values at the top level")
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings to a nested dict. The value is read by `override_value`
    (numbers, bools, lists), and `build` then checks it against the field's type."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise W2SError(f"override '{item}': expected key.sub=value")
        set_key(data, key, override_value(raw), item)
    return data


def override_value(raw: str) -> Any:
    """An override's value: a YAML scalar (`3`, `true`, `null`), a list written `[...]` or a
    mapping written `{...}`; any other text stays exactly as typed. YAML alone would turn prose
    such as `Be brief: one line` into a mapping and drop ` # ...` as a comment."""
    if raw == "":
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    start = raw.lstrip()[:1]
    if isinstance(value, dict) and start != "{" or isinstance(value, list) and start != "[":
        return raw
    if "#" in raw and not (isinstance(value, str) and "#" in value):
        return raw
    return value


def set_key(data: dict[str, Any], dotted: str, value: Any, what: str | None = None) -> dict[str, Any]:
    """Set `data[a][b][c] = value` for dotted key `a.b.c`, creating sections on the way.

    Command-line flags use this directly with the value argparse parsed (a string stays a
    string: `--output 'runs/a #1'` and `--model 0123` are kept exactly), unlike overrides.
    """
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise W2SError(f"override '{what or dotted}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value
    return data


def build(cls: type[T], data: dict[str, Any], source: str = "config", prefix: str = "", partial: bool = False) -> T:
    """Validate a mapping into dataclass `cls`, recursing into nested dataclasses. `partial`: a
    mapping that may leave required settings to a later layer (a config file, before the flags)
    has the keys it gives checked, and is built only if it is complete (else None)."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "top level"
        raise W2SError(f"{source}: '{where}' must be a mapping of settings, got {type(data).__name__} {data!r:.40}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            import difflib

            near = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.75)
            raise W2SError(f"{source}: unknown key '{dotted}' "
                           + (f"(did you mean '{prefix}{near[0]}'?)" if near else f"(expected one of: {', '.join(fields)})"))
        kwargs[key] = _coerce(hints[key], value, source, dotted)
        _check_number(kwargs[key], numeric_range(fields[key]), source, dotted)
    required = [name for name, f in fields.items() if name not in kwargs and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    if required and partial:
        return None  # type: ignore[return-value]
    if required:
        field = fields[required[0]]
        flag = field.metadata.get("flag") or required[0].replace("_", "-")
        how = f"the {flag.upper().replace('-', '_')} argument" if field.metadata.get("positional") else f"--{flag}"
        raise W2SError(f"{source}: '{prefix}{required[0]}' is required ({how}, or {prefix}{required[0]}=...)")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise W2SError(f"{source}: {_located(str(err), prefix, fields)}") from None


def _located(message: str, prefix: str, fields: dict) -> str:
    """A section's own check names its field under its usual name (`student.backend: ...`); where
    the section sits elsewhere (`generation.` of a reasoning run), name the key where it is."""
    head, dot, rest = message.partition(".")
    if prefix and dot and " " not in head and rest.split(":")[0] in fields and f"{head}." != prefix:
        return prefix + rest
    return message


def _check_number(value: Any, bounds: Range | None, source: str, dotted: str) -> None:
    """Finite and in its declared range; one line naming the key otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise W2SError(f"{source}: '{dotted}' = {value} (expected a finite number{f', {bounds}' if bounds else ''})")
    if bounds is not None and not bounds.allows(value):
        raise W2SError(f"{source}: '{dotted}' = {value!r} (expected {bounds})")


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain nested dict (for saving next to results)."""
    return dataclasses.asdict(obj)


def _coerce(hint: Any, value: Any, source: str, dotted: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value if value is not None else {}, source, f"{dotted}.")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors: list[W2SError] = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, dotted)
            except W2SError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise W2SError(f"{source}: '{dotted}' = {value!r} has the wrong type (expected {_name(hint)})")
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise W2SError(f"{source}: '{dotted}' = {value!r} (expected one of: {', '.join(map(str, choices))})")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise W2SError(f"{source}: '{dotted}' must be a list")
        (inner, *_) = typing.get_args(hint) or (Any,)
        items = [_coerce(inner, v, source, f"{dotted}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise W2SError(f"{source}: '{dotted}' must be a mapping")
        return value
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value.strip()):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise W2SError(f"{source}: '{dotted}' = {value!r} (expected {_name(hint)})")
    return value


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


# ------------------------------------------------------------------- every setting, from the declarations


@dataclasses.dataclass(frozen=True)
class Declared:
    """One setting as declared: its dotted key, type, default, range or choices, and help."""

    key: str
    kind: str
    default: Any  # REQUIRED where it has none
    limits: str  # its range or choices; "" where any value of its type goes
    help: str


def declared_settings(cls: type, defaults: Any = None, prefix: str = "") -> list[Declared]:
    """Every leaf setting of a config, sections included (`static.questions`), in declaration
    order. A section's defaults are those of the value its field defaults to (a quickstart's
    `student.dtype` is float32, not StudentConfig's own default), else its class's."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name) if defaults is not None else _field_default(f)
        section = _section(hints[f.name])
        if section is not None:
            rows += declared_settings(section, default if dataclasses.is_dataclass(default) else None,
                                      f"{prefix}{f.name}.")
            continue
        choices, bounds = _choices(hints[f.name]), numeric_range(f)
        limits = f"one of: {', '.join(map(str, choices))}" if choices else str(bounds) if bounds else ""
        rows.append(Declared(prefix + f.name, _type_text(hints[f.name]), default, limits, help_of(f)))
    return rows


def help_of(f: dataclasses.Field) -> str:
    """A setting's help as declared (a string, or a function giving one from a registry)."""
    given = f.metadata.get("help", "")
    return given() if callable(given) else given


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def _type_text(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "choice"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is not None:
        return str(hint).replace("typing.", "")
    return "None" if hint is type(None) else _name(hint)


def format_settings(cls: type, given: dict[str, Any]) -> str:
    """`--settings`: one line a setting (key, value, type and limits, help); a value the command
    line or config file gave is shown beside its default."""
    if not dataclasses.fields(cls):
        return "(this command has no settings)"
    lines = []
    for row in declared_settings(cls):
        node: Any = given
        for part in row.key.split("."):
            node = node.get(part, dataclasses.MISSING) if isinstance(node, dict) else dataclasses.MISSING
        default = "(required)" if row.default is REQUIRED else _shown_value(row.default)
        value = default if node is dataclasses.MISSING else f"{_shown_value(node)}   (default {default})"
        kind = row.limits if row.kind == "choice" else f"{row.kind}, {row.limits}" if row.limits else row.kind
        lines.append(f"{row.key} = {value}\n    [{kind}] {row.help}".rstrip())
    return "\n".join(lines)


def _shown_value(value: Any) -> str:
    """A value as it would be written in YAML (`null`, `64`, `'Be brief: ...'`, `[a, b]`)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("...\n").strip()


# ------------------------------------------------------------------------- the command line, from configs


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line flag of a config: its name, the dotted key it sets, and the field's facts."""

    name: str  # e.g. "max-tokens" for --max-tokens, or the metavar of a positional argument
    key: str  # e.g. "student.model"
    hint: Any  # the field's type
    field: dataclasses.Field
    positional: bool = False

    @property
    def choices(self) -> tuple | None:
        inner = _scalar(self.hint)
        return typing.get_args(inner) if typing.get_origin(inner) is typing.Literal else None

    def help_text(self) -> str:
        """The field's help, its choices and its default, from the declaration alone."""
        text = help_of(self.field)
        default = self.field.default
        if self.choices:
            text += f"{'; ' if text else ''}one of: {', '.join(map(str, self.choices))}"
        if not (default is dataclasses.MISSING or default is None or default is False or default == ""
                or self.positional):
            text += f" (default {default})"
        return text.replace("%", "%%")  # argparse formats help with %


def _scalar(hint: Any) -> Any:
    """The type a flag parses (Optional[X] -> X), or None for types set only as `key=value`."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _scalar(args[0]) if len(args) == 1 else None
    if hint in (str, int, float, bool) or typing.get_origin(hint) is typing.Literal:
        return hint
    if typing.get_origin(hint) is list and typing.get_args(hint) in ((str,),):
        return hint
    return None


def _section(hint: Any) -> type | None:
    """The dataclass of a section field (also an optional one), else None."""
    for candidate in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(candidate):
            return candidate  # type: ignore[return-value]
    return None


def command_flags(cls: type) -> list[Flag]:
    """The flags of a config: every top-level field of a type a flag can carry (`--field-name`, or
    the field's `flag`), and the sub-settings each section names in its `flags`."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        section = _section(hints[f.name])
        if section is not None:
            inner = {g.name: g for g in dataclasses.fields(section)}
            inner_hints = typing.get_type_hints(section)
            found += [Flag(name, f"{f.name}.{sub}", inner_hints[sub], inner[sub])
                      for sub, name in f.metadata.get("flags", {}).items()]
        elif _scalar(hints[f.name]) is not None:
            name = f.metadata.get("flag") or f.name.replace("_", "-")
            found.append(Flag(name, f.name, hints[f.name], f, bool(f.metadata.get("positional"))))
    return found


def aliases(cls: type) -> dict[str, str]:
    """Keyword aliases the Python API accepts beside field names: a field's `flag` name."""
    return {f.metadata["flag"].replace("-", "_"): f.name for f in dataclasses.fields(cls)
            if f.metadata.get("flag")}


def add_flags(parser: Any, cls: type, prefix: str = "setting") -> None:
    """Add `cls`'s flags to an argparse parser (values land in `prefix:<dotted key>`)."""
    import argparse

    for flag in command_flags(cls):
        inner = _scalar(flag.hint)
        kwargs: dict[str, Any] = {"help": flag.help_text()}
        if inner is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(inner) is list:
            kwargs.update(nargs="+", metavar=flag.name.upper().replace("-", "_"))
        elif flag.choices:
            kwargs["choices"] = flag.choices
        else:
            kwargs.update(type=inner, metavar=flag.name.upper().replace("-", "_"))
        if flag.positional:  # optional here: a missing one is `build`'s one line, and --settings needs none
            kwargs.update(nargs="?", default=None, metavar=flag.name.upper().replace("-", "_"))
            parser.add_argument(f"{prefix}:{flag.key}", **kwargs)
        else:
            parser.add_argument(f"--{flag.name}", dest=f"{prefix}:{flag.key}", default=None, **kwargs)


def layered(cls: type[T], config: str | Path | Any = None, settings: dict[str, Any] | None = None,
            overrides: list[str] | tuple[str, ...] = (), source: str = "command line") -> T:
    """The one way a config is made, by the command line and the Python API alike: a YAML file or
    a config object, then typed settings by dotted key (flags, keyword arguments: taken as given,
    never as YAML), then `key=value` overrides (read as YAML scalars); the last one wins. A bad
    value is blamed on where it came from: the file's own values are checked first."""
    return build(cls, merged(cls, config, settings, overrides), source)


def merged(cls: type, config: str | Path | Any = None, settings: dict[str, Any] | None = None,
           overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The mapping `layered` builds: the file's (checked on its own) or the object's values, then
    the typed settings, then the overrides."""
    if isinstance(config, cls):
        data = to_dict(config)
    elif isinstance(config, str | Path):
        import copy

        data = load_yaml(config)
        build(cls, copy.deepcopy(data), str(config), partial=True)  # its own values, blamed on it
    elif config is None:
        data = {}
    else:
        raise W2SError(f"config: expected a YAML file's path or a {cls.__name__}, got {type(config).__name__} "
                       f"{config!r:.40}")
    for key, value in (settings or {}).items():
        set_key(data, key, value)
    for item in overrides:
        if "=" not in item:
            raise W2SError(f"unexpected argument '{item}' (overrides look like key.sub=value)")
    return apply_overrides(data, list(overrides))


def flag_values(values: dict[str, Any], prefix: str = "setting") -> dict[str, Any]:
    """The settings the parsed flags gave (`prefix:<dotted key>` in argparse's `values`)."""
    return {dest.split(":", 1)[1]: value for dest, value in values.items()
            if dest.startswith(f"{prefix}:") and value is not None}


def config_from_flags(cls: type[T], values: dict[str, Any], config_file: str | None, overrides: list[str],
                      prefix: str = "setting") -> T:
    """A command's config from its parsed flags, its `--config` file and its overrides (see `layered`)."""
    return layered(cls, config_file, flag_values(values, prefix), overrides)


# Settings many commands share, each said once here.


REQUIRED = dataclasses.MISSING  # the default of a setting that has none: it must be given


def task_setting(default: Any = "gsm8k", note: str = "") -> Any:
    def help_() -> str:
        from w2s.tasks import tasks_help

        return tasks_help() + (f"; {note}" if note else "")

    return setting(default, help=help_)


def data_setting() -> Any:
    return setting(None, help="JSONL file, folder of <split>.jsonl, or hub dataset id (default: the shared data "
                              "folder, then the hub)")


def cache_setting() -> Any:
    return setting(None, help="response cache file (default $W2S_HOME/responses.sqlite)")


def seed_setting(default: int | None = None) -> Any:
    return setting(default, low=0, help="shuffle with this seed before the limit (None: file order)")
