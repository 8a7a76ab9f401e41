"""The modalities ``radsim generate`` knows, by code."""

from __future__ import annotations

from simulator.synth.iods import cr, ct, dx, mg, mr, nm, pdf, pt, sc, sr, us, xa
from simulator.synth.spec import ModalitySpec

MODALITIES: dict[str, ModalitySpec] = {
    spec.code: spec
    for spec in (ct.SPEC, mr.SPEC, cr.SPEC, dx.SPEC, mg.SPEC, us.SPEC, us.SPEC_MULTIFRAME, xa.SPEC, pt.SPEC,
                 nm.SPEC, sc.SPEC, sr.SPEC, pdf.SPEC)
}


def modality_spec(code: str) -> ModalitySpec:
    """The spec for ``code`` (case-insensitive); KeyError lists the known codes."""
    try:
        return MODALITIES[code.upper()]
    except KeyError:
        raise KeyError(f"unknown modality '{code}' (known: {', '.join(MODALITIES)})") from None
