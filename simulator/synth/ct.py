"""CT studies (the IOD itself lives in :mod:`simulator.synth.iods.ct`)."""

from __future__ import annotations

from simulator.synth.generate import generate_study
from simulator.synth.patients import Patient
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study


def build_ct_study(seed: int = 0, *, series: int = 1, instances: int = 20, rows: int = 512,
                   columns: int = 512, patient: Patient | None = None) -> Study:
    """A CT study of ``series`` axial series with ``instances`` slices each; every byte follows from ``seed``."""
    return generate_study("CT", seed, series=series, instances=instances, patient=patient,
                          options=BuildOptions(rows=rows, columns=columns))
