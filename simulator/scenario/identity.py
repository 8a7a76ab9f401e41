"""One identity across the scheduled workflow (IHE RAD TF-1 Scheduled Workflow, "Patient and order information
consistency"): the worklist item, the MPPS messages, the stored instances, the C-FIND answers and the storage
commitment result must agree on who and what was acquired.

Each source is reduced to the identifiers it carries; every disagreement with the worklist item is named with
both values and where they came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from simulator.synth.patients import normalized_person_name

#: The identifiers that must be the same everywhere (PS3.3 C.7.1.1, C.7.2.1, C.4.10/C.4.11, C.4.13).
IDENTITY_KEYS: tuple[str, ...] = (
    "PatientID", "PatientName", "AccessionNumber", "StudyInstanceUID", "RequestedProcedureID",
    "ScheduledProcedureStepID",
)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _value(keyword: str, value: object) -> str:
    return normalized_person_name(value) if keyword == "PatientName" else _text(value)


def _first(ds: Dataset, keyword: str) -> Dataset | None:
    items = ds.get(keyword) or []
    return items[0] if items else None


def from_worklist_item(item: Dataset) -> dict[str, str]:
    """Identifiers of a worklist item (PS3.4 K.6.1.2.2); the step ID is inside the Scheduled Procedure Step
    Sequence."""
    values = {key: _value(key, item.get(key)) for key in IDENTITY_KEYS if key in item}
    sps = _first(item, "ScheduledProcedureStepSequence")
    if sps is not None and "ScheduledProcedureStepID" in sps:
        values["ScheduledProcedureStepID"] = _text(sps.ScheduledProcedureStepID)
    return values


def from_mpps(attributes: Dataset) -> dict[str, str]:
    """Identifiers of an MPPS N-CREATE (PS3.4 Table F.7.2-1): the patient at top level, the order in the
    Scheduled Step Attributes Sequence."""
    values = {key: _value(key, attributes.get(key)) for key in ("PatientID", "PatientName") if key in attributes}
    step = _first(attributes, "ScheduledStepAttributesSequence")
    if step is not None:
        for key in ("AccessionNumber", "StudyInstanceUID", "RequestedProcedureID", "ScheduledProcedureStepID"):
            if key in step:
                values[key] = _text(step.get(key))
    return values


def from_instance(ds: Dataset) -> dict[str, str]:
    """Identifiers of a stored instance: the order's IDs sit in the Request Attributes Sequence (PS3.3 C.7.3.1)."""
    values = {key: _value(key, ds.get(key)) for key in ("PatientID", "PatientName", "AccessionNumber",
                                                        "StudyInstanceUID") if key in ds}
    request = _first(ds, "RequestAttributesSequence")
    if request is not None:
        for key in ("RequestedProcedureID", "ScheduledProcedureStepID"):
            if key in request:
                values[key] = _text(request.get(key))
    return values


def from_find_answer(ds: Dataset) -> dict[str, str]:
    """Identifiers a C-FIND answer returned (only the keys it carries; empty values mean "not returned")."""
    return {key: _value(key, ds.get(key)) for key in IDENTITY_KEYS if key in ds and _text(ds.get(key))}


@dataclass
class IdentityCheck:
    """The worklist item as reference, then every other source's identifiers and SOP instance sets."""

    reference: Mapping[str, str]
    sources: list[tuple[str, Mapping[str, str]]] = field(default_factory=list)
    instance_sets: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def add(self, label: str, values: Mapping[str, str]) -> None:
        self.sources.append((label, values))

    def add_instances(self, label: str, uids: Iterable[str]) -> None:
        self.instance_sets.append((label, frozenset(uids)))

    def disagreements(self) -> list[str]:
        """Every identifier that differs from the worklist's, and every SOP instance set that differs from the
        stored one; empty when the chain agrees."""
        problems: list[str] = []
        for label, values in self.sources:
            for key in IDENTITY_KEYS:
                if key not in values or key not in self.reference:
                    continue
                if values[key] != self.reference[key]:
                    problems.append(f"{key}: worklist {self.reference[key]!r}, {label} {values[key]!r}")
        if self.instance_sets:
            base_label, base = self.instance_sets[0]
            for label, uids in self.instance_sets[1:]:
                missing, extra = sorted(base - uids), sorted(uids - base)
                if missing:
                    problems.append(f"{label} lacks {len(missing)} of the {len(base)} {base_label} "
                                    f"(first: {missing[0]})")
                if extra:
                    problems.append(f"{label} names {len(extra)} instance(s) not among the {base_label} "
                                    f"(first: {extra[0]})")
        return problems


def compare_sources(reference: Mapping[str, str], sources: Sequence[tuple[str, Mapping[str, str]]]) -> list[str]:
    """Shorthand for an :class:`IdentityCheck` without instance sets."""
    check = IdentityCheck(reference, list(sources))
    return check.disagreements()
