"""`lgsp check`: every problem of every contract, each naming its file and field; and what would
make a valid contract fail at run time (a connection not configured, a file contract whose
headers can never all be found, one that no longer fits the files its department sends)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lgsp.core.settings import Settings
from lgsp.schemas.contract import Contract, FileSource
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
        out.extend(f"{path}: {p}" for p in header_problems(contract))
    return out


def header_problems(contract: Contract) -> list[str]:
    """A file contract whose columns cannot all be told apart in a header can match no file."""
    from lgsp.connectors.files.headers import exact_key, header_key

    if not isinstance(contract.source, FileSource):
        return []
    out = []
    owner: dict[str, str] = {}
    for i, column in enumerate(contract.columns):
        if column.qualifier_of is not None:
            continue
        names = [column.source or column.name, *column.aliases]
        for name in names:
            key = exact_key(name)
            if not header_key(name):
                out.append(f"columns[{i}] ({column.name}): header '{name}' has no letters or digits to match")
            elif owner.get(key, column.name) != column.name:
                out.append(
                    f"columns[{i}] ({column.name}): header '{name}' is the same, without case and spacing, "
                    f"as a header of column '{owner[key]}': no file can fill both"
                )
            owner.setdefault(key, column.name)
    return out


def connection_warnings(contracts: Iterable[Contract], settings: Settings) -> list[str]:
    """Contracts that are valid but cannot run here: their connection is not configured."""
    from lgsp.core.connections import resolve
    from lgsp.core.errors import LgspError

    out = []
    for contract in contracts:
        try:
            resolve(contract.source.connection, settings.sandbox_dir, home=settings.home)
        except LgspError as exc:
            out.append(f"{contract.id}: source.connection: {exc.message}")
    return out


def submission_warnings(contracts: Iterable[Contract], settings: Settings) -> list[str]:
    """File contracts that no longer fit the header of the last file their department had
    accepted: the contract changed, so its next rejections are the data engineer's to fix."""
    from lgsp.connectors.files.config import configure
    from lgsp.connectors.files.headers import find_header, match
    from lgsp.core.errors import LgspError
    from lgsp.submissions import ledger
    from lgsp.warehouse.store import Warehouse

    files = [c for c in contracts if isinstance(c.source, FileSource)]
    if not files or not settings.warehouse_path.exists():
        return []
    out = []
    with Warehouse(settings).reader() as con:
        for contract in files:
            accepted = ledger.last_accepted(con, contract.id)
            if accepted is None or not accepted.info.get("headers"):
                continue
            try:
                config = configure(contract, settings)
            except LgspError:
                continue  # reported as a connection warning
            headers = [str(h) for h in accepted.info["headers"]]
            found = find_header([(1, list(headers))], 1, config.columns, config.key)
            if found is None:
                tried = match(headers, 1, config.columns)
                missing = ", ".join(tried.explain_missing(tried.required_missing(config.key)))
                out.append(
                    f"{contract.id}: columns: the last file {contract.publisher.code} had accepted "
                    f"({accepted.name}, submission {accepted.id}, {accepted.received_at:%Y-%m-%d}) has no column "
                    f"{missing}: the contract changed since, and the department's next files will be rejected"
                )
    return out
