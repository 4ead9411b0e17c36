"""The README's reference parts are checked against the code they describe: every
setting and its default, every CLI command (sqlite-utils' ``tests/test_docs.py``
does the same for its commands)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from service.cli import cli
from service.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _settings_table() -> dict[str, tuple[str, str]]:
    """TAILOR_X -> (flag, default) from the README's configuration table."""
    rows = {}
    for line in _section("Configuration").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`TAILOR_"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_every_setting_is_documented_once() -> None:
    documented = _settings_table()
    declared = {f"TAILOR_{name.upper()}" for name in Settings.model_fields}
    assert set(documented) == declared


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_documented_defaults_are_the_code_defaults(name: str) -> None:
    _, default_cell = _settings_table()[f"TAILOR_{name.upper()}"]
    literal = re.match(r"^`([^`]*)`", default_cell)
    field = Settings.model_fields[name]
    if literal is None or field.default_factory is not None:
        return  # described in words (a path, "packaged ...", empty): nothing literal to compare
    default = field.get_default()
    if default is None:
        return  # None stands for a derived value the README names (`DATA_DIR/models`)
    value = getattr(default, "get_secret_value", lambda: default)()
    if isinstance(value, int | float):
        assert float(literal.group(1)) == float(value), name
    else:
        assert literal.group(1) == str(value), name


def _commands(group: click.Group, prefix: str = "tailor") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("command", _commands(cli))
def test_every_command_is_documented(command: str) -> None:
    text = _section("Command line")
    group, _, leaf = command.rpartition(" ")
    # `tailor adapters train|list|export` documents three commands at once
    assert f"`{command}" in text or re.search(rf"`{group} [\w|]*\b{leaf}\b", text), command


def test_every_command_answers_help() -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    for command in _commands(cli):
        result = runner.invoke(cli, [*command.split()[1:], "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output
