"""Pure rules: no I/O. Normalization, column detection, reply classification, signing, time."""
