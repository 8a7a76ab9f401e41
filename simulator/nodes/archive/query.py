"""Translate a C-FIND identifier into SQL over the archive index (PS3.4 C.2.2.2 attribute matching).

Supported: single value, universal (empty), wildcard (``*`` and ``?``), range (DA, TM) and list of UIDs.
Person names match case-insensitively (as most archives do; PS3.4 C.2.2.2.1 leaves it to the SCP).

Queries and retrieves are hierarchical (PS3.4 C.4.1.2.2.1, C.4.2.2.1): each unique key above the level must be
given with a single value, else 0xA900; with relational queries negotiated (C.4.1.2.2.2) keys above the level may
be absent or carry any matching, and absent ones match everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from simulator.net import ScpFailure
from simulator.nodes.archive.index import LEVEL_KEYS, LEVELS, UNIQUE_KEY

MODEL_LEVELS = {"patient": LEVELS, "study": LEVELS[1:]}

# Counts an SCP may return (PS3.4 C.3.4 "Additional Query/Retrieve Attributes").
_COUNTS: dict[str, dict[str, str]] = {
    "PATIENT": {
        "NumberOfPatientRelatedStudies": "COUNT(DISTINCT study_instance_uid)",
        "NumberOfPatientRelatedSeries": "COUNT(DISTINCT series_instance_uid)",
        "NumberOfPatientRelatedInstances": "COUNT(*)",
    },
    "STUDY": {
        "NumberOfStudyRelatedSeries": "COUNT(DISTINCT series_instance_uid)",
        "NumberOfStudyRelatedInstances": "COUNT(*)",
        "ModalitiesInStudy": "GROUP_CONCAT(DISTINCT modality)",
    },
    "SERIES": {"NumberOfSeriesRelatedInstances": "COUNT(*)"},
    "IMAGE": {},
}


@dataclass(frozen=True)
class CompiledQuery:
    level: str
    where: str
    params: list[object]
    group_column: str


def level_of(identifier: Dataset, model: str) -> str:
    """The Query/Retrieve Level, checked against the information model (PS3.4 C.4.1.1.3.1)."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level == "INSTANCE":
        level = "IMAGE"
    allowed = MODEL_LEVELS.get(model, ())
    if level not in allowed:
        raise ScpFailure(0xA900, f"QueryRetrieveLevel '{level}' is not valid for the {model} root model")
    return level


def check_hierarchical(identifier: Dataset, model: str, level: str) -> None:
    """Refuse (0xA900) an identifier that only a relational query may send: a unique key above ``level`` that is
    absent, empty, a wildcard or a list (PS3.4 C.4.1.3.1.1 for C-FIND, C.4.2.2.1 for C-MOVE and C-GET), when
    relational queries or retrieves were not negotiated (C.4.1.2.2.2, C.4.2.2.2)."""
    levels = MODEL_LEVELS[model]
    for above in levels[: levels.index(level)]:
        keyword = UNIQUE_KEY[above]
        value = identifier.get(keyword)
        text = "" if value is None else ("\\".join(str(v) for v in value) if _is_multi(value) else str(value))
        if not text.strip() or "\\" in text or "*" in text or "?" in text:
            # The Error Comment is LO (64 characters): the reason, then the standard's section in the docstring.
            raise ScpFailure(0xA900, f"{keyword}: one value needed above {level} (no relational)")


def compile_match(identifier: Dataset, model: str, *, relational: bool = True) -> CompiledQuery:
    """WHERE clause for every matching key at or above the query level; ``relational`` False refuses what only a
    relational query may ask (:func:`check_hierarchical`)."""
    level = level_of(identifier, model)
    if not relational:
        check_hierarchical(identifier, model, level)
    depth = LEVELS.index(level)
    clauses: list[str] = []
    params: list[object] = []
    for lvl in LEVELS[: depth + 1]:
        for keyword, (column, vr) in LEVEL_KEYS[lvl].items():
            if keyword not in identifier:
                continue
            value = identifier[keyword].value
            text = "\\".join(str(v) for v in value) if _is_multi(value) else ("" if value is None else str(value))
            clause = _match_clause(column, vr, text, params)
            if clause:
                clauses.append(clause)
    where = " AND ".join(clauses) if clauses else "1=1"
    return CompiledQuery(level, where, params, LEVEL_KEYS[level][UNIQUE_KEY[level]][0])


def _is_multi(value: object) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def _match_clause(column: str, vr: str, text: str, params: list[object]) -> str:
    text = text.strip()
    if not text or text == "*":
        return ""  # universal matching, C.2.2.2.3
    if vr == "UI":
        uids = [u.strip() for u in text.split("\\") if u.strip()]
        params.extend(uids)
        return f"{column} IN ({', '.join('?' for _ in uids)})"  # list of UID matching, C.2.2.2.2
    if vr in ("DA", "TM") and "-" in text:
        low, _, high = text.partition("-")  # range matching, C.2.2.2.5
        if not low and not high:
            return ""
        parts = []
        if low:
            parts.append(f"{column} >= ?")
            params.append(low)
        if high:
            parts.append(f"({column} <= ? OR {column} LIKE ?)")
            params.extend([high, high + "%"])
        return "(" + " AND ".join(parts) + f" AND {column} != '')"
    if "*" in text or "?" in text:  # wildcard matching, C.2.2.2.4
        pattern = "".join("[[]" if ch == "[" else "[]]" if ch == "]" else ch for ch in text)
        if vr == "PN":
            params.append(pattern.casefold())
            return f"casefold({column}) GLOB ?"
        params.append(pattern)
        return f"{column} GLOB ?"
    if vr == "PN":  # single value matching, C.2.2.2.1; casefold() is registered by ArchiveIndex
        params.append(text.casefold())
        return f"casefold({column}) = ?"
    params.append(text)
    return f"{column} = ?"


def response_select(level: str, requested: list[str]) -> tuple[str, list[str]]:
    """SELECT list for the requested keywords at ``level`` and above; returns (sql, keywords in order)."""
    depth = LEVELS.index(level)
    available: dict[str, str] = {}
    for lvl in LEVELS[: depth + 1]:
        for keyword, (column, _) in LEVEL_KEYS[lvl].items():
            available[keyword] = f"MIN({column})"
    available.update(_COUNTS[level])
    keywords = [k for k in requested if k in available]
    for unique in (UNIQUE_KEY[lvl] for lvl in LEVELS[: depth + 1]):
        if unique not in keywords and unique == UNIQUE_KEY[level]:
            keywords.append(unique)
    sql = ", ".join(f"{available[k]} AS {k}" for k in keywords) or "1"
    return sql, keywords
