"""Character sets a synthetic study can declare, and whether a text fits one.

Specific Character Set (0008,0005) is defined in PS3.3 C.12.1.1.2; its encoding rules are PS3.5 6.1 (single-byte
sets, ISO/IEC 2022 code extensions, UTF-8, GB18030) and the Person Name examples are PS3.5 Annex H (Japanese),
Annex I (Korean) and Annex J (Chinese).

Each entry of :data:`CHARSETS` is keyed by a short name usable on the command line. ``fits(text, charset)`` accepts
either such a short name or a Specific Character Set value as found in a dataset (a string, or a sequence of
Defined Terms, the first of which may be empty).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydicom.charset import convert_encodings, encode_string
from pydicom.valuerep import PersonName

#: Control characters a text may carry whatever the character set (PS3.5 6.1.3: LF, FF, CR; TAB in text VRs).
_CONTROL_OK = frozenset("\n\f\r\t")


@dataclass(frozen=True)
class CharsetSpec:
    """One declared character set: its Defined Terms (PS3.3 Table C.12-2..C.12-5) and the faker locales it suits.

    ``terms`` is the value of Specific Character Set as a tuple of Defined Terms; ``()`` means the default
    repertoire (ISO-IR 6), for which the attribute is absent. ``institution`` and ``study_description`` are sample
    texts in the repertoire, for Long String attributes.
    """

    name: str
    terms: tuple[str, ...]
    locales: tuple[str, ...]
    description: str
    institution: str
    study_description: str

    @property
    def value(self) -> str | list[str]:
        """The value to assign to ``ds.SpecificCharacterSet``: one string, a list for several values, or ``""``
        for the default repertoire (then the attribute should be left out: Type 1C, PS3.3 C.12.1)."""
        if not self.terms:
            return ""
        return self.terms[0] if len(self.terms) == 1 else list(self.terms)


CHARSETS: dict[str, CharsetSpec] = {
    spec.name: spec
    for spec in (
        CharsetSpec("default", (), ("en_US",), "Default repertoire, ISO-IR 6 (ASCII); attribute absent",
                    "Riverside General Hospital", "CT Chest with contrast"),
        CharsetSpec("latin1", ("ISO_IR 100",),
                    ("de_DE", "fr_FR", "es_ES", "it_IT", "pt_PT", "nl_NL", "sv_SE", "da_DK"),
                    "Latin alphabet No. 1 (ISO 8859-1)", "Städtisches Klinikum München", "Thorax-CT, Übersicht"),
        CharsetSpec("utf8", ("ISO_IR 192",),
                    ("en_US", "de_DE", "fr_FR", "pl_PL", "cs_CZ", "tr_TR", "ru_RU", "el_GR", "ja_JP", "ko_KR",
                     "zh_CN"),
                    "Unicode in UTF-8", "Szpital Łódź · 総合病院 · Больница", "Tomografia klatki piersiowej"),
        CharsetSpec("japanese", ("", "ISO 2022 IR 87"), ("ja_JP",),
                    "JIS X 0208 (kanji, hiragana, katakana) by ISO 2022 escapes; PS3.5 Annex H",
                    "東京総合病院", "胸部CT検査"),
        CharsetSpec("korean", ("", "ISO 2022 IR 149"), ("ko_KR",),
                    "KS X 1001 (Hangul and Hanja) in G1 by ISO 2022 escapes; PS3.5 Annex I",
                    "서울대학교병원", "흉부 CT 검사"),
        CharsetSpec("chinese", ("GB18030",), ("zh_CN",), "GB 18030; PS3.5 Annex J",
                    "北京协和医院", "胸部CT检查"),
        CharsetSpec("cyrillic", ("ISO_IR 144",), ("ru_RU",), "Latin/Cyrillic (ISO 8859-5)",
                    "Городская клиническая больница", "КТ грудной клетки"),
        CharsetSpec("greek", ("ISO_IR 126",), ("el_GR",), "Latin/Greek (ISO 8859-7)",
                    "Γενικό Νοσοκομείο Αθηνών", "Αξονική τομογραφία θώρακα"),
    )
}


def charset_spec(name: str) -> CharsetSpec:
    """The :data:`CHARSETS` entry called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return CHARSETS[name]
    except KeyError:
        raise ValueError(f"unknown character set {name!r}; known: {', '.join(CHARSETS)}") from None


# --- repertoires per Defined Term -----------------------------------------------------------------------------


def _single_byte(codec: str) -> Callable[[str], bool]:
    """The G1 (right-hand, 0xA0-0xFF) half of an ISO 8859 part; C1 controls (0x80-0x9F) are not characters."""

    def check(char: str) -> bool:
        try:
            encoded = char.encode(codec)
        except UnicodeEncodeError:
            return False
        return len(encoded) == 1 and encoded[0] >= 0xA0

    return check


def _jis_x_0208(char: str) -> bool:
    try:
        encoded = char.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return encoded.startswith(b"\x1b$B") and len(encoded) == 3 + 2 + 3


def _jis_x_0212(char: str) -> bool:
    try:
        encoded = char.encode("euc_jp")
    except UnicodeEncodeError:
        return False
    return len(encoded) == 3 and encoded[0] == 0x8F


def _jis_x_0201_katakana(char: str) -> bool:
    try:
        encoded = char.encode("shift_jis")
    except UnicodeEncodeError:
        return False
    return len(encoded) == 1 and 0xA1 <= encoded[0] <= 0xDF


