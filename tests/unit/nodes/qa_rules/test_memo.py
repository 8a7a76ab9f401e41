"""The checks remember what they found for an element still in its received form, keyed by everything that
decides it: the same bytes under another character set are judged again, and the verdicts never change."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.tag import Tag

from simulator.nodes.qa import rules
from simulator.nodes.qa.rules import BAD_CHARSET, TOO_LONG, CharsetValid, VrLength
from simulator.nodes.qa.ruleset import RuleSet
from simulator.synth import DEFECTS, apply_defect, build_ct_study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _received(ds: Dataset) -> Dataset:
    """``ds`` as a QA node receives it: parsed from Explicit VR Little Endian bytes, every element still raw."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return read_dataset(BytesIO(buffer.getvalue()), is_implicit_VR=False, is_little_endian=True)


def _with_name(charset: str | None, raw_name: bytes) -> Dataset:
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.PatientID = "P1"
    received = _received(ds)
    received[0x00100010] = RawDataElement(Tag(0x00100010), "PN", len(raw_name), raw_name, 0, False, True)
    return received


@pytest.fixture(autouse=True)
def empty_memo() -> None:
    rules._MEMO.clear()


@pytest.mark.parametrize("valid_first", [True, False])
def test_the_same_bytes_are_judged_per_character_set(valid_first: bool) -> None:
    utf8 = "Müller^Jürgen".encode()
    valid, invalid = _with_name("ISO_IR 192", utf8), _with_name(None, utf8)  # default repertoire: no 0xC3 bytes
    order = [valid, invalid] if valid_first else [invalid, valid]
    found = [[v.status for v in CharsetValid().check(ds)] for ds in order]
    assert found == ([[], [BAD_CHARSET]] if valid_first else [[BAD_CHARSET], []])


@pytest.mark.parametrize("short_first", [True, False])
def test_lengths_count_characters_of_the_declared_character_set(short_first: bool) -> None:
    raw = ("Ü" * 40).encode()  # 40 characters in UTF-8, 80 bytes: 80 characters read as Latin-1
    utf8, latin1 = _with_name("ISO_IR 192", raw), _with_name("ISO_IR 100", raw)
    order = [utf8, latin1] if short_first else [latin1, utf8]
    found = [[(v.keyword, v.status) for v in VrLength().check(ds)] for ds in order]
    too_long = [("PatientName", TOO_LONG)]
    assert found == ([[], too_long] if short_first else [too_long, []])


def test_verdicts_are_the_same_with_and_without_the_memo() -> None:
    ruleset = RuleSet.default()
    received: list[Dataset] = []
    for index, defect in enumerate(sorted(DEFECTS)):
        study = build_ct_study(60 + index, series=1, instances=2, rows=8, columns=8)
        apply_defect(study.datasets, defect)
        received.extend(ds for ds in study.datasets if getattr(ds, "file_meta", None) is not None)

    def verdicts() -> list[tuple[int, tuple[tuple[str, str, int], ...]]]:
        out = []
        for ds in received:
            verdict = ruleset.evaluate(_received(ds), transfer_syntax="1.2.840.10008.1.2.1")
            out.append((verdict.status, tuple((v.rule, v.keyword, v.status) for v in verdict.violations)))
        return out

    cold = verdicts()  # fills the memo
    warm = verdicts()  # answered from it
    rules._MEMO.limit = 0  # emptied before every store: nothing is ever answered from it
    try:
        uncached = verdicts()
    finally:
        rules._MEMO.limit = 50_000
    assert cold == warm == uncached
    assert any(status != 0 for status, _ in cold)  # the defects were seen
