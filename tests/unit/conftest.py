"""Unit tests leave no files in the working tree: hypothesis keeps its folder in the system temp directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "radsim-unit-hypothesis")
