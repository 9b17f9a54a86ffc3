"""Why a row is quarantined, in words a department can act on: Vietnamese first, then English.

A reason names the column and the value as it was (never `nan`); the check's technical name is
kept apart, in the quarantine's `_checks`.
"""

from __future__ import annotations

import math
from typing import Any


def shown(value: Any) -> str:
    """A value as a reason shows it: empty cells as such, numpy scalars as plain numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(trống / empty)"
    text = value if isinstance(value, str) else repr(value)
    return f"'{text}'" if len(text) <= 80 else f"'{text[:77]}...'"


def reason(expectation: str, kwargs: dict[str, Any], value: Any, label: str) -> str:
    """The reason one value fails one check."""
    column = kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or "?"
    v = shown(value)
    if expectation == "expect_column_values_to_not_be_null":
        return f"thiếu giá trị bắt buộc ở cột {column} / required value missing in {column}"
    if expectation in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        return f"khoá trùng / duplicate key ({column} = {v})"
    if expectation == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds = f"[{'' if low is None else low}, {'' if high is None else high}]"
        return f"{v} ngoài khoảng cho phép {bounds} ở cột {column} / outside the allowed range {bounds} in {column}"
    if expectation == "expect_column_values_to_be_in_set":
        return f"{v} không thuộc các giá trị cho phép ở cột {column} / is not an allowed value of {column}"
    if expectation in ("expect_column_values_to_match_regex", "expect_column_values_to_match_strftime_format"):
        return f"{v} sai định dạng ở cột {column} / has the wrong format for {column}"
    if expectation == "expect_column_value_lengths_to_be_between":
        return f"{v} có độ dài không hợp lệ ở cột {column} / has an invalid length for {column}"
    return f"{v} không đạt kiểm tra / fails {label}"
