"""The `.gz` files are deterministic: the same data gives the same bytes, in any hub, on any day,
and every gzip reader decodes them (one member, chunks deflated in parallel)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from lgsp.core import duck
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.compress import CHUNK, gzip_file
from lgsp.publishing.releases import make_release
from lgsp.schemas.loader import load_contracts


def test_two_releases_of_the_same_data_have_byte_identical_gz(hub: Settings, tmp_path: Path) -> None:
    assert Pipeline(hub).run("schools").status == "published"
    first = hub.home / "releases" / "schools" / "v1"
    other = tmp_path / "other-hub"
    os.utime(hub.warehouse_path)  # another time, another folder, another run id
    con = duck.connect(hub.warehouse_path)
    try:
        again = make_release(con, other, load_contracts(hub.contracts_dir)["schools"], "another-run")
    finally:
        con.close()
    second = other / "releases" / "schools" / "v1"
    assert again.version == 1
    for name in ("schools.csv.gz", "schools.json.gz"):
        data = (first / name).read_bytes()
        assert data == (second / name).read_bytes()
        assert data[3] == 0 and data[4:8] == b"\0\0\0\0"  # no file name, mtime 0
        assert gzip.decompress(data) == (first / name.removesuffix(".gz")).read_bytes()
    # an unchanged run makes no new release, .gz files included
    assert Pipeline(hub).run("schools").status == "published"
    assert sorted(p.name for p in (hub.home / "releases" / "schools").glob("v*")) == ["v1"]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 12345])
def test_gzip_file_decodes_everywhere_and_is_the_same_every_time(tmp_path: Path, size: int) -> None:
    source = tmp_path / "data.csv"
    line = b"QT-KK-07,PM2.5,12.5,50,\xc2\xb5g/m\xc2\xb3,2024-05-01 13:00:00\n"
    source.write_bytes((line * (size // len(line) + 1))[:size])
    made = [gzip_file(source, tmp_path / f"{i}.csv.gz") for i in range(2)]
    one, two = ((tmp_path / f"{i}.csv.gz").read_bytes() for i in range(2))
    assert one == two and made[0] == made[1] == (len(one), hashlib.sha256(one).hexdigest(), zlib.crc32(one))
    assert gzip.decompress(one) == source.read_bytes()
    crc, length = struct.unpack("<II", one[-8:])
    assert length == size and crc == zlib.crc32(source.read_bytes())
    if shutil.which("gzip"):  # the reference decoder agrees: one member, a whole deflate stream
        out = subprocess.run(["gzip", "-dc", str(tmp_path / "0.csv.gz")], capture_output=True, check=True)
        assert out.stdout == source.read_bytes()


def test_a_truncated_gz_is_detected_by_its_trailer(tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_bytes(b'[{"a":1}]' * 1000)
    gzip_file(source, tmp_path / "data.json.gz")
    data = (tmp_path / "data.json.gz").read_bytes()
    with pytest.raises(EOFError):
        gzip.decompress(data[:-4])
    corrupted = data[:-8] + struct.pack("<I", 0) + data[-4:]
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(corrupted)
