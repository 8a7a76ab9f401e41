"""Patients: determinism, names in their declared character set, Person Name component groups (PS3.5 6.2.1)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from faker.providers.person.ja_JP import Provider as JapaneseNames
from faker.providers.person.ko_KR import Provider as KoreanNames
from faker.providers.person.zh_CN import Provider as ChineseNames

from simulator.synth.charsets import CHARSETS, encode, fits, safe_value
from simulator.synth.patients import _PINYIN, Patient, make_patient, romanize_hangul

SEEDS = range(40)


@pytest.mark.parametrize("charset", list(CHARSETS))
def test_patients_are_deterministic_and_fit_their_charset(charset: str) -> None:
    patients = [make_patient(seed, charset=charset) for seed in SEEDS]
    assert patients == [make_patient(seed, charset=charset) for seed in SEEDS]
    assert len({p.name for p in patients}) > len(patients) // 2  # seeds give different people
    spec = CHARSETS[charset]
    for patient in patients:
        assert patient.specific_character_set == spec.value
        assert patient.locale in spec.locales
        assert fits(patient.name, charset) and fits(patient.name, patient.specific_character_set)
        assert patient.dicom_name == patient.name
        encoded = encode(patient.name, charset, person_name=True)
        assert len(encoded) <= 64 and b"\\" not in encoded  # what dciodvfy checks (see charsets.safe_value)
        assert safe_value(patient.name, patient.specific_character_set, person_name=True)
        groups = patient.name.split("=")
        assert 1 <= len(groups) <= 3 and all(len(g) <= 64 for g in groups)
        assert all(len(g.split("^")) <= 5 for g in groups)
        assert dt.date(1935, 1, 1) < patient.birth_date < dt.date(2008, 1, 2)
        assert patient.sex in {"M", "F"}


def test_charsets_other_than_the_default_need_more_than_ascii() -> None:
    for charset in CHARSETS:
        if charset == "default":
            continue
        names = " ".join(make_patient(seed, charset=charset).name for seed in SEEDS)
        assert not fits(names, "default"), charset


def test_utf8_patients_span_several_scripts() -> None:
    locales = {make_patient(seed, charset="utf8").locale for seed in range(60)}
    assert {"ja_JP", "ru_RU", "zh_CN"} & locales and len(locales) >= 6


def test_japanese_name_has_romaji_kanji_and_kana_groups_from_one_faker_pair() -> None:
    family_pairs = {kanji: (kana, roman) for (kanji, kana, roman) in JapaneseNames.last_name_pairs}
    given_pairs = {kanji: (kana, roman) for (kanji, kana, roman) in JapaneseNames.first_name_pairs}
    for seed in SEEDS:
        p = make_patient(seed, charset="japanese")
        alphabetic, ideographic, phonetic = p.name.split("=")
        assert alphabetic == f"{p.family_name}^{p.given_name}" and alphabetic.isascii()
        assert ideographic == f"{p.ideographic_family}^{p.ideographic_given}"
        assert phonetic == f"{p.phonetic_family}^{p.phonetic_given}"
        assert family_pairs[p.ideographic_family] == (p.phonetic_family, p.family_name)
        assert given_pairs[p.ideographic_given] == (p.phonetic_given, p.given_name)


def test_korean_name_is_romanized_hangul_with_no_guessed_hanja() -> None:
    for seed in SEEDS:
        p = make_patient(seed, charset="korean")
        alphabetic, ideographic, phonetic = p.name.split("=")
        assert ideographic == ""
        assert phonetic == f"{p.phonetic_family}^{p.phonetic_given}"
        assert alphabetic.isascii() and alphabetic == f"{p.family_name}^{p.given_name}"
        assert p.given_name == romanize_hangul(p.phonetic_given)


@pytest.mark.parametrize(("hangul", "roman"), [("길동", "Gildong"), ("민지", "Minji"), ("서연", "Seoyeon"),
                                               ("영철", "Yeongcheol"), ("재훈", "Jaehun"), ("혜진", "Hyejin")])
def test_revised_romanization(hangul: str, roman: str) -> None:
    assert romanize_hangul(hangul) == roman


def test_every_korean_faker_name_is_in_ks_x_1001() -> None:
    for name in list(KoreanNames.first_names) + list(KoreanNames.last_names):
        assert fits(name, "korean"), name


def test_chinese_name_is_pinyin_and_hanzi() -> None:
    for seed in SEEDS:
        p = make_patient(seed, charset="chinese")
        alphabetic, ideographic = p.name.split("=")
        assert alphabetic.isascii() and ideographic == f"{p.ideographic_family}^{p.ideographic_given}"
        assert p.family_name.lower() == _PINYIN[p.ideographic_family]
    assert make_patient(0, charset="chinese") != make_patient(1, charset="chinese")


def test_pinyin_covers_every_given_name_character_faker_uses() -> None:
    missing = {c for name in ChineseNames.first_names for c in name} - set(_PINYIN)
    assert not missing


def test_russian_patronymic_is_the_middle_name() -> None:
    p = make_patient(1, charset="cyrillic")
    assert p.middle_name and p.name == f"{p.family_name}^{p.given_name}^{p.middle_name}"
    assert p.middle_name.endswith(("вич", "вна", "ич", "чна"))


def test_default_path_is_unchanged_and_the_charset_name_may_be_positional() -> None:
    p = make_patient(3)
    assert p.locale == "en_US" and p.specific_character_set == "ISO_IR 192" and "=" not in p.name
    assert make_patient(3, "japanese") == make_patient(3, charset="japanese")
    assert make_patient(3, "ja_JP").name == make_patient(3, charset="japanese").name  # UTF-8, same groups
    assert make_patient(3, "de_DE", charset="latin1").locale == "de_DE"
    assert make_patient(3, charset="default").specific_character_set == ""


def test_a_locale_that_cannot_fit_the_charset_is_refused() -> None:
    with pytest.raises(ValueError, match="fits"):
        make_patient(1, "ru_RU", charset="latin1")
    with pytest.raises(ValueError, match="unknown character set"):
        make_patient(1, charset="klingon")


def test_positional_construction_still_works_and_patients_hash() -> None:
    p = Patient("P001", "Doe", "John", dt.date(1970, 1, 1), "M")
    assert p.dicom_name == "Doe^John" and p.specific_character_set == "ISO_IR 192"
    q = dataclasses.replace(make_patient(2, charset="japanese"))
    assert hash(q) == hash(make_patient(2, charset="japanese"))
    assert Patient("P", "Yamada", "Tarou", dt.date(1970, 1, 1), "M", ideographic_family="山田",
                   ideographic_given="太郎", phonetic_family="やまだ",
                   phonetic_given="たろう").name == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert Patient("P", "Kim", "Minji", dt.date(1970, 1, 1), "F", phonetic_family="김",
                   phonetic_given="민지").name == "Kim^Minji==김^민지"
