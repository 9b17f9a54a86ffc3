"""Decree 47/2020/NĐ-CP (as amended by 194/2025): is each open dataset refreshed on time?

Two checks per open dataset: the last release against the contract's declared update frequency,
and the rule that published open data is refreshed within 3 months.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lgsp.schemas.contract import Contract, Frequency

THREE_MONTHS = dt.timedelta(days=92)
EXPECTED = {  # longest gap the declared frequency allows (with a day of grace)
    Frequency.hourly: dt.timedelta(hours=2),
    Frequency.daily: dt.timedelta(days=2),
    Frequency.weekly: dt.timedelta(days=8),
    Frequency.monthly: dt.timedelta(days=32),
    Frequency.quarterly: dt.timedelta(days=93),
    Frequency.semiannual: dt.timedelta(days=184),
    Frequency.annual: dt.timedelta(days=367),
}


@dataclass(frozen=True)
class Compliance:
    last_refresh: dt.datetime | None
    frequency_ok: bool
    three_month_ok: bool

    @property
    def ok(self) -> bool:
        return self.frequency_ok and self.three_month_ok

    def label(self, lang: str = "vi") -> str:
        if self.last_refresh is None:
            return "chưa công bố" if lang == "vi" else "not yet published"
        if not self.three_month_ok:
            return "quá 3 tháng chưa cập nhật" if lang == "vi" else "not refreshed for 3 months"
        if not self.frequency_ok:
            return "chậm so với tần suất" if lang == "vi" else "behind its update frequency"
        return "đúng hạn" if lang == "vi" else "on time"


def check(contract: Contract, last_refresh: dt.datetime | None, now: dt.datetime | None = None) -> Compliance:
    """Compliance of one open dataset whose last refresh (release) was `last_refresh` (UTC)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if last_refresh is None:
        return Compliance(None, False, False)
    age = now - last_refresh
    allowed = EXPECTED.get(contract.update_frequency)
    return Compliance(last_refresh, allowed is None or age <= allowed, age <= THREE_MONTHS)
