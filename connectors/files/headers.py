"""Finding a file's header row and matching it to the contract's columns, with a did-you-mean.

Report files often have a title and a date line above the header, and their headers differ from
the contract's in case, diacritics, spacing or Unicode form (`GIÁ TRỊ:`, `Gia tri`, NFD). Headers
match without those; a column's `aliases` name the other headers departments use. When the
header still does not fit, the reason names each missing column with the closest header found,
so the department (or the data engineer, if the contract is wrong) knows what to change.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

from lgsp.connectors.files.config import FileColumn
from lgsp.core.text import plain_words
from lgsp.submissions import corrections

TITLE_ROWS = 30  # rows looked at for the header when the declared row does not fit


def header_key(text: str) -> str:
    """Headers match without case, diacritics or punctuation: 'Giá trị' = 'gia tri' = 'GIÁ TRỊ:'."""
    return plain_words(text)


def exact_key(text: str) -> str:
    """Without case, punctuation or spacing, but with diacritics: 'Năm' and 'Nam' stay apart."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold()))


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

    def closest(self, column: FileColumn) -> str | None:
        """The unmatched header of the file that looks most like `column`'s, if one does."""
        found = {header_key(h): h for _, h in self.unknown}
        for wanted in (header_key(column.header), *(header_key(a) for a in column.aliases)):
            close = difflib.get_close_matches(wanted, list(found), n=1, cutoff=0.6)
            if close:
                return found[close[0]]
        return None

    def misspelled(self) -> list[FileColumn]:
        """Columns missing because their header was typed differently: a file with 'Gía cả' for
        'Giá' must not publish empty prices over good ones."""
        return [c for c in self.missing if self.closest(c) is not None]

    def explain_missing(self, columns: list[FileColumn]) -> list[str]:
        """'Giá trị' (có phải / did you mean 'Gia tri VND'?) for each missing column."""
        out = []
        for column in columns:
            close = self.closest(column)
            hint = f" (có phải / did you mean '{close}'?)" if close else ""
            out.append(f"'{column.header}'{hint}")
        return out


_MARKS = {header_key(h): h for h in corrections.COLUMNS}


def match(headers: list[str], row: int, columns: list[FileColumn]) -> HeaderMatch:
    """Each column's header: first exactly (without case and spacing, with diacritics), then,
    for the columns left, without diacritics where that is unambiguous: a file with both 'Năm'
    (year) and 'Nam' (men) never has them swapped."""
    found = HeaderMatch(row=row, headers=headers)
    wanted = [c for c in columns if c.qualifier_of is None]  # qualifiers are filled from their number column
    names = {c.name: [c.header, c.name, *c.aliases] for c in wanted}
    for key in (exact_key, header_key):
        keys = [key(h) for h in headers]
        left = [c for c in wanted if c.name not in found.positions]
        claims = {c.name: {key(n) for n in names[c.name]} for c in left}
        for column in left:
            used = set(found.positions.values())
            where = [i for i, k in enumerate(keys) if k in claims[column.name] and i not in used]
            rivals = [o for o in left if o.name != column.name and claims[o.name] & {keys[i] for i in where}]
            if where and (key is exact_key or (len(where) == 1 and not rivals)):
                found.positions[column.name] = where[0]
    found.missing = [c for c in wanted if c.name not in found.positions]
    used = set(found.positions.values())
    for i, k in enumerate(keys):
        mark = _MARKS.get(k)
        if mark is not None and i not in used and mark not in found.marks:
            found.marks[mark] = i  # neither data nor an undeclared column: the reader sets them aside
    used |= set(found.marks.values())
    found.unknown = [(i, headers[i]) for i, h in enumerate(headers) if i not in used and header_key(h)]
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
