"""Synthetic patients from faker, reproducible from a seed, with names in the character set they declare.

A Person Name (PS3.5 6.2.1) has up to three component groups: alphabetic, ideographic and phonetic. Japanese
patients carry all three (romaji = kanji = katakana, PS3.5 Annex H), Korean patients the alphabetic and the Hangul
(phonetic) group (PS3.5 Annex I; see :func:`_korean`), Chinese patients pinyin and hanzi (PS3.5 Annex J); every other
locale a single alphabetic group in its own script.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from faker import Faker

from simulator.synth.charsets import CHARSETS, charset_spec, safe_value

#: Name parts: (family, given, middle) per component group.
_Group = tuple[str, str, str]


@dataclass(frozen=True)
class Patient:
    patient_id: str
    family_name: str
    given_name: str
    birth_date: dt.date
    sex: str  # "M", "F" or "O" (PS3.3 C.7.1.1)
    middle_name: str = ""
    ideographic_family: str = ""
    ideographic_given: str = ""
    phonetic_family: str = ""
    phonetic_given: str = ""
    #: Specific Character Set (0008,0005) as pydicom takes it: ``"ISO_IR 100"``, ``["", "ISO 2022 IR 87"]``, or
    #: ``""`` for the default repertoire (then the attribute is left out, PS3.3 C.12.1). Not hashed: may be a list.
    specific_character_set: str | list[str] = field(default="ISO_IR 192", hash=False)
    locale: str = "en_US"

    @property
    def name(self) -> str:
        """Person Name (PS3.5 6.2.1) with its component groups: ``alphabetic=ideographic=phonetic``.

        Trailing empty components and groups are left out; an empty group between two others stays ``==``.
        """
        groups = [
            _components(self.family_name, self.given_name, self.middle_name),
            _components(self.ideographic_family, self.ideographic_given),
            _components(self.phonetic_family, self.phonetic_given),
        ]
        while len(groups) > 1 and not groups[-1]:
            groups.pop()
        return "=".join(groups)

    @property
    def dicom_name(self) -> str:
        """The value for Patient's Name: the full Person Name, same as :attr:`name`."""
        return self.name


def normalized_person_name(value: object) -> str:
    """A Person Name without the trailing empty components and groups PS3.5 6.2.1 lets a sender omit, so that
    ``Yamada^Tarou=^=^`` and ``Yamada^Tarou`` compare equal."""
    groups = [group.rstrip("^") for group in ("" if value is None else str(value)).strip().split("=")]
    while len(groups) > 1 and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _components(*parts: str) -> str:
    items = list(parts)
    while items and not items[-1]:
        items.pop()
    return "^".join(items)


def make_patient(seed: int, locale: str | None = None, *, charset: str | None = None,
                 sex: str | None = None) -> Patient:
    """A patient whose every field follows from ``seed``.

    ``locale`` is a faker locale, or a short name from :data:`~simulator.synth.charsets.CHARSETS` (then taken as
    ``charset``). With ``charset`` the patient declares that character set and its name fits it; the locale, unless
    given as a faker locale, is drawn from the charset's locales. Without, the patient is ``en_US`` (or ``locale``)
    and declares UTF-8.
    """
    if locale in CHARSETS:
        charset, locale = locale, None
    if charset is None and locale is None:
        locale = "en_US"
    spec = charset_spec(charset or "utf8")
    rng = random.Random(f"patient-{seed}")
    if locale is None:
        locale = spec.locales[0] if len(spec.locales) == 1 else random.Random(f"locale-{charset}-{seed}").choice(
            spec.locales)
    fake = Faker(locale)
    fake.seed_instance(seed)
    drawn_sex = rng.choice(["M", "F"])
    sex = sex or drawn_sex
    for _ in range(50):
        names = _draw_name(fake, locale, sex)
        if names is None:
            continue
        alphabetic, ideographic, phonetic = names
        birth = dt.date(2026, 1, 1) - dt.timedelta(days=rng.randint(18 * 365, 90 * 365))
        patient_id = f"RS{rng.randint(0, 99_999_999):08d}"
        patient = Patient(
            patient_id=patient_id,
            family_name=alphabetic[0],
            given_name=alphabetic[1],
            birth_date=birth,
            sex=sex,
            middle_name=alphabetic[2],
            ideographic_family=ideographic[0],
            ideographic_given=ideographic[1],
            phonetic_family=phonetic[0],
            phonetic_given=phonetic[1],
            specific_character_set=spec.value,
            locale=locale,
        )
        if _well_formed(alphabetic + ideographic + phonetic) and safe_value(patient.name, spec, person_name=True):
            return patient
    raise ValueError(f"faker locale {locale!r} gives no name that fits character set {spec.name!r}")


