"""Charset labels as mail clients read them, and a guess for text that names none.

Senders label text with the narrow standard charset and write the wider one their system
uses: "GB2312" holding GBK characters, "Shift_JIS" holding Windows' NEC and IBM extensions,
"ISO-8859-1" holding curly quotes from windows-1252. Mail clients and browsers (the WHATWG
Encoding Standard) therefore decode each label with its superset; so do we, and fall back to
the label itself. Raw 8-bit text with no label at all is guessed with charset-normalizer
among the charsets mail is written in.
"""

from __future__ import annotations

import codecs
import re

# label -> the codecs to try, widest first (the label itself is tried after them)
_SUPERSETS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "csgb2312", "gb_2312-80",
                     "chinese", "x-euc-cn", "windows-936"), ("gb18030",)),
    **dict.fromkeys(("big5", "x-x-big5", "big-5", "cn-big5", "csbig5", "x-big5"),
                    ("big5hkscs", "cp950")),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis",
                     "windows-31j", "x-ms-cp932"), ("cp932", "shift_jis_2004")),
    **dict.fromkeys(("euc-jp", "x-euc-jp", "cseucpkdfmtjapanese"), ("euc_jis_2004", "cp932")),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp", "iso-2022-jp-1"),
                    ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004")),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601", "korean",
                     "csksc56011987", "iso-ir-149", "windows-949"), ("cp949",)),
    **dict.fromkeys(("iso-8859-1", "latin1", "latin-1", "l1", "iso8859-1", "iso_8859-1",
                     "cp819"), ("cp1252",)),
    # 8-bit text labelled ASCII is, in mail, mostly UTF-8 sent by a careless program
    **dict.fromkeys(("us-ascii", "ascii", "ansi_x3.4-1968", "us"), ("utf-8", "cp1252")),
    **dict.fromkeys(("iso-8859-9", "latin5", "iso8859-9"), ("cp1254",)),
    **dict.fromkeys(("iso-8859-11", "tis-620", "windows-874"), ("cp874",)),
    "iso-8859-8-i": ("iso8859_8",),
    "iso-8859-6-i": ("iso8859_6",),
    "koi8-r": ("koi8_u",),
    "unicode-1-1-utf-7": ("utf-7",),
    "utf8": ("utf-8",),
}
# What charset-normalizer may answer for unlabelled 8-bit text: the charsets mail is written in.
# (Raw 8-bit Greek, Hebrew or Arabic headers are rare, and short samples mistake CJK for them.)
_MAIL_CHARSETS = ["utf_8", "gb18030", "big5hkscs", "cp932", "euc_jis_2004", "cp949", "koi8_u",
                  "cp1251", "cp1252", "cp1250"]
_CJK = {"gb18030", "big5hkscs", "cp932", "euc_jis_2004", "cp949"}
_JIS_MODES = (b"(B", b"(J", b"(I", b"$B", b"$@")
_ISO_2022 = re.compile(rb"\x1b[$(][@ABDIJ]")
_LANGUAGE = re.compile(r"\*.*$")  # RFC 2231 `utf-8*en`


def codecs_for(label: str | None) -> list[str]:
    """The Python codecs to try for a charset label, widest first; empty when none is known."""
    name = _LANGUAGE.sub("", (label or "").strip().strip("\"'").lower())
    found = []
    for candidate in (*_SUPERSETS.get(name, ()), name):
        try:
            found.append(codecs.lookup(candidate).name)
        except LookupError:
            continue
    return list(dict.fromkeys(found))


def decode_as(data: bytes, label: str | None) -> str | None:
    """`data` read as `label` says (through its superset), or None when it cannot be."""
    found = codecs_for(label)
    for codec in found:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return _jis_as_cp932(data) if "iso2022_jp_2" in found else None


def _jis_as_cp932(data: bytes) -> str | None:
    """ISO-2022-JP as Windows writes it (CP50220: NEC circled digits, ㈱), which no Python
    codec reads: each JIS X 0208 pair is moved to its Shift_JIS place and read as cp932."""
    out, mode, index = bytearray(), b"(B", 0
    while index < len(data):
        if data[index] == 0x1B:
            mode, index = data[index + 1:index + 3], index + 3
            if mode not in _JIS_MODES:
                return None
        elif mode in (b"$B", b"$@") and data[index] > 0x20 and index + 1 < len(data):
            out += _sjis_pair(data[index], data[index + 1])
            index += 2
        else:
            out.append(data[index] | 0x80 if mode == b"(I" else data[index])
            index += 1
    try:
        return out.decode("cp932")
    except UnicodeDecodeError:
        return None


def _sjis_pair(first: int, second: int) -> bytes:
    lead = ((first + 1) >> 1) + (0x70 if first <= 0x5E else 0xB0)
    if first % 2:
        return bytes((lead, second + (0x1F if second <= 0x5F else 0x20)))
    return bytes((lead, second + 0x7E))


def is_iso_2022(data: bytes) -> bool:
    """7-bit text that switches to a Japanese, Chinese or Korean set with escapes."""
    return _ISO_2022.search(data) is not None


def guess(data: bytes) -> str:
    """The codec most likely to have written `data`, which is 8-bit and names no charset."""
    if is_iso_2022(data) and decode_as(data, "iso-2022-jp") is not None:
        return codecs_for("iso-2022-jp")[0]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes  # noqa: PLC0415  (loaded only for unlabelled 8-bit mail)

    results = list(from_bytes(data, cp_isolation=_MAIL_CHARSETS))
    if not results:
        return "cp1252"
    if results[0].encoding in _CJK:  # a few ideographs read "fine" in every CJK charset
        return str(max(results, key=lambda r: _frequent(str(r), r.language)).encoding)
    return str(results[0].encoding)


def _frequent(text: str, language: str) -> int:
    """How many characters of `text` are among the most frequent of `language`."""
    from charset_normalizer.constant import FREQUENCIES  # noqa: PLC0415  (as in `guess`)

    common = set(FREQUENCIES.get(language, ()))
    return sum(char in common for char in text)
