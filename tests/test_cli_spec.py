"""The command line is made from the commands' configs: every documented command line parses with
the real parser and builds its config, every flag has help, choices are exactly the code's, and
help that names a registry names all of it. So the docs, `--help` and the code cannot drift."""

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from w2s.cli import all_commands, build_parsers, main
from w2s.config import command_flags, config_from_flags
from w2s.errors import W2SError

ROOT = Path(__file__).resolve().parents[1]


PLACEHOLDERS = {"RUN_DIR": "runs/x", "URL": "http://127.0.0.1:8001/v1", "FOLDER": "runs/staged", "N": "2",
                "RUN": "runs/x"}  # the docs' words for values a user fills in
SHELL = {"U": "http://127.0.0.1:8001/v1", "URL": "http://127.0.0.1:8001/v1"}  # shell variables in the docs


def documented_lines() -> list[str]:
    """Every `w2s ...` command line in the README's and docs' code blocks and command tables."""
    lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            block = re.sub(r"\\\n\s*", " ", block)  # continuation lines
            lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("w2s ")]
        lines += re.findall(r"^\| `(w2s [^`]*)` \|", text, flags=re.M)
    return lines


@pytest.mark.parametrize("line", documented_lines())
def test_every_documented_command_line_parses_and_builds_its_config(line, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs/... paths are the repository's
    line = re.sub(r"\$\{?(\w+)\}?", lambda m: SHELL.get(m.group(1), "x"), line)
    line = re.sub(r"=(\w+)\b", lambda m: "=" + PLACEHOLDERS.get(m.group(1), m.group(1)), line)
    argv = [PLACEHOLDERS.get(a, a) for a in re.findall(r"\"[^\"]*\"|'[^']*'|\S+", line)[1:]]
    argv = [a.strip('"').strip("'") for a in argv if a not in ("[--private]", "...", "…")]
    args, extra = build_parsers().parse_known_args(argv)
    assert not [a for a in extra if a.startswith("-") or "=" not in a], line
    command = args.command_object
    config_from_flags(command.settings(), vars(args), args.config, [*args.overrides, *extra])


def test_every_flag_of_every_command_says_what_it_is():
    for command in all_commands():
        for cls in filter(None, (command.settings(), command.options)):
            for flag in command_flags(cls):
                assert flag.help_text().split(" (default")[0].strip(), f"w2s {command.path} --{flag.name}"


def parser_of(path: str):
    """The argparse parser of `w2s <path>`."""
    import argparse

    parser = build_parsers()
    for word in path.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
        parser = sub.choices[word]
    return parser


def test_choices_are_exactly_what_the_code_accepts():
    checked = 0
    for command in all_commands():
        cls = command.settings()
        actions = {a.dest: a for a in parser_of(command.path)._actions}  # noqa: SLF001
        for flag in command_flags(cls):
            if not flag.choices:
                continue
            assert tuple(actions[f"setting:{flag.key}"].choices) == flag.choices  # --help lists exactly these
            given = {f"setting:{f.name}": "x" for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING}  # the required settings, whatever they are
            for choice in flag.choices:  # each builds...
                config_from_flags(cls, {**given, f"setting:{flag.key}": choice}, None, [])
            with pytest.raises(W2SError, match="expected one of"):  # ...and nothing else does
                config_from_flags(cls, given, None, [f"{flag.key}=bogus"])
            checked += 1
    assert checked >= 6  # judge modes, extraction, the engine, stage1_data, ...


def test_a_required_setting_missing_is_one_line_naming_its_flag(capsys):
    assert main(["grade", "--input", "x.jsonl"]) == 2
    assert capsys.readouterr().err.strip() == "error: command line: 'task' is required (--task, or task=...)"
    # a missing positional too, in the same form (not argparse's usage text naming internal keys)
    assert main(["engines", "install"]) == 2
    assert capsys.readouterr().err.strip() == ("error: command line: 'engine' is required (the ENGINE argument, "
                                               "or engine=...)")


def test_every_command_takes_a_config_file(tmp_path, capsys):
    for command in all_commands():
        assert "--config" in parser_of(command.path)._option_string_actions, command.path  # noqa: SLF001
    config = tmp_path / "pairs.yaml"
    config.write_text("task: gsm8k\nweak: w.jsonl\nsamples: s.jsonl\noutput: p.jsonl\nmax_pairs: 0\n")
    assert main(["reason", "pairs", "--config", str(config)]) == 2
    assert "pairs.yaml: 'max_pairs' = 0 (expected >= 1)" in capsys.readouterr().err


def test_the_python_api_takes_a_fields_flag_name_as_a_keyword():
    from w2s.api import configure
    from w2s.wst.evaluate import WSTEvalConfig

    assert configure(WSTEvalConfig, teacher="runs/t").trained_teacher == "runs/t"
    assert typing.get_type_hints(WSTEvalConfig)["judge_mode"] is not str  # a Literal: its choices are declared


def test_every_default_is_a_value_not_a_declaration():
    """A setting wrapped twice (`setting(field(...))`) would make its default a Field object."""
    def walk(cls, seen):
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            assert not isinstance(default, dataclasses.Field), f"{cls.__name__}.{f.name}"
            for inner in (typing.get_type_hints(cls)[f.name], *typing.get_args(typing.get_type_hints(cls)[f.name])):
                if dataclasses.is_dataclass(inner) and inner not in seen:
                    seen.add(inner)
                    walk(inner, seen)

    for command in all_commands():
        walk(command.settings(), set())


def test_the_command_line_is_built_without_loading_a_model_library():
    """`w2s --help` and every command's parser load no torch, transformers, peft or trl: they
    answer at once (building them used to import transformers through `wst train`: 8 s)."""
    import subprocess
    import sys

    code = ("import sys, w2s.cli; w2s.cli.build_parsers(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'peft', 'trl'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
