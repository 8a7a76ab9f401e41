"""Property tests built on simulator.synth.strategies: what is generated survives a write/read round trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydicom
from hypothesis import HealthCheck, given, settings

from simulator.synth import strategies
from simulator.synth.study import Study

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(strategies.studies())
def test_written_studies_read_back_identical(study: Study) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = study.write(Path(folder))
        assert len(paths) == len(study)
        for sent, path in zip(study.datasets, paths, strict=True):
            back = pydicom.dcmread(path)
            assert back.SOPInstanceUID == sent.SOPInstanceUID
            assert back.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
            for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "Modality"):
                assert str(back.get(keyword)) == str(sent.get(keyword)), keyword
            if "PixelData" in sent:
                assert bytes(back.PixelData) == bytes(sent.PixelData)


@FAST
@given(strategies.studies(max_series=2, max_instances=2))
def test_one_study_one_patient_and_unique_instances(study: Study) -> None:
    assert len({str(ds.StudyInstanceUID) for ds in study}) == 1
    assert len({str(ds.PatientID) for ds in study}) == 1
    assert len(set(study.sop_instance_uids)) == len(study)


@FAST
@given(strategies.defective_studies())
def test_defective_studies_are_still_written(case: tuple[str, Study]) -> None:
    name, study = case
    with tempfile.TemporaryDirectory() as folder:
        paths = study.write(Path(folder))
        assert len(set(paths)) == len(study)
        prefixes = {path.read_bytes()[128:132] == b"DICM" for path in paths}
        assert prefixes == {name != "missing-file-meta"}
