"""The documentation's pictures of the workbooks a Chinese upload gets back (``make renders``): the
sample list checked against the simulator in Chinese, the result and the problems workbooks printed
by LibreOffice as they come (its print layout: landscape, one page wide), page 1 of each as a PNG.

Needs LibreOffice (soffice) and poppler's pdftoppm."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def print_pdf(office: str, book: Path, outdir: Path, profile: Path) -> Path:
    subprocess.run(
        [office, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
         "--convert-to", "pdf", "--outdir", str(outdir), str(book)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return outdir / f"{book.stem}.pdf"


def main(target: Path) -> None:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None or shutil.which("pdftoppm") is None:
        sys.exit(
            "needs LibreOffice (soffice) and pdftoppm (apt-get install libreoffice-calc-nogui poppler-utils)"
        )
    work = Path(tempfile.mkdtemp(prefix="batchverify-renders-"))
    listed = work / "customers.xlsx"
    shutil.copy(ROOT / "sample_data" / "customers.xlsx", listed)
    problems = work / "customers.problems.xlsx"
    env = {"HOME": str(work), "PATH": "/usr/bin:/bin", "TZ": "Asia/Shanghai"}
    args = ["run", str(listed), "--simulator", "--yes", "--language", "zh-CN", "--problems", str(problems)]
    subprocess.run([sys.executable, "-m", "batchverify", *args], env=env, capture_output=True, timeout=300)
    books = ((work / "customers.verified.xlsx", "result-zh", 330), (problems, "problems-zh", 120))
    for book, name, top in books:
        pdf = print_pdf(office, book, work / "pdf", work / "lo-profile")
        page = ["pdftoppm", "-f", "1", "-l", "1", "-png", "-singlefile"]
        subprocess.run([*page, "-r", "110", str(pdf), str(target / name)], check=True)
        # and its top left at print size: what a person reads on the sheet
        crop = ["-r", "240", "-x", "160", "-y", str(top), "-W", "1500", "-H", "560"]
        subprocess.run([*page, *crop, str(pdf), str(target / f"{name}-detail")], check=True)
        print(f"{target / name}.png", f"{target / name}-detail.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
