"""Parameters of the CKAN API as CKAN reads them."""

from __future__ import annotations

from typing import Any

from lgsp.web.problems import Invalid

LARGEST = 2**63 - 1


def int_param(params: dict[str, Any], name: str, default: int, maximum: int | None = None) -> int:
    """A non-negative integer parameter, capped at `maximum` as CKAN caps rows and limits."""
    try:
        value = int(params.get(name, default))
    except (TypeError, ValueError):
        raise Invalid({name: ["Không phải số nguyên / Invalid integer"]}) from None
    if value < 0:
        raise Invalid({name: ["Phải là số nguyên dương / Must be a positive integer"]})
    # Past 2**63 - 1 no row exists, and the answer's JSON (orjson) could not carry the number back.
    return min(value, maximum if maximum is not None else LARGEST)
