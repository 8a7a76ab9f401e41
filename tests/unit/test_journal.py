"""The journal: recording, selecting, summarising, thread safety and serialisation."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.journal import Exchange, Journal


def _exchange(kind: str = "C-STORE", *, node: str = "CT1", role: str = "SCU", status: int | None = 0x0000,
              duration_s: float = 0.01, size: int = 0, **detail: object) -> Exchange:
    return Exchange(node=node, kind=kind, role=role, local_ae=node, peer_ae="PEER", peer_host="127.0.0.1",
                    peer_port=104, status=status, meaning="", started=1000.0, duration_s=duration_s, bytes=size,
                    detail=dict(detail))


def test_record_keeps_order_and_length() -> None:
    journal = Journal()
    first, second = _exchange("C-ECHO"), _exchange("C-STORE")
    journal.record(first)
    journal.record(second)
    assert len(journal) == 2
    assert list(journal) == [first, second]
    assert journal.entries() == [first, second]


def test_select_filters_by_node_kind_and_role() -> None:
    journal = Journal()
    a = _exchange("C-STORE", node="CT1", role="SCU")
    b = _exchange("C-STORE", node="QA", role="SCP")
    c = _exchange("C-FIND", node="WS1", role="SCU")
    d = _exchange("C-STORE", node="QA", role="SCU")
    for e in (a, b, c, d):
        journal.record(e)
    assert journal.select(kind="C-STORE") == [a, b, d]
    assert journal.select(node="QA") == [b, d]
    assert journal.select(node="QA", role="SCU") == [d]
    assert journal.select(kind="C-FIND", role="SCP") == []
    assert journal.select() == [a, b, c, d]


def test_entries_returns_a_snapshot() -> None:
    journal = Journal()
    journal.record(_exchange())
    snapshot = journal.entries()
    journal.record(_exchange())
    assert len(snapshot) == 1
    assert len(journal) == 2


@pytest.mark.parametrize(
    ("status", "ok"),
    [(0x0000, True), (0xB000, True), (0xB007, True), (0xFE00, True), (0xA900, False), (0xC000, False),
     (0xA801, False), (0xFF00, False), (None, False)],
)
def test_exchange_ok(status: int | None, ok: bool) -> None:
    assert _exchange(status=status).ok is ok


def test_summary_counts_failures_bytes_and_mean_latency() -> None:
    journal = Journal()
    journal.record(_exchange("C-STORE", status=0x0000, duration_s=0.010, size=1000))
    journal.record(_exchange("C-STORE", status=0xB000, duration_s=0.020, size=2000))
    journal.record(_exchange("C-STORE", status=0xA900, duration_s=0.030, size=500))
    journal.record(_exchange("C-FIND", status=0x0000, duration_s=0.005))
    # SCP-side entries are the same exchanges seen from the other end: not counted twice.
    journal.record(_exchange("C-STORE", role="SCP", node="QA", status=0xA900, duration_s=9.0, size=10**6))
    summary = journal.summary()
    assert set(summary) == {"C-STORE", "C-FIND"}
    store = summary["C-STORE"]
    assert store["count"] == 3
    assert store["failed"] == 1
    assert store["bytes"] == 3500
    assert store["mean_latency_ms"] == pytest.approx(20.0)
    assert "total_s" not in store
    assert summary["C-FIND"] == {"count": 1, "failed": 0, "bytes": 0, "mean_latency_ms": pytest.approx(5.0)}


def test_summary_does_not_count_associations_as_failed() -> None:
    journal = Journal()
    journal.record(_exchange("ASSOCIATION", status=None))
    journal.record(_exchange("C-ECHO", status=None))
    summary = journal.summary()
    assert summary["ASSOCIATION"]["failed"] == 0
    # An operation without a status (no response) is a failure.
    assert summary["C-ECHO"]["failed"] == 1


def test_summary_of_empty_journal_is_empty() -> None:
    assert Journal().summary() == {}


@given(st.lists(st.tuples(st.sampled_from([0x0000, 0xB000, 0xA700, 0xC000]),
                          st.floats(min_value=0, max_value=10), st.integers(min_value=0, max_value=10**9)),
                min_size=1, max_size=30))
def test_summary_agrees_with_a_direct_computation(rows: list[tuple[int, float, int]]) -> None:
    journal = Journal()
    for status, duration, size in rows:
        journal.record(_exchange(status=status, duration_s=duration, size=size))
    store = journal.summary()["C-STORE"]
    assert store["count"] == len(rows)
    assert store["failed"] == sum(1 for s, _, _ in rows if s in (0xA700, 0xC000))
    assert store["bytes"] == sum(size for _, _, size in rows)
    expected_ms = 1000 * sum(d for _, d, _ in rows) / len(rows)
    assert store["mean_latency_ms"] == pytest.approx(expected_ms, abs=1e-3)


def test_many_threads_recording_lose_nothing() -> None:
    journal = Journal()
    threads_n, per_thread = 16, 400
    barrier = threading.Barrier(threads_n)

    def worker(index: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            journal.record(_exchange(node=f"N{index}", size=1, seq=i))
            if i % 50 == 0:
                journal.summary()  # readers run concurrently with writers

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert len(journal) == threads_n * per_thread
    assert journal.summary()["C-STORE"]["bytes"] == threads_n * per_thread
    for n in range(threads_n):
        sequence = [e.detail["seq"] for e in journal.select(node=f"N{n}")]
        assert sequence == list(range(per_thread))  # each thread's entries in its own order


def test_to_list_formats_status_as_hex() -> None:
    journal = Journal()
    journal.record(_exchange(status=0xA900, size=12, sop="1.2.3"))
    journal.record(_exchange(status=0x0000))
    journal.record(_exchange(status=0x0001))
    journal.record(_exchange(status=None))
    rows = journal.to_list()
    assert [row["status"] for row in rows] == ["0xA900", "0x0000", "0x0001", None]
    assert rows[0]["bytes"] == 12
    assert rows[0]["detail"] == {"sop": "1.2.3"}
    assert rows[0]["node"] == "CT1"
    # Serialisation does not alter the recorded exchange.
    assert journal.entries()[0].status == 0xA900
