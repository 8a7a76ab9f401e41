"""Character sets: pydicom round trips for every declared set, escape sequences, and the repertoire check."""

from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage
from pydicom.valuerep import PersonName

from simulator.synth.charsets import CHARSETS, CharsetSpec, charset_spec, encode, fits, safe_value, unfit_characters
from simulator.synth.patients import make_patient


def _round_trip(spec: CharsetSpec, name: str) -> tuple[Dataset, bytes]:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    if spec.value:
        ds.SpecificCharacterSet = spec.value
    ds.PatientName = name
    ds.InstitutionName = spec.institution
    ds.StudyDescription = spec.study_description
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    raw = pydicom.dcmread(BytesIO(buf.getvalue()))
    raw_name = raw.get_item(0x00100010).value  # bytes as stored, before decoding
    assert isinstance(raw_name, bytes)
    return pydicom.dcmread(BytesIO(buf.getvalue())), raw_name


@pytest.mark.parametrize("name", list(CHARSETS))
def test_every_charset_round_trips_through_pydicom(name: str) -> None:
    spec = CHARSETS[name]
    for seed in range(5):
        patient = make_patient(seed, charset=name)
        back, _ = _round_trip(spec, patient.name)
        assert str(back.PatientName) == patient.name
        assert back.InstitutionName == spec.institution
        assert back.StudyDescription == spec.study_description
        if spec.value:
            assert back.SpecificCharacterSet == spec.value
        else:
            assert "SpecificCharacterSet" not in back


@pytest.mark.parametrize(("name", "escape"), [("japanese", b"\x1b$B"), ("korean", b"\x1b$)C")])
def test_iso_2022_sets_are_stored_with_escape_sequences(name: str, escape: bytes) -> None:
    patient = make_patient(1, charset=name)
    _, raw = _round_trip(CHARSETS[name], patient.name)
    assert escape in raw
    assert raw != patient.name.encode("utf-8")
    assert raw.startswith(patient.family_name.encode("ascii"))  # the alphabetic group stays ISO 646


def test_single_byte_sets_store_one_byte_per_character() -> None:
    for name, codec in [("latin1", "latin_1"), ("cyrillic", "iso8859_5"), ("greek", "iso8859_7")]:
        patient = make_patient(2, charset=name)
        _, raw = _round_trip(CHARSETS[name], patient.name)
        assert raw.rstrip(b" ") == patient.name.encode(codec)


def test_ps35_annex_examples_encode_byte_for_byte() -> None:
    """PS3.5 H.3.1 (Japanese), I.2 (Korean), J.3 (GB18030)."""
    japanese = PersonName("Yamada^Tarou=山田^太郎=やまだ^たろう").encode(convert_encodings(CHARSETS["japanese"].value))
    assert japanese == (b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B")
    korean = PersonName("Hong^Gildong=洪^吉洞=홍^길동").encode(convert_encodings(CHARSETS["korean"].value))
    assert korean == (b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf")
    chinese = PersonName("Wang^XiaoDong=王^小东").encode(convert_encodings(["GB18030"]))
    assert chinese == b"Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab"


def test_values_follow_ps33_c12112() -> None:
    assert CHARSETS["default"].value == ""
    assert CHARSETS["latin1"].value == "ISO_IR 100"
    assert CHARSETS["utf8"].value == "ISO_IR 192"
    assert CHARSETS["japanese"].value == ["", "ISO 2022 IR 87"]
    assert CHARSETS["korean"].value == ["", "ISO 2022 IR 149"]
    assert CHARSETS["chinese"].value == "GB18030"
    assert CHARSETS["cyrillic"].value == "ISO_IR 144"
    assert CHARSETS["greek"].value == "ISO_IR 126"


@pytest.mark.parametrize("name", list(CHARSETS))
def test_sample_texts_fit_their_charset(name: str) -> None:
    spec = CHARSETS[name]
    assert fits(spec.institution, spec) and fits(spec.study_description, name)
    assert safe_value(spec.institution, spec) and safe_value(spec.study_description, spec)  # LO, 64


@pytest.mark.parametrize(
    ("text", "charset", "expected"),
    [
        ("Smith^John", "default", True),
        ("Müller^Jürgen", "default", False),
        ("Müller^Jürgen", "latin1", True),
        ("Müller^Jürgen", "ISO_IR 100", True),
        ("Łukasz", "latin1", False),
        ("Łukasz", "utf8", True),
        ("\x85", "latin1", False),  # a C1 control, not a Latin-1 character
        ("Иванов", "cyrillic", True),
        ("Иванов", "greek", False),
        ("Παπαδόπουλος", "greek", True),
        ("Παπαδόπουλος", "cyrillic", False),
        ("山田^太郎=やまだ^たろう=ヤマダ", "japanese", True),
        ("山田^太郎", ["", "ISO 2022 IR 87"], True),
        ("山田^太郎", "\\ISO 2022 IR 87", True),
        ("ﾔﾏﾀﾞ", "japanese", False),  # half-width katakana is ISO-IR 13, not declared
        ("ﾔﾏﾀﾞ", ["ISO 2022 IR 13", "ISO 2022 IR 87"], True),
        ("홍^길동", "japanese", False),
        ("홍^길동=洪^吉洞", "korean", True),
        ("똠", "korean", False),  # a Hangul syllable outside the 2350 of KS X 1001
        ("王^小东", "chinese", True),
        ("王^小东", "korean", False),
        ("王^小东", "", False),
        ("tab\tand\r\nnewline", "default", True),
        ("esc\x1b", "utf8", False),
        ("nul\x00", "utf8", False),
    ],
)
def test_fits(text: str, charset: str | list[str], expected: bool) -> None:
    assert fits(text, charset) is expected


def test_unfit_characters_lists_the_offenders_once() -> None:
    assert unfit_characters("Łódź Łódź", "latin1") == ["Ł", "ź"]


def test_unknown_names_and_terms_are_refused() -> None:
    with pytest.raises(ValueError, match="known: default"):
        charset_spec("klingon")
    with pytest.raises(ValueError, match="ISO_IR 999"):
        fits("x", "ISO_IR 999")


def test_encode_matches_what_pydicom_writes_and_refuses_what_does_not_fit() -> None:
    assert encode("山田^太郎", "japanese", person_name=True) == b"\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"
    assert encode("Ärzte", "latin1") == b"\xc4rzte"
    assert encode("plain", "default") == b"plain"
    with pytest.raises(ValueError, match="does not fit"):
        encode("Ärzte", "default")


def test_safe_value_rejects_a_05_12_byte_inside_a_kanji_and_long_encodings() -> None:
    assert b"\\" in encode("山本", "japanese")  # 本 is JIS 0x4B5C
    assert fits("山本", "japanese") and not safe_value("山本", "japanese")
    assert not safe_value("あ" * 30, "japanese")  # 60 bytes plus 6 of escapes
    assert safe_value("あ" * 29, "japanese")
    assert not safe_value("Ł", "latin1")
