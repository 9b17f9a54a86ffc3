"""Docs that cannot drift: the README names every command, contract field and setting."""

from __future__ import annotations

import re

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


def test_every_cli_command_is_documented() -> None:
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert commands
    for command in commands:
        assert f"`lgsp {command}" in README, f"README does not document `lgsp {command}`"


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
