"""Read dataset contracts from YAML files, with errors that name the file and the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from lgsp.schemas.contract import Contract
from lgsp.schemas.errors import ContractError, ContractNotFound


@dataclass(frozen=True)
class Problem:
    """One reason a contract file is invalid."""

    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


def _location(loc: tuple[object, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "source" and part in ("sql", "rest", "files"):
            continue  # pydantic's tag of the source kind is not a field of the file
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def problems_in(path: Path) -> tuple[Contract | None, list[Problem]]:
    """Parse one contract file; return the contract or the list of problems (never raises)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, "(file)", f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, "(yaml)", str(exc).replace("\n", " "))]
    if not isinstance(data, dict):
        return None, [Problem(path, "(top level)", "a contract is a YAML mapping of fields")]
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field (typo? credentials belong in a connection, not a contract)"
            if err["type"] == "missing":
                reason = "required field is missing"
            if (
                "input" in err
                and err["type"] not in ("missing", "extra_forbidden")
                and not isinstance(err["input"], dict)
            ):
                reason += f" (got {err['input']!r})"
            field = _location(err["loc"])
            # Cross-field checks say which field they are about: "primary_key: 'x' is not ..."
            named = re.match(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)*)(?: \([^)]*\))?: (.*)$", reason, re.S)
            if field == "(top level)" and named:
                field, reason = named.group(1), named.group(2)
            problems.append(Problem(path, field, reason))
        return None, problems
    if contract.id != path.stem:
        return None, [Problem(path, "id", f"'{contract.id}' must match the file name '{path.stem}'")]
    return contract, []


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


def contract_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_contracts(directory: Path) -> dict[str, Contract]:
    """Every contract in a folder, by dataset id; raises on the first invalid file."""
    return {c.id: c for c in (load_contract(p) for p in contract_files(directory))}


def find_contract(directory: Path, dataset_id: str) -> Contract:
    for path in contract_files(directory):
        if path.stem == dataset_id:
            return load_contract(path)
    known = ", ".join(p.stem for p in contract_files(directory)) or "none"
    raise ContractNotFound(f"no contract for dataset '{dataset_id}' in {directory} (known: {known})")
