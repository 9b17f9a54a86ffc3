"""Docs that cannot drift: the README names every command, contract field and setting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract
from tests.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _fields(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    seen = seen or set()
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
            for inner in [arg, *getattr(arg, "__args__", ())]:
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    seen.add(inner)
                    names |= _fields(inner, seen)
    return names


def _command_lines(command: Any, prefix: str) -> list[str]:
    """`lgsp run`, `lgsp consumers add`, …: every command and subcommand as it is typed."""
    if not getattr(command, "commands", None):
        return [prefix]
    return [line for name, sub in sorted(command.commands.items()) for line in _command_lines(sub, f"{prefix} {name}")]


def test_every_cli_command_and_subcommand_is_documented() -> None:
    lines = _command_lines(typer.main.get_command(app), "lgsp")
    assert "lgsp run" in lines and "lgsp consumers add" in lines and "lgsp audit verify" in lines
    missing = [line for line in lines if f"`{line}" not in README]
    assert not missing, f"README does not document: {missing}"


def test_every_contract_field_is_documented() -> None:
    missing = sorted(name for name in _fields(Contract) if f"`{name}`" not in README)
    assert not missing, f"contract fields missing from README: {missing}"


def test_every_setting_variable_is_documented() -> None:
    source = (REPO_ROOT / "lgsp" / "core" / "settings.py").read_text(encoding="utf-8")
    for variable in set(re.findall(r'"(LGSP_[A-Z_]+)"', source)):
        assert variable in README, variable
    assert Settings.model_fields  # the model exists


def test_the_two_commands_and_ci() -> None:
    assert "make demo" in README and "make test" in README
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_the_performance_tables_are_the_committed_results() -> None:
    """The README's figures are rendered from benchmarks/results/*.json (benchmarks/readme.py): a
    hand-edited figure, or new results committed without their tables, fails here."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "readme.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_a_stale_performance_table_is_caught(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        README.replace("<!-- /bench:bench_derived -->", "| an edited figure |\n<!-- /bench:bench_derived -->")
    )
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "readme.py"), "--check", "--readme", str(readme)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1 and "performance tables differ" in done.stderr
    subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "readme.py"), "--readme", str(readme)], check=True)
    assert readme.read_text(encoding="utf-8") == README
