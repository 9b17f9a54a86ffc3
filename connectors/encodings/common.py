"""What the encoding modules share: the encodings' names, the error and the decoded result."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from lgsp.connectors.errors import ConnectorError

LEGACY = ("tcvn3", "vni", "windows-1258")  # the order breaks ties: ABC files are the most common
ACCEPT = 0.7  # share of Vietnamese words a reading needs to be believed
REPAIR = 0.8  # ... and a repaired cell, which must also beat the cell as it is by REPAIR_GAIN
REPAIR_GAIN = 0.25
MIN_WORDS = 3  # fewer words with non-ASCII letters than this tell the encodings apart only weakly
SAMPLE_BYTES = 256 * 1024  # detection reads lines with non-ASCII bytes up to this much

_ALIASES = {
    **dict.fromkeys(("utf-8", "utf8", "utf-8-sig"), "utf-8"),
    **dict.fromkeys(("utf-16", "utf16"), "utf-16"),
    **dict.fromkeys(("windows-1258", "cp1258", "1258", "win-1258"), "windows-1258"),
    **dict.fromkeys(("tcvn3", "tcvn", "tcvn-3", "tcvn5712", "tcvn-5712", "abc", "vn3", ".vntime", "vntime"), "tcvn3"),
    **dict.fromkeys(("vni", "vni-windows", "vni-win", "vni-times"), "vni"),
    **dict.fromkeys(("ascii", "us-ascii"), "ascii"),
}


class EncodingError(ConnectorError, ValueError):
    """Bytes that cannot be read as the declared encoding, or as any encoding with confidence.

    `scores` holds each reading tried and how Vietnamese it looked (0..1), best first."""

    def __init__(self, message: str, *, scores: tuple[tuple[str, float], ...] = (), **where: Any) -> None:
        super().__init__(message, **where)
        self.scores = scores


@dataclass(frozen=True)
class Decoded:
    """Text read from bytes. `encoding` is what the bytes were (`utf-8`, `utf-16`, `windows-1258`,
    `tcvn3`, `vni`, `ascii`); `confidence` the share of Vietnamese words of that reading (1.0 for
    Unicode and ASCII); `scores` every legacy reading tried, best first; `repaired_from` the legacy
    font encoding when Unicode bytes held TCVN3/VNI text shown as Windows-1252."""

    text: str
    encoding: str
    confidence: float = 1.0
    scores: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()
    repaired_from: str | None = None


def canonical(encoding: str) -> str:
    """The hub's name for an encoding a contract may declare (`TCVN3`, `cp1258`, `VNI-Windows`, ...);
    other names Python knows pass through as Python's name. Raises EncodingError for unknown names."""
    name = encoding.strip().lower().replace("_", "-")
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise EncodingError(
            f"unknown encoding '{encoding}'; use one of {', '.join(sorted(set(_ALIASES.values())))}"
        ) from None