def _well_formed(parts: tuple[str, ...]) -> bool:
    """No part may contain a Person Name delimiter or a backslash (PS3.5 6.2.1)."""
    return not any(delim in part for part in parts for delim in "^=\\")


def _draw_name(fake: Faker, locale: str, sex: str) -> tuple[_Group, _Group, _Group] | None:
    male = sex == "M"
    if locale == "ja_JP":
        return _japanese(fake, male)
    if locale == "ko_KR":
        return _korean(fake, male)
    if locale == "zh_CN":
        return _chinese(fake, male)
    given = fake.first_name_male() if male else fake.first_name_female()
    family = fake.last_name_male() if male else fake.last_name_female()
    middle = ""
    if locale == "ru_RU":  # the patronymic is the middle name component
        middle = fake.middle_name_male() if male else fake.middle_name_female()
    return (family, given, middle), ("", "", ""), ("", "", "")


def _japanese(fake: Faker, male: bool) -> tuple[_Group, _Group, _Group]:
    """PS3.5 Annex H: romaji = kanji = katakana, from faker's (kanji, kana, romaji) name pairs."""
    given_kanji, given_kana, given_roman = fake.first_name_male_pair() if male else fake.first_name_female_pair()
    family_kanji, family_kana, family_roman = fake.last_name_pair()
    return (family_roman, given_roman, ""), (family_kanji, given_kanji, ""), (family_kana, given_kana, "")


def _korean(fake: Faker, male: bool) -> tuple[_Group, _Group, _Group]:
    """PS3.5 Annex I: alphabetic = (no Hanja) = Hangul.

    faker gives Hangul only, and a Hangul syllable of a given name may stand for any of many Hanja, so no ideographic
    group is made rather than a wrong one. The alphabetic group is the Revised Romanization, syllable by syllable as
    for personal names, with the customary spelling of the common family names (Kim, Lee, Park ...).
    """
    family = fake.last_name()
    given = fake.first_name_male() if male else fake.first_name_female()
    roman_family = _KOREAN_FAMILY.get(family) or romanize_hangul(family)
    return (roman_family, romanize_hangul(given), ""), ("", "", ""), (family, given, "")


def _chinese(fake: Faker, male: bool) -> tuple[_Group, _Group, _Group] | None:
    """PS3.5 Annex J: pinyin = hanzi (no phonetic group); ``None`` (draw again) for a rare family name whose pinyin
    is not in the table below."""
    family = fake.last_name()
    given = fake.first_name_male() if male else fake.first_name_female()
    family_pinyin, given_pinyin = _pinyin(family), _pinyin(given)
    if family_pinyin is None or given_pinyin is None:
        return None
    return (family_pinyin, given_pinyin, ""), (family, given, ""), ("", "", "")


def _pinyin(hanzi: str) -> str | None:
    """Hanyu Pinyin without tone marks, syllables joined (an apostrophe before a, o, e), capitalised."""
    if any(char not in _PINYIN for char in hanzi):
        return None
    syllables = [_PINYIN[char] for char in hanzi]
    word = syllables[0] + "".join(("'" + s if s[0] in "aoe" else s) for s in syllables[1:])
    return word.capitalize()


# --- Korean Revised Romanization (syllable by syllable) -----------------------------------------------------

_INITIALS = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h")
_MEDIALS = ("a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we", "wi",
            "yu", "eu", "ui", "i")
_FINALS = ("", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t",
           "ng", "t", "t", "k", "t", "p", "t")

