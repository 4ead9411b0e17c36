"""The `tailor` CLI: keys, help, and every command documented in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from service.cli import cli
from store.db import Store
from store.keys import authenticate

README = Path(__file__).resolve().parents[1] / "README.md"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], capture_output=True, text=True, timeout=60
    )


def test_keys_create_prints_only_the_key(tmp_path: Path) -> None:
    result = run("keys", "create", "--tenant", "acme", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"tlr_[A-Za-z0-9_-]{43}\n", result.stdout)
    store = Store.open(tmp_path)
    assert authenticate(store, result.stdout.strip()) == "acme"
    store.close()


def test_keys_list_hides_secrets_and_revoke_disables(tmp_path: Path) -> None:
    runner = CliRunner()
    secret = runner.invoke(
        cli, ["keys", "create", "--tenant", "acme", "--data-dir", str(tmp_path)]
    ).output.strip()
    listing = runner.invoke(cli, ["keys", "list", "--data-dir", str(tmp_path)]).output
    assert secret not in listing and "acme" in listing and "active" in listing
    key_id = re.search(r"key_[0-9a-f]+", listing)
    assert key_id is not None
    revoked = runner.invoke(cli, ["keys", "revoke", key_id.group(0), "--data-dir", str(tmp_path)])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list", "--data-dir", str(tmp_path)]).output
    store = Store.open(tmp_path)
    assert authenticate(store, secret) is None
    store.close()


def test_data_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAILOR_DATA_DIR", str(tmp_path / "env-dir"))
    result = CliRunner().invoke(cli, ["keys", "create", "--tenant", "t"])
    assert result.exit_code == 0
    assert (tmp_path / "env-dir" / "tailor.db").exists()


def test_errors_are_clean_messages_not_tracebacks(tmp_path: Path) -> None:
    result = run("keys", "revoke", "key_missing", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no API key with id 'key_missing'" in result.stderr
    assert "Traceback" not in result.stderr


def commands(group: click.Group, prefix: str = "tailor") -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix} {name}")
    return found


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_has_help_and_is_documented(command: str) -> None:
    args = command.split()[1:]
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert f"`{command}" in README.read_text(), f"{command} is not documented in README.md"
