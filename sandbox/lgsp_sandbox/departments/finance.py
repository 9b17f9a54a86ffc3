"""Sở Tài chính's price database (CSDL Giá): weekly market price observations across the province."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from lgsp_sandbox import dirt
from lgsp_sandbox.common import BUILD, DIRT, date_text, days, rng, seconds, timestamp_text
from lgsp_sandbox.schema import TABLES
from lgsp_sandbox.units import commune_by_name

DEPARTMENT = 1
SPEC = TABLES["price_observations"]


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    unit: str
    price: int
    """Typical 2025 retail price in VND."""
    volatility: float
    """Weekly relative price movement; 0 for state-regulated prices the same in every market."""


ITEMS: tuple[Item, ...] = (
    Item("LT-01", "Gạo tẻ thường", "kg", 15_000, 0.010),
    Item("LT-02", "Gạo tám thơm", "kg", 22_000, 0.010),
    Item("LT-03", "Gạo nếp cái hoa vàng", "kg", 32_000, 0.015),
    Item("TP-01", "Thịt lợn hơi", "kg", 62_000, 0.030),
    Item("TP-02", "Thịt lợn nạc thăn", "kg", 135_000, 0.020),
    Item("TP-03", "Thịt bò thăn", "kg", 280_000, 0.015),
    Item("TP-04", "Gà ta làm sẵn", "kg", 130_000, 0.020),
    Item("TP-05", "Trứng gà", "chục", 32_000, 0.030),
    Item("TP-06", "Trứng vịt", "quả", 3_500, 0.030),
    Item("TP-07", "Cá thu tươi", "kg", 260_000, 0.040),
    Item("TP-08", "Tôm thẻ chân trắng", "kg", 180_000, 0.040),
    Item("TP-09", "Cá trắm cỏ", "kg", 70_000, 0.020),
    Item("TP-10", "Đường kính trắng", "kg", 22_000, 0.010),
    Item("TP-11", "Muối hạt", "kg", 8_000, 0.010),
    Item("TP-12", "Dầu ăn thực vật", "lít", 48_000, 0.010),
    Item("TP-13", "Nước mắm", "lít", 45_000, 0.010),
    Item("RQ-01", "Rau muống", "bó", 5_000, 0.060),
    Item("RQ-02", "Bắp cải", "kg", 15_000, 0.060),
    Item("RQ-03", "Cà chua", "kg", 22_000, 0.060),
    Item("RQ-04", "Khoai tây", "kg", 25_000, 0.040),
    Item("XD-01", "Xăng RON 95-III", "lít", 20_500, 0.0),
    Item("XD-02", "Xăng E5 RON 92-II", "lít", 19_600, 0.0),
    Item("XD-03", "Dầu diesel 0,05S-II", "lít", 18_700, 0.0),
    Item("VL-01", "Xi măng PCB40", "bao", 85_000, 0.010),
    Item("VL-02", "Thép xây dựng D10", "kg", 15_500, 0.015),
)

# (place, commune, price level): the district-seat markets a price officer visits; fuel is priced at the local
# filling station, at the same regulated price everywhere.
MARKETS: tuple[tuple[str, str, float], ...] = (
    ("Đông Hà", "Phường Đông Hà", 1.06),
    ("Đồng Hới", "Phường Đồng Hới", 1.05),
    ("Ba Đồn", "Phường Ba Đồn", 1.02),
    ("Quảng Trị", "Phường Quảng Trị", 1.0),
    ("Hồ Xá", "Xã Vĩnh Linh", 1.0),
    ("Khe Sanh", "Xã Khe Sanh", 1.04),
    ("Lao Bảo", "Xã Lao Bảo", 1.03),
    ("Kiến Giang", "Xã Lệ Thủy", 0.98),
    ("Hoàn Lão", "Xã Hoàn Lão", 0.99),
    ("Diên Sanh", "Xã Diên Sanh", 0.97),
)
WEEKS = 20
FIRST_FRIDAY = date(2025, 8, 1)
ROWS = WEEKS * len(MARKETS) * len(ITEMS)


def market_name(place: str, item: Item) -> str:
    return f"Cửa hàng xăng dầu {place}" if item.code.startswith("XD") else f"Chợ {place}"


def _prices(g: np.random.Generator, weeks: int, start_week: int = 0) -> np.ndarray:
    """Prices [week, market, item]: an item-wide weekly random walk, a market premium and observation noise."""
    base = np.array([i.price for i in ITEMS], dtype=float)
    vol = np.array([i.volatility for i in ITEMS])
    regulated = vol == 0.0
    step = g.normal(0.0, np.where(regulated, 0.015, vol / 2), size=(start_week + weeks, len(ITEMS)))
    walk = np.exp(np.cumsum(step, axis=0))[start_week:]
    premium = np.array([level for _, _, level in MARKETS])
    noise = g.normal(0.0, 1.0, size=(weeks, len(MARKETS), len(ITEMS))) * vol
    price = base * walk[:, None, :] * np.where(regulated, 1.0, premium[:, None] * (1 + noise))
    step_vnd = np.where(regulated, 10, np.where(base >= 100_000, 1_000, 100))
    return np.round(price / step_vnd) * step_vnd


def _table(
    ids: np.ndarray, observed: np.ndarray, market: np.ndarray, item: np.ndarray, price: np.ndarray, entered: np.ndarray
) -> pa.Table:
    communes = [commune_by_name(c) for _, c, _ in MARKETS]
    names = pa.array([[market_name(p, it) for it in ITEMS] for p, _, _ in MARKETS]).flatten()
    cols = {
        "id": pa.array(ids, type=pa.int64()),
        "item_code": pa.array([i.code for i in ITEMS]).take(pa.array(item)),
        "item_name": pa.array([i.name for i in ITEMS]).take(pa.array(item)),
        "unit": pa.array([i.unit for i in ITEMS]).take(pa.array(item)),
        "market_name": names.take(pa.array(market * len(ITEMS) + item)),
        "commune_code": pa.array([c.code for c in communes]).take(pa.array(market)),
        "commune_name": pa.array([c.name for c in communes]).take(pa.array(market)),
        "price": pa.array(price, type=pa.float64()),
        "observed_on": date_text(observed),
        "updated_at": timestamp_text(entered),
    }
    return pa.table(cols, schema=SPEC.arrow_schema)


def _entered(g: np.random.Generator, week: np.ndarray) -> np.ndarray:
    """When the officer typed the observation in: office hours, from the survey Friday to the next Monday."""
    friday = seconds(datetime.combine(FIRST_FRIDAY, datetime.min.time())) + week * 7 * 86_400
    day = g.choice(np.array([0, 3]), size=len(week), p=[0.7, 0.3])
    return friday + day * 86_400 + g.integers(8 * 3600, 17 * 3600 + 1800, size=len(week))


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """All observations, one block; `scale` does not apply (the survey size is fixed)."""
    del scale
    g = rng(seed, DEPARTMENT, BUILD)
    week, market, item = (a.reshape(-1) for a in np.indices((WEEKS, len(MARKETS), len(ITEMS))))
    price = _prices(g, WEEKS)[week, market, item]
    observed = days(FIRST_FRIDAY) + 7 * week
    table = _table(np.arange(1, ROWS + 1), observed, market, item, price, _entered(g, week))
    d = rng(seed, DEPARTMENT, DIRT)
    rows = dirt.pick(d, table.num_rows, dirty_share, dirt.KINDS)
    table = dirt.nulls(table, "price", rows["null"])
    table = dirt.replace(table, "price", rows["out_of_range"], [-p for p in price[rows["out_of_range"]]])
    table = dirt.duplicate_keys(table, "id", rows["duplicate_key"], d)
    table = dirt.bad_dates(table, "observed_on", rows["bad_date"])
    table = dirt.nfd(table, ["item_name", "market_name", "commune_name"], rows["nfd"])
    yield table


def added(g: np.random.Generator, first_id: int, n: int, after: datetime) -> pa.Table:
    """n new observations (the next survey round), ids from first_id, observed and entered in the day after `after`."""
    week0 = (after.date() - FIRST_FRIDAY).days // 7 + 1
    flat = np.arange(n)
    week = week0 + flat // (len(MARKETS) * len(ITEMS))
    market = flat // len(ITEMS) % len(MARKETS)
    item = flat % len(ITEMS)
    weeks = int(week.max() - week0 + 1) if n else 0
    price = _prices(g, weeks, start_week=week0)[week - week0, market, item] if n else np.empty(0)
    entered = seconds(after) + 1 + np.sort(g.integers(0, 86_400, size=n))
    return _table(np.arange(first_id, first_id + n), entered // 86_400, market, item, price, entered)


def changed(g: np.random.Generator, row: dict[str, object]) -> dict[str, object]:
    """A corrected price, a few percent off the old one (or the typical price if the old one was missing/negative)."""
    price = row["price"]
    if not isinstance(price, (int, float)) or price <= 0:
        price = next((i.price for i in ITEMS if i.code == row["item_code"]), 10_000)
    return {"price": float(round(price * g.uniform(0.93, 1.07) / 100) * 100)}
