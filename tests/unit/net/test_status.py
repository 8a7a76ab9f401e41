"""DIMSE status codes as data: meanings per service and success / warning / failure classification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynetdicom.status import code_to_category

from simulator.net.status import CANCEL, PENDING, SUCCESS, describe_status, is_failure, is_success, is_warning


@pytest.mark.parametrize(
    ("status", "operation", "meaning"),
    [
        (0xA801, "C-MOVE", "Move destination unknown"),
        (0xA900, "C-STORE", "Data Set Does Not Match SOP Class"),
        (0xB000, "C-STORE", "Coercion of Data Elements"),
        (0xB007, "C-STORE", "Data Set Does Not Match SOP Class"),
        (0xC000, "C-FIND", "Unable to process"),
        (0xA700, "C-STORE", "Out of Resources"),
    ],
)
def test_describe_status_uses_the_service_table(status: int, operation: str, meaning: str) -> None:
    assert meaning.lower() in describe_status(status, operation).lower()


def test_service_specific_meaning_differs_by_operation() -> None:
    # 0xA801 is a C-MOVE code; in the general table it means nothing, so only its category is left.
    assert "destination" in describe_status(0xA801, "C-MOVE").lower()
    assert "destination" not in describe_status(0xA801, "C-STORE").lower()


def test_describe_status_falls_back_to_general_table_and_category() -> None:
    assert describe_status(0x0122, "C-STORE") == "Refused: SOP Class Not Supported"
    assert describe_status(0x0122) == "Refused: SOP Class Not Supported"
    assert describe_status(0xA123, "C-ECHO") == "Failure status"
    assert describe_status(0x1234) == "Unknown status"


def test_success_pending_cancel_have_a_meaning() -> None:
    for code in (SUCCESS, PENDING, CANCEL):
        assert describe_status(code, "C-FIND")


@pytest.mark.parametrize(
    ("status", "success", "warning", "failure"),
    [
        (0x0000, True, False, False),
        (0x0001, False, True, False),
        (0xB000, False, True, False),
        (0xB007, False, True, False),
        (0xBFFF, False, True, False),
        (0xFF00, False, False, False),  # pending: more to come, not a failure
        (0xFF01, False, False, False),
        (0xFE00, False, False, False),  # cancel: the SCU asked for it, not a failure
        (0xA801, False, False, True),
        (0xA900, False, False, True),
        (0xA700, False, False, True),
        (0xC000, False, False, True),
        (0x0122, False, False, True),
        (0x0110, False, False, True),
    ],
)
def test_classification(status: int, success: bool, warning: bool, failure: bool) -> None:
    assert (is_success(status), is_warning(status), is_failure(status)) == (success, warning, failure)


@given(st.integers(min_value=0, max_value=0xFFFF))
def test_classes_are_exclusive(status: int) -> None:
    assert sum([is_success(status), is_warning(status), is_failure(status)]) <= 1
    if status not in (PENDING, 0xFF01, CANCEL):
        assert sum([is_success(status), is_warning(status), is_failure(status)]) == 1


@given(st.integers(min_value=0, max_value=0xFFFF))
def test_failure_category_of_pynetdicom_is_a_failure_here(status: int) -> None:
    category = code_to_category(status)
    if category == "Failure":
        assert is_failure(status)
    if category in ("Success", "Pending", "Cancel"):
        assert not is_failure(status)


@pytest.mark.parametrize("status", [0x0107, 0x0116])
def test_attribute_list_and_value_out_of_range_are_warnings(status: int) -> None:
    assert code_to_category(status) == "Warning"
    assert is_warning(status)
    assert not is_failure(status)