_KOREAN_FAMILY = {
    "김": "Kim", "이": "Lee", "박": "Park", "정": "Jung", "최": "Choi", "조": "Cho", "강": "Kang", "윤": "Yoon",
    "장": "Jang", "임": "Lim", "한": "Han", "오": "Oh", "서": "Seo", "신": "Shin", "권": "Kwon", "황": "Hwang",
    "안": "Ahn", "송": "Song", "류": "Ryu", "전": "Jeon", "홍": "Hong", "고": "Ko", "문": "Moon", "양": "Yang",
    "손": "Son", "배": "Bae", "백": "Baek", "허": "Heo", "유": "Yoo", "남": "Nam", "심": "Shim", "노": "Noh",
    "하": "Ha", "곽": "Kwak", "성": "Sung", "차": "Cha", "주": "Joo", "우": "Woo", "구": "Koo", "나": "Na",
    "민": "Min", "진": "Jin", "지": "Ji", "엄": "Eom",
}


def romanize_hangul(text: str) -> str:
    """Revised Romanization of Korean, one syllable at a time (sound changes between syllables of a given name are
    not transcribed), capitalised; characters other than Hangul syllables are kept."""
    out = []
    for char in text:
        index = ord(char) - 0xAC00
        if 0 <= index < 11172:
            out.append(_INITIALS[index // 588] + _MEDIALS[(index % 588) // 28] + _FINALS[index % 28])
        else:
            out.append(char)
    return "".join(out).capitalize()


# --- Pinyin of the characters in faker's zh_CN names (common family names; all given-name characters) ---------

_FAMILY_PINYIN = """
王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 吴:wu 赵:zhao 周:zhou 徐:xu 孙:sun 马:ma 朱:zhu
胡:hu 林:lin 郭:guo 何:he 高:gao 罗:luo 郑:zheng 梁:liang 谢:xie 宋:song 唐:tang 许:xu 邓:deng 冯:feng
韩:han 曹:cao 曾:zeng 彭:peng 萧:xiao 蔡:cai 潘:pan 田:tian 董:dong 袁:yuan 于:yu 余:yu 叶:ye 蒋:jiang
杜:du 苏:su 魏:wei 程:cheng 吕:lyu 丁:ding 沈:shen 任:ren 姚:yao 卢:lu 傅:fu 钟:zhong 姜:jiang 崔:cui
谭:tan 廖:liao 范:fan 汪:wang 陆:lu 金:jin 石:shi 戴:dai 贾:jia 韦:wei 夏:xia 邱:qiu 方:fang 侯:hou
邹:zou 熊:xiong 孟:meng 秦:qin 白:bai 江:jiang 阎:yan 薛:xue 尹:yin 段:duan 雷:lei 黎:li 史:shi 龙:long
陶:tao 贺:he 顾:gu 毛:mao 郝:hao 龚:gong 邵:shao 万:wan 钱:qian 严:yan 赖:lai 覃:qin 洪:hong 武:wu
莫:mo 孔:kong 汤:tang 向:xiang 常:chang 温:wen 康:kang 施:shi 文:wen 牛:niu 樊:fan 葛:ge
"""
_GIVEN_PINYIN = """
东:dong 丹:dan 丽:li 云:yun 亮:liang 伟:wei 佳:jia 俊:jun 倩:qian 健:jian 兰:lan 兵:bing 军:jun
冬:dong 凤:feng 凯:kai 刚:gang 利:li 勇:yong 华:hua 博:bo 国:guo 坤:kun 娜:na 娟:juan 婷:ting 宁:ning
宇:yu 小:xiao 岩:yan 峰:feng 帅:shuai 帆:fan 平:ping 建:jian 强:qiang 彬:bin 志:zhi 想:xiang 慧:hui
成:cheng 敏:min 斌:bin 旭:xu 明:ming 春:chun 晨:chen 晶:jing 杰:jie 柳:liu 桂:gui 梅:mei
楠:nan 欢:huan 欣:xin 波:bo 洁:jie 洋:yang 浩:hao 海:hai 涛:tao 淑:shu 燕:yan 玉:yu 玲:ling 珍:zhen
琳:lin 琴:qin 瑜:yu 瑞:rui 璐:lu 畅:chang 磊:lei 秀:xiu 红:hong 艳:yan 芝:zhi 花:hua 芳:fang 英:ying
荣:rong 莉:li 莹:ying 萍:ping 超:chao 辉:hui 鑫:xin 阳:yang 雪:xue 霞:xia 静:jing 颖:ying 飞:fei
香:xiang 鹏:peng
"""
_PINYIN: dict[str, str] = dict(pair.split(":", 1) for pair in (_FAMILY_PINYIN + _GIVEN_PINYIN).split())
