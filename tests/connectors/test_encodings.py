"""Legacy Vietnamese encodings (TCVN3, VNI, Windows-1258) and Unicode forms, read as NFC (DOMAIN.md)."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
import unicodedata

import pytest

from lgsp.connectors.encodings import (
    SAMPLE_BYTES,
    EncodingError,
    decode,
    encode,
    fix_cells,
    fix_text,
    is_vietnamese_word,
)

LEGACY = ["tcvn3", "vni", "windows-1258"]
TONES = "\u0300\u0309\u0303\u0301\u0323"
LOWER = [unicodedata.normalize("NFC", base + tone) for base in "aăâeêioôơuưy" for tone in ("", *TONES)] + ["đ"]
UPPER = [letter.upper() for letter in LOWER]

PARAGRAPH = """Ủy ban nhân dân tỉnh Quảng Trị
Sở Tài chính thông báo giá các mặt hàng thiết yếu tháng 6 năm 2024 tại thành phố Đông Hà:
gạo tẻ thường 14.500 đồng/kg; thịt lợn hơi 62.000 đồng/kg; xăng RON 95 là 23.170 đồng/lít.
Xã Hướng Tân, huyện Hướng Hóa có 9.748 người; số thuê bao Internet trên 100 dân đạt 103,97.
Phường Phúc Xá, Phường Trúc Bạch, Thị trấn Khe Sanh, tỉnh Lạng Sơn, tỉnh Hà Tĩnh.
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM - Độc lập - Tự do - Hạnh phúc
"""
SHORT_CSV = 'ma_xa,ten_xa,dan_so,dien_tich\n00001,Phường Phúc Xá,9.748,"0,94"\n00004,Phường Trúc Bạch,8.019,"0,54"\n00006,Xã Tân Phước,12.345,"103,97"\n'

# How the standards' sample sentences look when their bytes are shown as Windows-1252.
SAMPLES = [
    ("tcvn3", "Céng hßa x· héi chñ nghÜa ViÖt Nam", "Cộng hòa xã hội chủ nghĩa Việt Nam"),
    ("tcvn3", "§éc lËp - Tù do - H¹nh phóc", "Độc lập - Tự do - Hạnh phúc"),
    ("tcvn3", "Tæng sè", "Tổng số"),
    ("tcvn3", "Gi¸ (®ång)", "Giá (đồng)"),
    ("vni", "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam", "Cộng hòa xã hội chủ nghĩa Việt Nam"),
    ("vni", "Ñoäc laäp - Töï do - Haïnh phuùc", "Độc lập - Tự do - Hạnh phúc"),
    ("vni", "Toång soá", "Tổng số"),
    ("vni", "Giaù (ñoàng)", "Giá (đồng)"),
]


@pytest.mark.parametrize(("encoding", "shown", "text"), SAMPLES)
def test_standard_samples_both_ways(encoding: str, shown: str, text: str) -> None:
    assert decode(shown.encode("cp1252"), encoding).text == text
    assert encode(text, encoding).decode("cp1252") == shown
    assert fix_text(shown) == (text, encoding)


@pytest.mark.parametrize("encoding", ["vni", "windows-1258"])
def test_every_letter_round_trips(encoding: str) -> None:
    for letter in LOWER + UPPER:
        assert decode(encode(letter, encoding), encoding).text == letter, letter


def test_tcvn3_letters_and_its_missing_capitals() -> None:
    """ABC fonts have Ă Â Ê Ô Ơ Ư Đ but no capital with a tone mark: those are typed with the lowercase
    code (shown in capitals by .VnTimeH) and come back as capitals only in a field typed in capitals."""
    for letter in [*LOWER, *"ĂÂÊÔƠƯĐ", *"AEIOUY"]:
        assert decode(encode(letter, "tcvn3"), "tcvn3").text == letter, letter
    toned_capitals = [c for c in UPPER if unicodedata.decomposition(c) and c not in "ĂÂÊÔƠƯĐ"]
    assert len(toned_capitals) == 60
    for capital in toned_capitals:
        assert encode(capital, "tcvn3") == encode(capital.lower(), "tcvn3")
        assert decode(encode(f"{capital}NH", "tcvn3"), "tcvn3").text == f"{capital}NH"
    assert decode(encode("Ấp Bắc", "tcvn3"), "tcvn3").text == "ấp Bắc"


@pytest.mark.skipif(shutil.which("iconv") is None, reason="needs glibc iconv")
def test_tcvn3_table_agrees_with_glibc() -> None:
    """glibc's TCVN5712-1 is the full TCVN 5712:1993 table: the same letters in 0xA0-0xFF. (0x80-0x9F
    hold capitals there that ABC software never wrote; ABC files have Windows-1252 punctuation.)"""
    positions = range(0xA0, 0x100)
    result = subprocess.run(
        ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"],
        input=b"\n".join(bytes([b]) for b in positions),
        capture_output=True,
    )
    if result.returncode != 0:
        pytest.skip("iconv has no TCVN5712-1")
    theirs = result.stdout.decode().split("\n")
    ours = [unicodedata.normalize("NFD", decode(bytes([b]), "tcvn3").text) for b in positions]
    assert ours == [unicodedata.normalize("NFD", t) for t in theirs]
    assert decode(b"\x93H\xb5 N\xe9i\x94 \x96 2024", "tcvn3").text == "“Hà Nội” – 2024"


@pytest.mark.parametrize("encoding", LEGACY)
def test_paragraph_round_trips_and_is_detected(encoding: str) -> None:
    data = encode(PARAGRAPH, encoding)
    decoded = decode(data)
    assert decoded.encoding == encoding
    assert decoded.confidence > 0.95
    assert decoded.scores[0][0] == encoding
    expected = PARAGRAPH.replace("Ủy", "ủy") if encoding == "tcvn3" else PARAGRAPH  # a lone capital: see above
    assert decoded.text == expected
    assert decode(data, encoding).text == expected


@pytest.mark.parametrize("encoding", LEGACY)
def test_short_csv_is_detected(encoding: str) -> None:
    decoded = decode(encode(SHORT_CSV, encoding))
    assert (decoded.encoding, decoded.text) == (encoding, SHORT_CSV)


@pytest.mark.parametrize("encoding", LEGACY)
def test_one_ambiguous_word_is_refused_not_guessed(encoding: str) -> None:
    data = encode("cơ", encoding)  # VNI "cô" is TCVN3 "cụ" and Windows-1258 "cô": all Vietnamese
    if encoding == "vni":
        with pytest.raises(EncodingError, match="too few words"):
            decode(data)
    assert decode(data, encoding).text == "cơ"


def test_abbreviations_and_numbers_are_not_evidence() -> None:
    decoded = decode(encode("Quyết định 1234/QĐ-UBND ngày 15 tháng 3 năm 2023 của HĐND", "tcvn3"))
    assert (decoded.encoding, decoded.confidence) == ("tcvn3", 1.0)
    assert decoded.text == "Quyết định 1234/QĐ-UBND ngày 15 tháng 3 năm 2023 của HĐND"


def test_windows_1258_is_written_decomposed_as_windows_does() -> None:
    assert encode("Việt á", "windows-1258") == b"Vi\xea\xf2t \xe1"  # ê + dot below; á exists precomposed
    decoded = decode(b"Vi\xea\xf2t Nam", "windows-1258")
    assert decoded.text == "Việt Nam" and unicodedata.is_normalized("NFC", decoded.text)


def test_unicode_forms() -> None:
    nfd = unicodedata.normalize("NFD", PARAGRAPH)
    decoded = decode(nfd.encode("utf-8"))
    assert (decoded.encoding, decoded.text) == ("utf-8", PARAGRAPH)
    assert any("NFC" in note for note in decoded.notes)
    bom = decode(b"\xef\xbb\xbf" + SHORT_CSV.encode("utf-8"))
    assert (bom.encoding, bom.text) == ("utf-8", SHORT_CSV)
    assert (decode(SHORT_CSV.encode("utf-16")).encoding, decode(SHORT_CSV.encode("utf-16")).text) == (
        "utf-16",
        SHORT_CSV,
    )
    assert decode(b"ma_xa,ten_xa\n1,Phuc Xa\n").encoding == "ascii"
    assert decode(SHORT_CSV.encode("utf-8"), "UTF8").text == SHORT_CSV


def test_utf8_file_of_legacy_font_text_is_repaired() -> None:
    """Excel 'CSV UTF-8' of a sheet typed in .VnTime: Unicode bytes, TCVN3 text."""
    shown = encode(PARAGRAPH, "tcvn3").decode("cp1252")
    decoded = decode(shown.encode("utf-8"))
    assert (decoded.encoding, decoded.repaired_from) == ("utf-8", "tcvn3")
    assert decoded.text == PARAGRAPH.replace("Ủy", "ủy")


def test_declared_encoding_is_checked() -> None:
    tcvn3 = encode(PARAGRAPH, "tcvn3")
    with pytest.raises(EncodingError, match=r"declared vni but .* read as Vietnamese in tcvn3 \(1\.00\)") as error:
        decode(tcvn3, "vni")
    assert {name for name, _ in error.value.scores} == {"vni", "tcvn3", "windows-1258"}
    with pytest.raises(EncodingError, match=r"declared tcvn3 but .* read as Vietnamese in utf-8"):
        decode(PARAGRAPH.encode("utf-8"), "tcvn3")
    with pytest.raises(EncodingError, match=r"declared utf-8 but not valid utf-8.*reads as Vietnamese in tcvn3"):
        decode(tcvn3, "utf-8")
    with pytest.raises(EncodingError, match="not valid ascii"):
        decode(tcvn3, "ascii")
    with pytest.raises(EncodingError, match="not defined in windows-1258"):
        decode(b"Gi\x81 c\xe1", "windows-1258")
    with pytest.raises(EncodingError, match="unknown encoding"):
        decode(tcvn3, "vntime-h2")
    assert decode(tcvn3, "TCVN3").text == decode(tcvn3, "ABC").text
    assert decode(encode(PARAGRAPH, "vni"), "VNI-Windows").encoding == "vni"
    assert decode(encode(PARAGRAPH, "cp1258"), "cp1258").encoding == "windows-1258"


def test_binary_and_foreign_text_are_refused_with_the_scores() -> None:
    rng = random.Random(7)
    with pytest.raises(EncodingError, match="binary"):
        decode(bytes(rng.randrange(256) for _ in range(400)))
    noise = bytes(rng.randrange(0x20, 0x100) for _ in range(400))
    french = "Le café est très bon à Paris, où l'été est chaud. Les élèves préfèrent la crème brûlée.".encode("latin-1")
    german = "Die Größe der Straße ist für Übungen geeignet. Schöne Grüße aus München.".encode("cp1252")
    for data in (noise, french, german):
        with pytest.raises(EncodingError, match=r"read as Vietnamese in no legacy encoding \(\w") as error:
            decode(data)
        assert sorted(name for name, _ in error.value.scores) == sorted(LEGACY)
        assert all(score < 0.7 for _, score in error.value.scores)


@pytest.mark.parametrize(
    ("shown", "fixed", "encoding"),
    [
        ("Hå ChÝ Minh", "Hồ Chí Minh", "tcvn3"),
        ("Tr\xadêng THPT NguyÔn HuÖ", "Trường THPT Nguyễn Huệ", "tcvn3"),  # ư is 0xAD, the soft hyphen
        ("UBND x· Gio Linh", "UBND xã Gio Linh", "tcvn3"),
        ("PH¦êNG PHóC X¸", "PHƯỜNG PHÚC XÁ", "tcvn3"),  # typed for .VnTimeH: capitals restored
        ("Ñoäc laäp", "Độc lập", "vni"),
        ("Thaønh phoá Hoà Chí Minh", "Thành phố Hồ Chí Minh", "vni"),
    ],
)
def test_fix_text_repairs_legacy_font_cells(shown: str, fixed: str, encoding: str) -> None:
    assert fix_text(shown) == (fixed, encoding)


@pytest.mark.parametrize(
    "cell",
    ["Tổng số", "Hà Nội", "Cà Mau", "Tây Ninh", "Tên xã", "café", "Café au lait", "naïve résumé", "Müller",
     "São Paulo", "Revenue – 2024", "“Quoted” text", "Hello world", "sè", ""],
)  # fmt: skip
def test_fix_text_leaves_good_text_alone(cell: str) -> None:
    assert fix_text(cell) == (cell, None)


def test_fix_text_reads_latin_1_shown_cells_too() -> None:
    shown = encode("“Tổng số” – Hà Nội", "tcvn3").decode("latin-1")  # C1 controls where 1252 has quotes
    assert fix_text(shown) == ("“Tổng số” – Hà Nội", "tcvn3")


def test_fix_text_composes_nfd() -> None:
    assert fix_text(unicodedata.normalize("NFD", "Hà Nội")) == ("Hà Nội", None)


def test_fix_cells_uses_the_sheet_encoding_for_short_cells() -> None:
    cells = [encode(t, "tcvn3").decode("cp1252") for t in ("Tổng số", "Số", "Hà Nội", "Phường Phúc Xá")]
    assert cells[1] == "Sè"  # alone it is a valid word, so fix_text leaves it
    assert fix_text(cells[1]) == ("Sè", None)
    assert fix_cells(cells) == (["Tổng số", "Số", "Hà Nội", "Phường Phúc Xá"], "tcvn3")
    unicode_sheet = ["Tổng số", "Sè", "Hà Nội", "Đồng"]
    assert fix_cells(unicode_sheet) == (unicode_sheet, None)


def test_encode_refuses_what_the_encoding_lacks() -> None:
    for encoding in LEGACY:
        with pytest.raises(EncodingError, match="no code for"):
            encode("Bắc Kinh 北京", encoding)
        assert encode("Kinh 北京", encoding, errors="replace") == b"Kinh ??"
    assert encode("Giá – “tốt”", "vni").decode("cp1252") == "Giaù – “toát”"


@pytest.mark.parametrize(
    ("word", "valid"),
    [("nghĩa", True), ("Quỳnh", True), ("NGƯỜI", True), ("khuya", True), ("xoong", True), ("Đắk", True),
     ("ngia", False), ("kan", False), ("cem", False), ("hòc", False), ("ViÖt", False), ("café", False), ("ăn", True),
     ("ă", False), ("hoà", True), ("hòa", True)],
)  # fmt: skip
def test_vietnamese_words(word: str, valid: bool) -> None:
    assert is_vietnamese_word(word) is valid


def test_large_file_is_sampled_and_fast() -> None:
    data = encode(SHORT_CSV.split("\n", 1)[1] * 4_000, "vni")
    assert len(data) > SAMPLE_BYTES
    started = time.perf_counter()
    decoded = decode(data)
    assert decoded.encoding == "vni" and decoded.text.count("Phường Trúc Bạch") == 4_000
    assert time.perf_counter() - started < 5  # about 0.6 s here: a guard against pathological slowness
