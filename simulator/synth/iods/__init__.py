"""One module per IOD (PS3.3 Annex A), each exporting ``SPEC``, a :class:`~simulator.synth.spec.ModalitySpec`."""
