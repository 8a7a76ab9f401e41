"""UID syntax (PS3.5 9.1) and deterministic derivation."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from simulator.synth.uids import derive_uid, is_valid_uid

components = st.integers(min_value=0, max_value=10**12).map(str)
uids = st.lists(components, min_size=1, max_size=12).map(".".join).filter(lambda u: len(u) <= 64)


@given(uids)
def test_dotted_decimal_without_leading_zeros_is_valid(uid: str) -> None:
    assert is_valid_uid(uid)


@given(uids, st.data())
def test_leading_zero_in_a_component_is_invalid(uid: str, data: st.DataObject) -> None:
    parts = uid.split(".")
    index = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    parts[index] = "0" + parts[index]
    candidate = ".".join(parts)
    assume(len(candidate) <= 64)
    assert not is_valid_uid(candidate)


@given(uids, st.data(), st.characters(blacklist_categories=["Nd"], blacklist_characters="."))
def test_any_non_digit_character_is_invalid(uid: str, data: st.DataObject, char: str) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(uid)))
    candidate = uid[:position] + char + uid[position:]
    assume(len(candidate) <= 64)
    assert not is_valid_uid(candidate)


@given(st.text(alphabet="0123456789", min_size=1, max_size=3).filter(lambda d: not d.startswith("0") or d == "0"))
def test_non_ascii_digits_are_invalid(prefix: str) -> None:
    assert is_valid_uid(prefix)
    assert not is_valid_uid(prefix + ".\u0661\u0662")  # Arabic-Indic digits satisfy str.isdigit()
    assert not is_valid_uid(prefix + ".\u00b2")  # superscript two, too


@given(st.integers(min_value=65, max_value=200))
def test_longer_than_64_chars_is_invalid(length: int) -> None:
    uid = "1." + "2" * (length - 2)
    assert len(uid) == length
    assert not is_valid_uid(uid)


def test_boundaries() -> None:
    assert is_valid_uid("1." + "2" * 62)  # exactly 64
    assert not is_valid_uid("")
    assert not is_valid_uid(".1")
    assert not is_valid_uid("1.")
    assert not is_valid_uid("1..2")
    assert is_valid_uid("0")
    assert is_valid_uid("1.0.2")


parts_lists = st.lists(st.one_of(st.integers(), st.text(max_size=20)), min_size=1, max_size=5)


@given(parts_lists)
def test_derived_uids_are_valid(parts: list[object]) -> None:
    uid = derive_uid(*parts)
    assert is_valid_uid(uid)
    assert len(uid) <= 64


def test_derived_uids_are_stable() -> None:
    assert derive_uid(7, "study") == derive_uid(7, "study")
    assert derive_uid(7, "instance", 0, 3) == derive_uid(7, "instance", 0, 3)


def test_derived_uids_do_not_collide_across_part_boundaries() -> None:
    # Guards the fix: joining parts without a separator would make (1, 12) and (11, 2) the same entropy.
    assert derive_uid(7, "instance", 1, 12) != derive_uid(7, "instance", 11, 2)
    assert derive_uid(7, "instance", 2, 1) != derive_uid(7, "instance", 21)


def test_derived_uids_differ_by_part() -> None:
    assert derive_uid(1, "series", 0) != derive_uid(1, "series", 1)
    assert derive_uid(1, "study") != derive_uid(2, "study")
