"""SQL that turns raw source columns into the contract's types, NFC text included.

Staging applies it while the rows come in, so published data needs no second pass; a value that
does not fit its declared type becomes NULL there, and its raw text is kept beside it in
`__raw__<column>` for the quarantine.
"""

from __future__ import annotations

from lgsp.core.duck import quote
from lgsp.schemas.contract import Column, ColumnType, Contract

RAW_PREFIX = "__raw__"
# Columns a connector adds for the hub itself: kept with the rows (published and quarantined) but
# never released or shared, because no contract declares them.
EXTRA = "_lgsp_extra"  # undeclared source fields, as JSON, under the `evolve` drift policy
ORIGIN = "_lgsp_origin"  # where a row came from, e.g. the file and line of a file drop
TYPED = "_lgsp_typed"  # file drops: the cells as typed, as JSON, where the hub's reading differs (20.738 → 20738)
PROBLEMS = "_lgsp_problems"  # file drops: why a cell could not be read exactly, as JSON; never published
SUBMISSION = "_lgsp_submission"  # file drops: the submission a row came from
HUB_COLUMNS = (EXTRA, ORIGIN, TYPED, PROBLEMS, SUBMISSION)
# A SQL source's soft-delete marker (incremental.deletes), as the source holds it: staging decides
# from it which rows are deletions and takes them out; it never reaches the published table.
DELETED = "_lgsp_deleted"

_NATIVE = {
    ColumnType.integer: {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"},
    ColumnType.number: {"DOUBLE", "FLOAT", "REAL"},
    ColumnType.boolean: {"BOOLEAN"},
    ColumnType.date: {"DATE"},
    ColumnType.timestamp: {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE"},
    ColumnType.string: {"VARCHAR"},
}


# Characters NFC can change: combining marks (how NFD Vietnamese arrives), conjoining Hangul
# jamo, the canonical singletons (Ω, Å, CJK compatibility ideographs…) and the composition
# exclusions. Text without them is
# already NFC, and skipping nfc_normalize for it makes staging text several times faster.
NFC_CHANGES = (
    r"[\pM\x{0340}-\x{0344}\x{0374}\x{037E}\x{0387}\x{1100}-\x{11FF}\x{1F71}-\x{1FFD}\x{2000}\x{2001}"
    r"\x{2126}\x{212A}\x{212B}\x{2329}\x{232A}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1D}"
    # composition exclusions (found by tests/warehouse/test_nfc.py, which checks every code point)
    r"\x{0958}-\x{095F}\x{09DC}-\x{09DD}\x{09DF}\x{0A33}\x{0A36}\x{0A59}-\x{0A5B}\x{0A5E}\x{0B5C}-\x{0B5D}"
    r"\x{0F43}\x{0F4D}\x{0F52}\x{0F57}\x{0F5C}\x{0F69}\x{2ADC}\x{FB1D}\x{FB1F}\x{FB2A}-\x{FB36}\x{FB38}-\x{FB3C}"
    r"\x{FB3E}\x{FB40}-\x{FB41}\x{FB43}-\x{FB44}\x{FB46}-\x{FB4E}\x{1D15E}-\x{1D164}\x{1D1BB}-\x{1D1C0}]"
)


PLAIN_TIMESTAMP = "%Y-%m-%d %H:%M:%S"  # date and time, nothing after: no offset, no zone


def nfc(expr: str) -> str:
    """SQL giving `expr` (text) in Unicode NFC: ASCII as it is (the cheapest test), other text
    through nfc_normalize only when it holds a character NFC can change."""
    return (
        f"(CASE WHEN strlen({expr}) = length({expr}) THEN {expr} "
        f"WHEN regexp_matches({expr}, '{NFC_CHANGES}') THEN nfc_normalize({expr}) ELSE {expr} END)"
    )


def needs_cast(column: Column, source_type: str) -> bool:
    """True when the source value must be cast (and may fail to cast) to the declared type."""
    return source_type.upper() not in _NATIVE[column.type]


def typed(column: Column, source_type: str) -> str:
    """Expression giving the column in its declared type (NULL where the raw value does not fit)."""
    ref = quote(column.name)
    if column.type is ColumnType.string:
        return nfc(f"CAST({ref} AS VARCHAR)")
    if column.type is ColumnType.timestamp and source_type.upper() == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({ref} AS TIMESTAMP)"
    if not needs_cast(column, source_type):
        return ref
    if column.type is ColumnType.integer:
        # A cast would round 1.5 to 2: a value with a fraction does not fit an integer column.
        if source_type.upper() == "VARCHAR":
            text = f"trim({ref})"  # sources pad numbers with spaces
            return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
        return f"CASE WHEN {ref} = trunc({ref}) THEN TRY_CAST({ref} AS BIGINT) END"
    if column.type is ColumnType.number:
        return f"TRY_CAST(trim(CAST({ref} AS VARCHAR)) AS {column.duckdb_type})"
    if column.type is ColumnType.timestamp and source_type.upper() == "VARCHAR":
        # Text from APIs and files may carry an offset (…+07:00): convert to UTC, don't drop it.
        # Parsing as TIMESTAMPTZ goes through ICU and costs several times a strict parse of the
        # form databases export (`2024-05-01 13:00:00`), which cannot hold an offset: that form
        # takes the strict parse, anything else ICU.
        return (
            f"COALESCE(TRY_STRPTIME({ref}, '{PLAIN_TIMESTAMP}'), "
            f"CAST(TRY_CAST(trim({ref}) AS TIMESTAMPTZ) AS TIMESTAMP))"
        )
    return f"TRY_CAST({ref} AS {column.duckdb_type})"


def marked_deleted(when: str) -> str:
    """SQL that is true for a row whose soft-delete marker (`_lgsp_deleted`, as the source holds it)
    says deleted: `not_null` (a deletion time), or `true` (true, t, yes, 1 or any non-zero number)."""
    marker = quote(DELETED)
    if when == "not_null":
        return f"({marker} IS NOT NULL)"
    text = f"trim(CAST({marker} AS VARCHAR))"
    return f"coalesce(TRY_CAST({text} AS BOOLEAN), TRY_CAST({text} AS DOUBLE) <> 0, false)"


def castable(contract: Contract, source_types: dict[str, str]) -> list[Column]:
    """Columns whose raw values can fail their declared type."""
    return [c for c in contract.columns if c.type is not ColumnType.string and needs_cast(c, source_types[c.name])]


def stage_select(contract: Contract, source_types: dict[str, str]) -> str:
    """Select list for the stage: typed columns, then the raw text of values that did not fit."""
    items = [f"{typed(c, source_types[c.name])} AS {quote(c.name)}" for c in contract.columns]
    for c in castable(contract, source_types):
        raw = quote(c.name)
        items.append(
            f"CASE WHEN {raw} IS NOT NULL AND {typed(c, source_types[c.name])} IS NULL "
            f"THEN CAST({raw} AS VARCHAR) END AS {quote(RAW_PREFIX + c.name)}"
        )
    items.extend(f"CAST({quote(h)} AS VARCHAR) AS {quote(h)}" for h in HUB_COLUMNS if h in source_types)
    return ", ".join(items)


def hub_columns(table_columns: list[str]) -> list[str]:
    return [c for c in HUB_COLUMNS if c in table_columns]


def raw_columns(table_columns: list[str]) -> list[str]:
    return [c for c in table_columns if c.startswith(RAW_PREFIX)]
