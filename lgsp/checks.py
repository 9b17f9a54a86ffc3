"""`lgsp check`: every problem of every contract, each naming its file and field; and what would
make a valid contract fail at run time (a connection not configured, a file contract whose
headers can never all be found, one that no longer fits the files its department sends)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lgsp.core.settings import Settings
from lgsp.schemas.contract import Classification, Contract, DerivedSource, FileSource
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
    # A derived dataset's inputs may be contracts beside the ones checked (lgsp check one.yaml).
    beside = sorted({q for path in paths for q in path.parent.glob("*.yaml")} - set(paths))
    known = list(_valid([*paths, *beside]))
    out.extend(derived_problems(list(_valid(paths)), known=known))
    out.extend(reference_problems(list(_valid(paths)), known=known))
    return out


def reference_problems(found: list[tuple[Contract, Path]], known: list[tuple[Contract, Path]]) -> list[str]:
    """Columns whose `references` name a dataset that is no contract, or a column it does not have:
    the portal could never join them (a map of the readings needs the stations they name)."""
    by_id = {c.id: c for c, _ in known}
    out = []
    for contract, path in found:
        for column in contract.columns:
            ref = column.references
            if ref is None:
                continue
            target = by_id.get(ref.dataset)
            where = f"{path}: columns.{column.name}.references"
            if target is None:
                out.append(f"{where}: '{ref.dataset}' is not the id of any contract")
            elif ref.column not in {c.name for c in target.columns}:
                out.append(f"{where}: '{ref.dataset}' has no column '{ref.column}'")
    return out


def _valid(paths: list[Path]) -> Iterable[tuple[Contract, Path]]:
    for path in paths:
        contract, _ = problems_in(path)
        if contract is not None:
            yield contract, path


STRICTNESS = {Classification.open: 0, Classification.shared: 1, Classification.restricted: 2}


def derived_problems(found: list[tuple[Contract, Path]], known: list[tuple[Contract, Path]] | None = None) -> list[str]:
    """Derived datasets whose inputs are not contracts, that read a table not among their inputs,
    that are computed (through other derived datasets) from themselves, or that are classified
    less strictly than an input holding personal data (whatever their own columns declare: a
    column computed from personal data is not known to be free of it)."""
    from lgsp.connectors.derived import tables_named
    from lgsp.core.errors import LgspError

    by_id = {c.id: c for c, _ in (known or found)}
    out = []
    for contract, path in sorted(found, key=lambda item: item[0].id):
        source = contract.source
        if not isinstance(source, DerivedSource):
            continue
        for i, name in enumerate(source.inputs):
            feeding = by_id.get(name)
            if feeding is None:
                out.append(f"{path}: source.inputs[{i}]: '{name}' is not the id of any contract")
            elif feeding.personal_columns and STRICTNESS[contract.classification] < STRICTNESS[feeding.classification]:
                out.append(
                    f"{path}: classification: '{name}' holds personal data ({', '.join(feeding.personal_columns)}) "
                    f"and is {feeding.classification.value}: a dataset computed from it must be "
                    f"{feeding.classification.value} or stricter, not {contract.classification.value}"
                )
        try:
            strangers = sorted(tables_named(source.sql) - set(source.inputs))
        except LgspError as exc:
            out.append(f"{path}: source.sql: {exc.message.removeprefix('sql: ')}")
        else:
            if strangers:
                out.append(f"{path}: source.sql: reads {', '.join(strangers)}, not among source.inputs")
        out.extend(f"{path}: {p}" for p in incremental_problems(contract, by_id))
        cycle = _cycle(contract.id, by_id)
        if cycle:
            out.append(f"{path}: source.inputs: computed from itself ({' → '.join(cycle)})")
    return out


def incremental_problems(contract: Contract, by_id: dict[str, Contract]) -> list[str]:
    """A derived dataset's `source.incremental` keys must be expressions over its followed input's
    columns: each is bound against an empty table of the input contract's types in DuckDB. The
    SQL must name that input without a schema (the run restricts the unqualified name)."""
    import duckdb

    from lgsp.connectors.derived import names_with_schema
    from lgsp.core import duck

    source = contract.source
    if not isinstance(source, DerivedSource) or source.incremental is None:
        return []
    name = source.incremental.input
    out = []
    if names_with_schema(source.sql, name):
        out.append(f"source.sql: names {name} with a schema; name it alone, as the incremental run restricts it")
    feeding = by_id.get(name)
    if feeding is None:
        return out  # reported as an unknown input
    con = duckdb.connect()
    try:
        columns = ", ".join(f"{duck.quote(c.name)} {c.duckdb_type}" for c in feeding.columns)
        con.execute(f"CREATE TABLE {duck.quote(name)} ({columns})")
        for key, expression in source.incremental.keys.items():
            try:
                con.execute(f"SELECT {expression} FROM {duck.quote(name)} LIMIT 0")
            except duckdb.Error as exc:
                reason = str(exc).splitlines()[0]
                out.append(
                    f"source.incremental.keys.{key}: '{expression}' is no expression over {name}'s columns: {reason}"
                )
    finally:
        con.close()
    return out


def _cycle(start: str, by_id: dict[str, Contract]) -> list[str]:
    """A path of derived inputs from `start` back to itself, or [] when there is none."""

    def inputs(dataset_id: str) -> list[str]:
        contract = by_id.get(dataset_id)
        return list(contract.source.inputs) if contract and isinstance(contract.source, DerivedSource) else []

    stack, seen = [(start, [start])], set()
    while stack:
        node, trail = stack.pop()
        for name in inputs(node):
            if name == start:
                return [*trail, start]
            if name not in seen:
                seen.add(name)
                stack.append((name, [*trail, name]))
    return []


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
        if contract.source.connection is None:  # a derived dataset reads the warehouse itself
            continue
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
    if not files or not (settings.lake or settings.warehouse_path.exists()):
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


def _computed_from_itself(code: str, known: dict[str, Any]) -> bool:
    """Whether a computed indicator's formulas lead back to it."""
    seen: set[str] = set()
    todo = list(known[code].inputs) if code in known else []
    while todo:
        current = todo.pop()
        if current == code:
            return True
        if current in seen or current not in known:
            continue
        seen.add(current)
        todo.extend(known[current].inputs)
    return False


