"""Synthetic data: patients, studies of every common modality, transfer syntaxes, named defects.

Never opens a socket. ``simulator.synth.strategies`` (hypothesis strategies) needs the ``dev`` extra.
"""

from simulator.synth.ct import build_ct_study
from simulator.synth.defects import DEFECTS, apply_defect
from simulator.synth.generate import generate_study
from simulator.synth.patients import Patient, make_patient
from simulator.synth.study import Study

__all__ = ["DEFECTS", "Patient", "Study", "apply_defect", "build_ct_study", "generate_study", "make_patient"]
