"""Synthetic data. Never opens a socket."""

from simulator.synth.ct import build_ct_study
from simulator.synth.defects import DEFECTS, apply_defect
from simulator.synth.patients import Patient, make_patient
from simulator.synth.study import Study

__all__ = ["DEFECTS", "Patient", "Study", "apply_defect", "build_ct_study", "make_patient"]
