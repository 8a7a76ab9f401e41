"""pydicom's value validation, switched off on purpose (for defects) and restored in ``finally``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import config


@contextmanager
def deliberately_invalid() -> Iterator[None]:
    """Let pydicom create and write the invalid values a defect is made of, without warnings."""
    previous = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = previous
