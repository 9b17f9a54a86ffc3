"""Read dataset contracts from YAML files, with errors that name the file and the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lgsp.schemas.contract import Contract
from lgsp.schemas.errors import ContractError, ContractNotFound

# libyaml's safe loader when PyYAML was built with it (the wheels are): ten times faster, and
# every run, release and page loads the contracts.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One reason a contract file is invalid."""

    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


# Tags pydantic puts in an error's location for a union member; they are not fields of the file:
# the source kinds of a contract's `source`, and the types of a `str | list[str]` field.
_TAGS = {"sql", "rest", "files", "derived", "str", "list[str]"}


def _location(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if part in _TAGS:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


M = TypeVar("M", bound=BaseModel)


def read_model(
    path: Path, model: type[M], *, noun: str, unknown: str = "unknown field", shown: tuple[type, ...] = (dict,)
) -> tuple[M | None, list[Problem]]:
    """Parse one YAML file into `model`; return it or its problems, each naming the field (never
    raises). `noun` says what the file holds ("a contract"), `unknown` what an unknown field is
    called, and values of the `shown` types are not repeated in a reason."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, "(file)", f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, "(yaml)", str(exc).replace("\n", " "))]
    if not isinstance(data, dict):
        return None, [Problem(path, "(top level)", f"{noun} is a YAML mapping of fields")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = unknown
            elif err["type"] == "missing":
                reason = "required field is missing"
            elif "input" in err and not isinstance(err["input"], shown):
                reason += f" (got {err['input']!r})"
            field = _location(err["loc"])
            # Cross-field checks say which field they are about: "primary_key: 'x' is not ..."
            named = re.match(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)*)(?: \([^)]*\))?: (.*)$", reason, re.S)
            if field == "(top level)" and named:
                field, reason = named.group(1), named.group(2)
            problems.append(Problem(path, field, reason))
        return None, list(dict.fromkeys(problems))


def problems_in(path: Path) -> tuple[Contract | None, list[Problem]]:
    """Parse one contract file; return the contract or the list of problems (never raises)."""
    contract, problems = read_model(
        path,
        Contract,
        noun="a contract",
        unknown="unknown field (typo? credentials belong in a connection, not a contract)",
    )
    if contract is not None and contract.id != path.stem:
        return None, [Problem(path, "id", f"'{contract.id}' must match the file name '{path.stem}'")]
    return contract, problems


def load_contract(path: Path) -> Contract:
    """Parse one contract file; raises ContractError naming the file and every bad field."""
    contract, problems = problems_in(path)
    if contract is None:
        first = problems[0]
        raise ContractError(
            "invalid contract:\n  " + "\n  ".join(str(p) for p in problems),
            file=str(first.file),
            field=first.field,
        )
    return contract


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files of a folder (contracts, the indicator register, report templates), by name."""
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


contract_files = yaml_files


def valid_or_raise(path: Path, found: M | None, problems: list[Problem], noun: str) -> M:
    """A parsed file, or ContractError naming the file and its first problem's field."""
    if found is None:
        raise ContractError(
            f"{noun}:\n  " + "\n  ".join(str(p) for p in problems), file=str(problems[0].file), field=problems[0].field
        )
    return found


def load_contracts(directory: Path) -> dict[str, Contract]:
    """Every contract in a folder, by dataset id; raises on the first invalid file."""
    return {c.id: c for c in (load_contract(p) for p in contract_files(directory))}


def find_contract(directory: Path, dataset_id: str) -> Contract:
    for path in contract_files(directory):
        if path.stem == dataset_id:
            return load_contract(path)
    known = ", ".join(p.stem for p in contract_files(directory)) or "none"
    raise ContractNotFound(f"no contract for dataset '{dataset_id}' in {directory} (known: {known})")
