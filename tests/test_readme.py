"""The README's commands are real: every ``oppscope …`` it shows in code names commands that exist, with options
they take, and every ``make`` target it names is in the Makefile. A renamed command or option fails here
before a reader finds it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from oppscope.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
_CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
_INVOCATION = re.compile(r"(?:^|(?<=[\s/(]))oppscope\s+([^\n]*)")
_END = {"&&", "||", ";", "|", ">", "2>&1", "\\"}
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def _code() -> Iterator[str]:
    for block, span in _CODE.findall(README):
        yield (block or span).replace("\\\n", " ")


def _invocations() -> list[list[str]]:
    found = []
    for code in _code():
        for rest in _INVOCATION.findall(code):
            words: list[str] = []
            for word in rest.split():
                if word in _END or word.startswith("#"):
                    break
                words.append(word.replace("\\|", "|"))
            found.append(words)
    return found


def _resolve(group: TyperGroup, words: list[str]) -> list[str]:
    """What is wrong with the words as a command line: commands that do not exist, options they do not take
    (where the README writes ``a|b``, each of them)."""
    problems: list[str] = []
    commands: list[Any] = [group]  # Typer's vendored click commands: their class is private (typer._click)
    position = 0
    global_options = {name for p in group.params for name in p.opts}
    while position < len(words) and words[position] in global_options:  # `oppscope --data-dir D backtest`
        takes_value = not any(getattr(p, "is_flag", False) for p in group.params if words[position] in p.opts)
        position += 2 if takes_value else 1
    while position < len(words) and all(isinstance(c, TyperGroup) for c in commands):
        word = words[position]
        if word.startswith(("-", "<", "[")) or not word[:1].isalpha() or word[:1].isupper():
            break  # an option, or a placeholder for any command
        names = [name for name in word.split("|") if re.fullmatch(r"[a-z][a-z-]*", name)]
        next_commands = []
        for parent in commands:
            assert isinstance(parent, TyperGroup)
            for name in names:
                child = parent.commands.get(name)
                if child is None:
                    problems.append(f"no command `{parent.name} {name}`")
                else:
                    next_commands.append(child)
        commands = next_commands or commands
        position += 1
        if not next_commands:
            break
    accepted = (
        global_options
        | {"--help"}
        | {name for c in commands for p in c.params for name in [*p.opts, *getattr(p, "secondary_opts", [])]}
    )
    problems += [
        f"`{' '.join(c.name or '' for c in commands)}` takes no {o}"
        for o in _OPTION.findall(" ".join(words[position:]))
        if o not in accepted
    ]
    return problems


_CASES = _invocations()


def test_the_readme_shows_commands() -> None:
    assert len(_CASES) > 40  # the parser found the README's commands, not nothing


@pytest.mark.parametrize("words", _CASES, ids=[" ".join(w)[:60] for w in _CASES])
def test_every_command_in_the_readme_exists_with_its_options(words: list[str]) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    problems = _resolve(root, words)
    assert not problems, (words, problems)


def test_every_make_target_in_the_readme_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = {t for code in _code() for t in re.findall(r"(?:^|(?<=\s))make ([a-z][a-z-]*)", code)}
    assert {"run", "test"} <= named
    assert named <= targets, named - targets
