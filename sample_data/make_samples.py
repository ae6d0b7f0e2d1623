"""Write sample_data/customers.xlsx, customers.csv and nightly.csv from the package's generator
(batchverify/files/samples.py, which ``batchverify demo`` uses too): run it again and the bytes are
the same.

    .venv/bin/python sample_data/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

from batchverify.files.samples import SAMPLES, write_samples

HERE = Path(__file__).resolve().parent


def main() -> None:
    write_samples(HERE)
    print(f"wrote {', '.join(SAMPLES)} in {HERE}")


if __name__ == "__main__":
    main()
