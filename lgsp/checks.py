"""`lgsp check`: every problem of every contract, each naming its file and field."""

from __future__ import annotations

from pathlib import Path

from lgsp.schemas.loader import problems_in


def check_contracts(paths: list[Path]) -> list[str]:
    """Problems found, as 'file: field: reason' lines; empty when every contract is valid."""
    from lgsp.validation.errors import ExpectationError
    from lgsp.validation.expectations import build_checks

    out: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        contract, problems = problems_in(path)
        out.extend(str(p) for p in problems)
        if contract is None:
            continue
        if contract.id in seen:
            out.append(f"{path}: id: '{contract.id}' is also the id of {seen[contract.id]}")
        seen[contract.id] = path
        try:
            build_checks(contract)
        except ExpectationError as exc:
            out.append(f"{path}: {exc.field}: {exc.message.split(': ', 1)[-1]}")
    return out
