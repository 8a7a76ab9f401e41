"""Generate a study of any registered modality from a seed."""

from __future__ import annotations

from pydicom.dataset import Dataset

from simulator.synth.charsets import charset_spec
from simulator.synth.context import Randomness, SeriesContext, StudyContext, make_study_context
from simulator.synth.patients import Patient, make_patient
from simulator.synth.registry import modality_spec
from simulator.synth.spec import BuildOptions, ModalitySpec
from simulator.synth.study import Study


def generate_study(modality: str | ModalitySpec, seed: int = 0, *, series: int | None = None,
                   instances: int | None = None, patient: Patient | None = None, context: StudyContext | None = None,
                   options: BuildOptions | None = None, charset: str | None = None) -> Study:
    """A study of ``modality`` (a code such as CT, MR, US); every byte follows from ``seed`` and the options.

    ``charset`` (a name from :data:`~simulator.synth.charsets.CHARSETS`) draws a patient whose name is in that
    repertoire and declares it in Specific Character Set, with an institution name in it too.
    """
    spec = modality if isinstance(modality, ModalitySpec) else modality_spec(modality)
    series_count = spec.default_series if series is None else series
    instance_count = spec.default_instances if instances is None else instances
    if series_count < 1 or instance_count < 1:
        raise ValueError("series and instances must be at least 1")
    if context is None:
        patient = patient or make_patient(seed, charset=charset, sex=spec.patient_sex)
        context = make_study_context(seed, patient, description=spec.study_description, label=spec.code,
                                     institution=charset_spec(charset).institution if charset else None)
    study = context
    options = options or BuildOptions()
    shared_frame = study.uid("frame-of-reference")
    out = Study()
    for index in range(series_count):
        profile = spec.profile(index)
        series_ctx = SeriesContext(
            study=study,
            index=index,
            modality=spec.modality,
            series_instance_uid=study.uid("series", index),
            series_number=index + 1,
            series_description=profile.description,
            body_part=profile.body_part,
            protocol_name=profile.protocol,
            frame_of_reference_uid=shared_frame if spec.shares_frame_of_reference else study.uid("frame", index),
            laterality=profile.laterality,
        )
        datasets: list[Dataset] = spec.build_series(series_ctx, instance_count,
                                                    Randomness(seed, f"{spec.code}-{index}"), options)
        out.datasets.extend(datasets)
    return out
