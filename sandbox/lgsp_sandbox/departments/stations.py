"""Sở NN&MT's catalogue of its automatic monitoring stations (env_stations): where each station stands,
so the readings, which carry only a station code, can be put on a map.

Air stations stand in towns and industrial zones, water stations on the province's rivers. The
coordinates are typed by hand in the department's register, so a dirty province has a station whose
latitude and longitude were swapped (106.4 N is in no province), which the hub must quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pyarrow as pa

from lgsp_sandbox import dirt
from lgsp_sandbox.common import BUILD, DIRT, date_text, days, rng
from lgsp_sandbox.departments.environment import DEPARTMENT, STATIONS
from lgsp_sandbox.schema import TABLES

SPEC = TABLES["env_stations"]
CATALOGUE = 1000
"""Stream offset of the catalogue, so its random numbers never meet the readings' blocks."""
DIRT_KINDS = ("swapped",)

# code: (name, commune after the 2025 merger, latitude, longitude), WGS 84 degrees
PLACES: dict[str, tuple[str, str, float, float]] = {
    "QT-KK-01": ("Trạm không khí Đông Hà", "Phường Đông Hà", 16.8165, 107.1003),
    "QT-KK-02": ("Trạm không khí KCN Nam Đông Hà", "Phường Nam Đông Hà", 16.7880, 107.0830),
    "QT-KK-03": ("Trạm không khí thị xã Quảng Trị", "Phường Quảng Trị", 16.7520, 107.1870),
    "QT-KK-04": ("Trạm không khí Đồng Hới", "Phường Đồng Hới", 17.4685, 106.6225),
    "QT-KK-05": ("Trạm không khí KCN Tây Bắc Đồng Hới", "Phường Đồng Sơn", 17.4900, 106.5900),
    "QT-KK-06": ("Trạm không khí Đồng Thuận", "Phường Đồng Thuận", 17.4950, 106.6120),
    "QT-KK-07": ("Trạm không khí Ba Đồn", "Phường Ba Đồn", 17.7540, 106.4230),
    "QT-KK-08": ("Trạm không khí KKT Hòn La", "Xã Phú Trạch", 17.9300, 106.5150),
    "QT-KK-09": ("Trạm không khí cửa khẩu Lao Bảo", "Xã Lao Bảo", 16.6150, 106.5900),
    "QT-KK-10": ("Trạm không khí Khe Sanh", "Xã Khe Sanh", 16.6240, 106.7300),
    "QT-KK-11": ("Trạm không khí KCN Quán Ngang", "Xã Gio Linh", 16.9330, 107.0730),
    "QT-KK-12": ("Trạm không khí cảng Cửa Việt", "Xã Cửa Việt", 16.8980, 107.1800),
    "QT-KK-13": ("Trạm không khí Hồ Xá", "Xã Vĩnh Linh", 17.0640, 107.0100),
    "QT-KK-14": ("Trạm không khí Hoàn Lão", "Xã Hoàn Lão", 17.5820, 106.5330),
    "QT-KK-15": ("Trạm không khí Kiến Giang", "Xã Lệ Thủy", 17.2190, 106.7860),
    "QT-KK-16": ("Trạm không khí Diên Sanh", "Xã Diên Sanh", 16.7130, 107.2450),
    "QT-KK-17": ("Trạm không khí Ái Tử", "Xã Ái Tử", 16.7780, 107.1530),
    "QT-KK-18": ("Trạm không khí Minh Hóa", "Xã Minh Hóa", 17.8060, 105.9860),
    "QT-NM-01": ("Trạm nước mặt sông Thạch Hãn, cầu Thạch Hãn", "Phường Quảng Trị", 16.7462, 107.1905),
    "QT-NM-02": ("Trạm nước mặt sông Thạch Hãn, Ba Lòng", "Xã Ba Lòng", 16.6160, 107.0020),
    "QT-NM-03": ("Trạm nước mặt sông Hiếu, cầu Đông Hà", "Phường Đông Hà", 16.8220, 107.1010),
    "QT-NM-04": ("Trạm nước mặt sông Hiếu, Cam Lộ", "Xã Cam Lộ", 16.7990, 107.0040),
    "QT-NM-05": ("Trạm nước mặt sông Bến Hải, cầu Hiền Lương", "Xã Bến Hải", 17.0010, 107.0510),
    "QT-NM-06": ("Trạm nước mặt sông Bến Hải, Cửa Tùng", "Xã Cửa Tùng", 17.0150, 107.1050),
    "QT-NM-07": ("Trạm nước mặt sông Nhật Lệ, cầu Nhật Lệ", "Phường Đồng Hới", 17.4740, 106.6320),
    "QT-NM-08": ("Trạm nước mặt sông Gianh, cầu Gianh", "Phường Bắc Gianh", 17.7160, 106.4700),
    "QT-NM-09": ("Trạm nước mặt sông Gianh, Đồng Lê", "Xã Đồng Lê", 17.8830, 106.0230),
    "QT-NM-10": ("Trạm nước mặt sông Kiến Giang, Lệ Thủy", "Xã Lệ Thủy", 17.2140, 106.7930),
    "QT-NM-11": ("Trạm nước mặt sông Kiến Giang, Quảng Ninh", "Xã Quảng Ninh", 17.3850, 106.6380),
    "QT-NM-12": ("Trạm nước mặt sông Son, Phong Nha", "Xã Phong Nha", 17.6090, 106.3080),
}
FIRST_INSTALLED = date(2012, 1, 1)
LAST_INSTALLED = date(2023, 12, 31)


def rows(seed: int) -> pa.Table:
    """The clean catalogue: one row per station of the readings, installed on a seeded date."""
    assert tuple(PLACES) == STATIONS, "every station that reports has a place, in the readings' order"
    g = rng(seed, DEPARTMENT, BUILD, CATALOGUE)
    installed = g.integers(days(FIRST_INSTALLED), days(LAST_INSTALLED) + 1, size=len(STATIONS))
    names, communes, lats, lons = zip(*PLACES.values(), strict=True)
    cols = {
        "station_code": pa.array(STATIONS),
        "station_name": pa.array(names),
        "kind": pa.array(["air" if "-KK-" in code else "water" for code in STATIONS]),
        "commune_name": pa.array(communes),
        "latitude": pa.array(lats, type=pa.float64()),
        "longitude": pa.array(lons, type=pa.float64()),
        "installed_on": date_text(installed),
    }
    return pa.table(cols, schema=SPEC.arrow_schema)


def generate(seed: int, *, scale: int, dirty_share: float) -> Iterator[pa.Table]:
    """The catalogue in one block (its size does not follow `scale`); dirt swaps a station's coordinates."""
    table = rows(seed)
    picked = dirt.pick(rng(seed, DEPARTMENT, DIRT, CATALOGUE), table.num_rows, dirty_share, DIRT_KINDS)
    swapped = picked["swapped"]
    lats = table.column("latitude").take(pa.array(swapped, type=pa.int64()))
    lons = table.column("longitude").take(pa.array(swapped, type=pa.int64()))
    table = dirt.replace(table, "latitude", swapped, lons)
    yield dirt.replace(table, "longitude", swapped, lats)
