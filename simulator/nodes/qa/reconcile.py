"""Reconciliation against the worklist: the QA step that makes images carry the demographics of their order.

For an instance whose Accession Number matches one scheduled item, Patient ID, Patient's Name, Birth Date and Sex
are coerced to the worklist's values, and each change is recorded (the answer is then 0xB000, coercion of data
elements, PS3.4 B.2.3). An instance whose Accession Number matches nothing (or matches items of different
patients) is handled by the ``unmatched`` action; when the worklist cannot be asked, by ``unavailable``. This
is IHE RAD TF-1's "Patient Information Reconciliation" done at the router rather than at the archive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from simulator.config import Endpoint
from simulator.errors import HarnessError
from simulator.net import DicomClient
from simulator.nodes.qa.rules import Action, Change, Violation
from simulator.synth.charsets import fits
from simulator.synth.patients import normalized_person_name

#: Reject status for an instance the worklist does not know: in the 0xCxxx "Cannot understand" range PS3.4 B.2.3
#: leaves to the SCP (0xC000-0xC002 are taken by the other rules).
UNMATCHED = 0xC003
#: Reject status when the worklist cannot be asked: 0xA700, Out of Resources (PS3.4 B.2.3), so the sender retries.
UNAVAILABLE = 0xA700

DEMOGRAPHICS: tuple[str, ...] = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")

#: Looks up the worklist items with an Accession Number; raises a HarnessError when the worklist cannot be asked.
WorklistLookup = Callable[[str], Sequence[Dataset]]


def worklist_lookup(client: DicomClient, endpoint: Callable[[], Endpoint]) -> WorklistLookup:
    """A lookup that asks a Modality Worklist SCP (PS3.4 K.6.1) by Accession Number, declaring UTF-8 so names in
    any character set come back whole. Items are kept only when their Accession Number is exactly the one asked
    for (``*`` and ``?`` in a value would be wildcards to the SCP). A failed query raises the client's typed
    error, which reconciliation turns into an "unavailable" violation."""

    def lookup(accession: str) -> list[Dataset]:
        query = Dataset()
        query.SpecificCharacterSet = "ISO_IR 192"
        query.AccessionNumber = accession
        for keyword in DEMOGRAPHICS:
            setattr(query, keyword, "")
        items = client.find(endpoint(), query, model="worklist")
        return [item for item in items if str(item.get("AccessionNumber", "")).strip() == accession]

    return lookup


def _text(keyword: str, value: object) -> str:
    if keyword == "PatientName":
        return normalized_person_name(value)
    return "" if value is None else str(value).strip()


@dataclass
class Reconciliation:
    """Coerce demographics to the scheduled item with the instance's Accession Number."""

    lookup: WorklistLookup
    unmatched: Action = Action.QUARANTINE
    unavailable: Action = Action.QUARANTINE
    keywords: tuple[str, ...] = DEMOGRAPHICS
    cache_s: float = 30.0
    name: str = "worklist"
    _cache: dict[str, tuple[float, tuple[Dataset, ...]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _items(self, accession: str) -> tuple[Dataset, ...]:
        """Items for ``accession``; a match is remembered for ``cache_s`` seconds (a study's instances share it),
        a miss is asked again every time (the order may be scheduled late)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(accession)
            if hit is not None and now - hit[0] < self.cache_s:
                return hit[1]
        items = tuple(self.lookup(accession))
        if items:
            with self._lock:
                self._cache[accession] = (now, items)
        return items

    def apply(self, ds: Dataset) -> tuple[list[Change], list[Violation]]:
        """Change ``ds`` in place to match its worklist item; return the changes and any violation."""
        accession = str(ds.get("AccessionNumber", "") or "").strip()
        if not accession:
            return [], [self._unmatched("no Accession Number to find the order by")]
        try:
            items = self._items(accession)
        except HarnessError as exc:
            return [], [Violation(self.name, "AccessionNumber", f"worklist unavailable: {exc}"[:200], UNAVAILABLE,
                                  self.unavailable)]
        patients = {_text("PatientID", item.get("PatientID")) for item in items}
        if not items:
            return [], [self._unmatched(f"no scheduled order with Accession Number {accession}")]
        if len(patients) > 1:
            return [], [self._unmatched(f"Accession Number {accession} is scheduled for {len(patients)} patients")]
        return self._coerce(ds, items[0]), []

    def _unmatched(self, message: str) -> Violation:
        return Violation(self.name, "AccessionNumber", message, UNMATCHED, self.unmatched)

    def _coerce(self, ds: Dataset, item: Dataset) -> list[Change]:
        changes: list[Change] = []
        wanted = {k: item.get(k) for k in self.keywords if k in item and _text(k, item.get(k))}
        differing = {k: v for k, v in wanted.items() if _text(k, ds.get(k)) != _text(k, v)}
        if not differing:
            return changes
        charset = ds.get("SpecificCharacterSet", "") or ""
        if not all(fits(_text(k, v), charset) for k, v in differing.items()):
            # The worklist's value cannot be written in the instance's character set: decode every text value and
            # declare UTF-8 for the whole data set (PS3.3 C.12.1.1.2).
            ds.decode()
            before = "\\".join(charset) if isinstance(charset, list | tuple) else str(charset)
            ds.SpecificCharacterSet = "ISO_IR 192"
            changes.append(Change(self.name, "SpecificCharacterSet", before or None, "ISO_IR 192"))
        for keyword, value in differing.items():
            before = ds.get(keyword)
            # As decoded text: a Person Name from the worklist answer still carries the bytes of the answer's
            # character set, which need not be the instance's.
            setattr(ds, keyword, str(value))
            changes.append(Change(self.name, keyword, None if before is None else str(before), str(value)))
        return changes
