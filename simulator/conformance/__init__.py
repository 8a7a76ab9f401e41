"""What the standard asks of a PACS, as data the scenarios check against: which query keys an SCP must return
(:mod:`keys`), and the known deviations of real PACS, with their evidence (:mod:`deviations`)."""
