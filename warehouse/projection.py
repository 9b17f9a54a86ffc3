"""SQL that turns raw staged columns into the contract's types, NFC text included."""

from __future__ import annotations

from lgsp.duck import quote
from schemas.contract import Column, ColumnType, Contract

_NATIVE = {
    ColumnType.integer: {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"},
    ColumnType.number: {"DOUBLE", "FLOAT", "REAL"},
    ColumnType.boolean: {"BOOLEAN"},
    ColumnType.date: {"DATE"},
    ColumnType.timestamp: {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE"},
    ColumnType.string: {"VARCHAR"},
}


def needs_cast(column: Column, staged_type: str) -> bool:
    """True when the staged value must be cast (and may fail to cast) to the declared type."""
    return staged_type.upper() not in _NATIVE[column.type]


def typed(column: Column, staged_type: str, prefix: str = "") -> str:
    """Expression giving the column in its declared type (NULL where the raw value does not fit)."""
    ref = prefix + quote(column.name)
    if column.type is ColumnType.string:
        return f"nfc_normalize(CAST({ref} AS VARCHAR))"
    if column.type is ColumnType.timestamp and staged_type.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({ref} AS TIMESTAMP)"
    if not needs_cast(column, staged_type):
        return ref
    if column.type is ColumnType.number or column.type is ColumnType.integer:
        # Vietnamese sources pad numbers with spaces; strip before casting.
        return f"TRY_CAST(trim(CAST({ref} AS VARCHAR)) AS {column.duckdb_type})"
    return f"TRY_CAST({ref} AS {column.duckdb_type})"


def select_list(contract: Contract, staged_types: dict[str, str], prefix: str = "") -> str:
    return ", ".join(f"{typed(c, staged_types[c.name], prefix)} AS {quote(c.name)}" for c in contract.columns)


def type_failure(column: Column, staged_type: str) -> str | None:
    """Predicate true where a present raw value cannot be cast to the declared type."""
    if column.type is ColumnType.string or not needs_cast(column, staged_type):
        return None
    return f"({quote(column.name)} IS NOT NULL AND {typed(column, staged_type)} IS NULL)"
