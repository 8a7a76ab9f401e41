"""Hypothesis strategies for patients, studies and datasets, valid and defective (needs ``hypothesis``).

Studies are drawn from seeds, so a failing example shrinks to a seed a person can replay with
``generate_study(code, seed, ...)``. Sizes are small by default: property tests run hundreds of examples.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from pydicom.dataset import Dataset

from simulator.synth.defects import DEFECTS, apply_defect
from simulator.synth.generate import generate_study
from simulator.synth.patients import Patient, make_patient
from simulator.synth.registry import MODALITIES
from simulator.synth.spec import BuildOptions
from simulator.synth.study import Study

SMALL = BuildOptions(rows=16, columns=16, frames=2)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**31 - 1)


def patients() -> st.SearchStrategy[Patient]:
    """Patients from faker, one per seed."""
    return st.builds(make_patient, seeds())


def studies(modalities: Sequence[str] | None = None, *, max_series: int = 2, max_instances: int = 2,
            options: BuildOptions = SMALL) -> st.SearchStrategy[Study]:
    """Valid studies of the given modality codes (default: every registered one)."""
    codes = sorted(modalities or MODALITIES)

    @st.composite
    def build(draw: st.DrawFn) -> Study:
        code = draw(st.sampled_from(codes))
        return generate_study(code, draw(seeds()), series=draw(st.integers(1, max_series)),
                              instances=draw(st.integers(1, max_instances)), options=options)

    return build()


def datasets(modalities: Sequence[str] | None = None) -> st.SearchStrategy[Dataset]:
    """Single valid instances."""
    return studies(modalities, max_series=1, max_instances=1).map(lambda study: study.datasets[0])


def defective_studies(defects: Sequence[str] | None = None,
                      modalities: Sequence[str] | None = None) -> st.SearchStrategy[tuple[str, Study]]:
    """(defect name, study with that defect applied to every instance); studies have two instances or more."""
    names = sorted(defects or DEFECTS)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, Study]:
        name = draw(st.sampled_from(names))
        code = draw(st.sampled_from(sorted(modalities or ["CT"])))
        study = generate_study(code, draw(seeds()), series=1, instances=draw(st.integers(2, 3)), options=SMALL)
        apply_defect(study.datasets, name)
        return name, study

    return build()
