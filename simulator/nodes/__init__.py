"""The department's actors: modality, QA node, workstation and the embedded archive."""
