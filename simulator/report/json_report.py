"""The JSON report: results, the department, and every journalled exchange with its timing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from simulator import __version__
from simulator.department import Department
from simulator.nodes.qa import Ledger
from simulator.scenario import ScenarioResult


def build_report(results: Sequence[ScenarioResult], department: Department) -> dict[str, Any]:
    journal = department.journal.to_list()
    return {
        "radsim": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "pacs": department.pacs.describe(),
        "pacs_identity": asdict(department.pacs.identity) if department.pacs.identity is not None else None,
        "department": department.config.model_dump(mode="json"),
        "results": [
            {**r.to_dict(), "journal": journal[r.journal_from:r.journal_to]} for r in results
        ],
        "summary": department.journal.summary(),
        "qa": {name: qa_audit(qa.ledger) for name, qa in department.qa_nodes.items()},
        "mpps": department.ris.mpps.to_dict() if department.ris is not None else None,
        "storage_commitment": {name: [commitment_report(r) for r in modality.commitments.reports()]
                               for name, modality in department.modalities.items()},
    }


def commitment_report(report: Any) -> dict[str, Any]:
    """One Storage Commitment result a modality received (PS3.4 J.3.3.1), as plain data."""
    row = asdict(report)
    row["received_at"] = dt.datetime.fromtimestamp(report.received_at, dt.UTC).isoformat(timespec="milliseconds")
    return row


AUDIT_LIMIT = 5000


def qa_audit(ledger: Ledger, limit: int = AUDIT_LIMIT) -> dict[str, Any]:
    """A QA node's ledger for the report: instances per state and each instance's audit trail (the first
    ``limit`` instances; ``truncated`` counts the rest)."""
    entries = ledger.entries()
    instances = []
    for entry in entries[:limit]:
        row = {key: (str(value) if key == "state" else value) for key, value in asdict(entry).items()}
        trail = ledger.audit(entry.sop_instance_uid)
        row["audit"] = [{"at": e.at, "event": e.event, "detail": e.detail} for e in trail]
        instances.append(row)
    return {"states": ledger.counts(), "instances": instances, "truncated": max(0, len(entries) - limit)}


def write_report(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