def _double_byte_gr(codec: str) -> Callable[[str], bool]:
    """A 94x94 set invoked in GR (KS X 1001, GB 2312): exactly two bytes, both 0xA1-0xFE."""

    def check(char: str) -> bool:
        try:
            encoded = char.encode(codec)
        except UnicodeEncodeError:
            return False
        return len(encoded) == 2 and all(0xA1 <= b <= 0xFE for b in encoded)

    return check


def _encodable(codec: str) -> Callable[[str], bool]:
    def check(char: str) -> bool:
        try:
            char.encode(codec)
        except UnicodeEncodeError:
            return False
        return True

    return check


_ISO_8859 = {"100": "latin_1", "101": "iso8859_2", "109": "iso8859_3", "110": "iso8859_4", "126": "iso8859_7",
             "127": "iso8859_6", "138": "iso8859_8", "144": "iso8859_5", "148": "iso8859_9", "166": "iso8859_11",
             "203": "iso8859_15"}

#: Extra characters each Defined Term adds to ISO 646 (the G0 set every term except the stand-alone ones keeps).
_REPERTOIRES: dict[str, Callable[[str], bool]] = {
    "ISO 2022 IR 87": _jis_x_0208,
    "ISO 2022 IR 159": _jis_x_0212,
    "ISO_IR 13": _jis_x_0201_katakana,
    "ISO 2022 IR 13": _jis_x_0201_katakana,
    "ISO 2022 IR 149": _double_byte_gr("euc_kr"),
    "ISO 2022 IR 58": _double_byte_gr("gb2312"),
    "ISO_IR 192": _encodable("utf-8"),
    "GB18030": _encodable("gb18030"),
    "GBK": _encodable("gbk"),
}
for _number, _codec in _ISO_8859.items():
    _REPERTOIRES[f"ISO_IR {_number}"] = _single_byte(_codec)
    _REPERTOIRES[f"ISO 2022 IR {_number}"] = _single_byte(_codec)
_DEFAULT_TERMS = frozenset({"", "ISO_IR 6", "ISO 2022 IR 6"})


def _terms(charset: str | Sequence[str] | CharsetSpec) -> tuple[str, ...]:
    if isinstance(charset, CharsetSpec):
        return charset.terms
    if isinstance(charset, str):
        if charset in CHARSETS:
            return CHARSETS[charset].terms
        return tuple(term.strip() for term in charset.split("\\"))
    return tuple(str(term).strip() for term in charset)


@lru_cache(maxsize=65536)
def _char_fits(char: str, terms: tuple[str, ...]) -> bool:
    if char in _CONTROL_OK or " " <= char <= "~":
        return True
    if unicodedata.category(char) == "Cc":  # C0, DEL and C1 controls are never text
        return False
    return any(term not in _DEFAULT_TERMS and _REPERTOIRES[term](char) for term in terms)


def fits(text: str, charset: str | Sequence[str] | CharsetSpec) -> bool:
    """Whether every character of ``text`` is in the repertoire of ``charset`` (PS3.5 6.1).

    ``charset`` is a short name from :data:`CHARSETS`, a :class:`CharsetSpec`, or a Specific Character Set value
    (``"ISO_IR 100"``, ``"\\ISO 2022 IR 87"`` or ``["", "ISO 2022 IR 87"]``); ``""``/``[]`` is the default
    repertoire. ISO 646 printable characters and LF, FF, CR, TAB always fit; ESC and other controls never do
    (escape sequences belong to the encoding, not the text). ``ValueError`` for a Defined Term this module does not
    know, since it cannot tell.
    """
    terms = _terms(charset)
    unknown = [term for term in terms if term not in _DEFAULT_TERMS and term not in _REPERTOIRES]
    if unknown:
        raise ValueError(f"unknown Specific Character Set term(s) {unknown!r}")
    return all(_char_fits(char, terms) for char in text)


def unfit_characters(text: str, charset: str | Sequence[str] | CharsetSpec) -> list[str]:
    """The distinct characters of ``text`` outside ``charset``'s repertoire, in order of appearance."""
    seen: list[str] = []
    for char in text:
        if char not in seen and not fits(char, charset):
            seen.append(char)
    return seen


def encode(text: str, charset: str | Sequence[str] | CharsetSpec, *, person_name: bool = False) -> bytes:
    """``text`` as pydicom stores it under ``charset`` (escape sequences included for ISO 2022 sets); a Person
    Name is encoded group by group and component by component (PS3.5 6.2.1, Annex H). ``ValueError`` when the text
    does not fit."""
    if not fits(text, charset):
        raise ValueError(f"{text!r} does not fit character set {charset!r}: {unfit_characters(text, charset)}")
    terms = list(_terms(charset)) or [""]
    encodings = convert_encodings(terms)
    if person_name:
        return bytes(PersonName(text).encode(encodings))
    return bytes(encode_string(text, encodings))


def safe_value(text: str, charset: str | Sequence[str] | CharsetSpec, *, max_bytes: int = 64,
               person_name: bool = False) -> bool:
    """Whether ``text`` fits ``charset`` and its encoding is at most ``max_bytes`` long without a 05/12 byte.

    Inside a JIS X 0208 (or GB18030) character a byte may be 0x5C; PS3.5 6.1.2.3 makes only the single-byte
    05/12 a delimiter, but dciodvfy and naive readers split values there, and dciodvfy counts a Person Name's
    length over all its bytes, escape sequences included. Synthetic values avoid both.
    """
    if not fits(text, charset):
        return False
    encoded = encode(text, charset, person_name=person_name)
    return len(encoded) <= max_bytes and b"\\" not in encoded
