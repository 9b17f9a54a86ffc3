"""The staging's NFC shortcut gives exactly what normalising every value gives."""

from __future__ import annotations

import unicodedata

import duckdb

from lgsp.warehouse.projection import nfc


def test_the_nfc_guard_changes_nothing_for_any_code_point() -> None:
    con = duckdb.connect()
    # every code point alone, after a base letter, and before a combining mark
    con.execute(
        "CREATE TABLE t AS SELECT chr(CAST(cp AS INTEGER)) AS s FROM range(1, 1114112) r(cp) WHERE cp NOT BETWEEN 55296 AND 57343 "
        "UNION ALL SELECT 'a' || chr(CAST(cp AS INTEGER)) FROM range(1, 1114112) r(cp) WHERE cp NOT BETWEEN 55296 AND 57343 "
        "UNION ALL SELECT chr(CAST(cp AS INTEGER)) || chr(769) FROM range(1, 1114112) r(cp) WHERE cp NOT BETWEEN 55296 AND 57343"
    )
    differ = con.execute(f"SELECT count(*) FROM t WHERE {nfc('s')} IS DISTINCT FROM nfc_normalize(s)").fetchone()
    assert differ == (0,)


def test_vietnamese_nfd_becomes_nfc() -> None:
    con = duckdb.connect()
    text = "Phường Đông Hà, Xã Hải Thượng, Việt Nam"
    decomposed = unicodedata.normalize("NFD", text)
    for value in (decomposed, text):
        assert con.execute(f"SELECT {nfc('s')} FROM (SELECT ? AS s)", [value]).fetchone() == (text,)
