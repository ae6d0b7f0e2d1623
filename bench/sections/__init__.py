"""The sections of ``python -m bench.run``, one module each (the scale section in three)."""
