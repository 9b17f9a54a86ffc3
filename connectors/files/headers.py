"""Finding a file's header row and matching it to the contract's columns, with a did-you-mean.

Report files often have a title and a date line above the header, and their headers differ from
the contract's in case, diacritics, spacing or Unicode form (`GIÁ TRỊ:`, `Gia tri`, NFD). Headers
match without those; a column's `aliases` name the other headers departments use. When the
header still does not fit, the reason names each missing column with the closest header found,
so the department (or the data engineer, if the contract is wrong) knows what to change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from lgsp.connectors.files.config import FileColumn
from lgsp.core.text import plain_words
from lgsp.submissions import corrections

TITLE_ROWS = 30  # rows looked at for the header when the declared row does not fit


def header_key(text: str) -> str:
    """Headers match without case, diacritics or punctuation: 'Giá trị' = 'gia tri' = 'GIÁ TRỊ:'."""
    return plain_words(text)


@dataclass
class HeaderMatch:
    """Where each contract column is in a header row, and what did not match."""

    row: int  # the header's line (CSV) or row (XLSX) number
    headers: list[str]
    positions: dict[str, int] = field(default_factory=dict)
    missing: list[FileColumn] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # a correction sheet's own columns (reason, ref)

    def required_missing(self, key: list[str]) -> list[FileColumn]:
        return [c for c in self.missing if c.name in key or not c.nullable]

    def explain_missing(self, columns: list[FileColumn]) -> list[str]:
        """'Giá trị' (có phải / did you mean 'Gia tri VND'?) for each missing column."""
        found = {header_key(h): h for _, h in self.unknown}
        out = []
        for column in columns:
            wanted = [header_key(column.header), *(header_key(a) for a in column.aliases)]
            close = difflib.get_close_matches(wanted[0], list(found), n=1, cutoff=0.6)
            for alias in wanted[1:]:
                close = close or difflib.get_close_matches(alias, list(found), n=1, cutoff=0.6)
            hint = f" (có phải / did you mean '{found[close[0]]}'?)" if close else ""
            out.append(f"'{column.header}'{hint}")
        return out


_MARKS = {header_key(h): h for h in corrections.COLUMNS}


def match(headers: list[str], row: int, columns: list[FileColumn]) -> HeaderMatch:
    keys = [header_key(h) for h in headers]
    found = HeaderMatch(row=row, headers=headers)
    for column in columns:
        if column.qualifier_of is not None:
            continue  # filled from its number column, not from a header
        wanted = {header_key(column.header), header_key(column.name), *(header_key(a) for a in column.aliases)}
        where = [i for i, k in enumerate(keys) if k in wanted and i not in found.positions.values()]
        if where:
            found.positions[column.name] = where[0]
        else:
            found.missing.append(column)
    used = set(found.positions.values())
    for i, k in enumerate(keys):
        mark = _MARKS.get(k)
        if mark is not None and i not in used and mark not in found.marks:
            found.marks[mark] = i  # neither data nor an undeclared column: the reader sets them aside
    used |= set(found.marks.values())
    found.unknown = [(i, headers[i]) for i, k in enumerate(keys) if i not in used and k]
    return found


def find_header(
    lines: list[tuple[int, list[str | None]]], declared: int, columns: list[FileColumn], key: list[str]
) -> HeaderMatch | None:
    """The header row: the declared one if every required column is in it, else the first row
    within TITLE_ROWS after it that has them all (title rows above a header are common); None
    when no row does (the caller explains with the declared row)."""
    candidates = [(n, cells) for n, cells in lines if n >= declared][:TITLE_ROWS]
    for n, cells in candidates:
        headers = [("" if c is None else str(c)).strip() for c in cells]
        while headers and not headers[-1]:
            headers.pop()
        if not headers:
            continue
        found = match(headers, n, columns)
        if not found.required_missing(key) and found.positions:
            return found
    return None