def register_problems(paths: list[Path], contracts: Iterable[Contract]) -> list[str]:
    """Problems of the indicator register's files, as 'file: field: reason' lines: the file's own
    fields, and each source checked against the contracts (the dataset is one, the columns it
    names are that dataset's, its value column is a number) and the owner a publisher of one."""
    from lgsp.schemas.contract import ColumnType
    from lgsp.schemas.indicators import indicator_files, indicator_problems

    by_id = {c.id: c for c in contracts}
    publishers = sorted({c.publisher.code for c in by_id.values()})
    folders = {p.resolve().parent for p in paths}
    known = {i.code: i for f in folders for i in (indicator_problems(p)[0] for p in indicator_files(f)) if i}
    out: list[str] = []
    for path in paths:
        indicator, problems = indicator_problems(path)
        out.extend(str(p) for p in problems)
        if indicator is None:
            continue
        for code in indicator.inputs:
            if code not in known:
                out.append(f"{path}: formula: '{code}' is not in the indicator register")
        if _computed_from_itself(indicator.code, known):
            out.append(f"{path}: formula: {indicator.code} is computed from itself (through other formulas)")
        if indicator.owner not in publishers:
            out.append(f"{path}: owner: '{indicator.owner}' is no contract's publisher code ({', '.join(publishers)})")
        for i, source in enumerate(indicator.sources):
            contract = by_id.get(source.dataset)
            if contract is None:
                out.append(f"{path}: sources[{i}].dataset: '{source.dataset}' is not the id of any contract")
                continue
            columns = {c.name: c for c in contract.columns}
            for field, name in source.columns():
                if name not in columns:
                    out.append(f"{path}: sources[{i}].{field}: '{name}' is not a column of {source.dataset}")
            value = columns.get(source.value)
            if value is not None and value.type not in (ColumnType.integer, ColumnType.number):
                out.append(
                    f"{path}: sources[{i}].value: column '{source.value}' of {source.dataset} is "
                    f"{value.type.value}, not a number"
                )
    return out


def report_problems_all(paths: list[Path], register_dir: Path, contracts: Iterable[Contract]) -> list[str]:
    """Problems of report templates, as 'file: field: reason' lines: the file's own fields, each
    row's indicator in the register, and the owner a publisher code."""
    from lgsp.schemas.indicators import indicator_files, indicator_problems
    from lgsp.schemas.reports import report_problems

    known = {i.code for i in (indicator_problems(p)[0] for p in indicator_files(register_dir)) if i is not None}
    publishers = sorted({c.publisher.code for c in contracts})
    out: list[str] = []
    for path in paths:
        report, problems = report_problems(path)
        out.extend(str(p) for p in problems)
        if report is None:
            continue
        if report.owner not in publishers:
            out.append(f"{path}: owner: '{report.owner}' is no contract's publisher code ({', '.join(publishers)})")
        for i, row in enumerate(report.rows):
            if row.indicator is not None and row.indicator not in known:
                out.append(f"{path}: rows[{i}].indicator: '{row.indicator}' is not in the indicator register")
    return out
