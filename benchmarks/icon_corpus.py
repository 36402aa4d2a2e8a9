"""The real icon sets the benchmarks read: which npm packages, where they are unpacked, which
files of each a benchmark takes.

    python benchmarks/icon_corpus.py fetch     # npm pack the four packages into the corpus folder
    python benchmarks/icon_corpus.py           # list the sets found and their file counts

The corpus folder is ``/work/corpus`` (or ``$VECDISTILL_ICON_CORPUS``); each package is
unpacked into ``NAME-VERSION/package`` (``simple-icons-16.37.0/package/icons/*.svg``...), so
that several versions can sit side by side and a results file names the one it read (the
newest is used when there are several). Licences: simple-icons CC0-1.0, @tabler/icons MIT,
@twemoji/svg MIT (graphics CC-BY 4.0), @material-design-icons/svg Apache-2.0. Nothing here is
imported by the package or the tests; benchmarks skip the icon rows when the corpus is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CORPUS = Path(os.environ.get("VECDISTILL_ICON_CORPUS", "/work/corpus"))

# set name -> (npm package, folder of its SVG files inside the unpacked package)
SETS = {
    "simple-icons": ("simple-icons", "icons"),
    "tabler-icons": ("@tabler/icons", "icons/outline"),
    "twemoji-svg": ("@twemoji/svg", ""),
    "material-design-icons-svg": ("@material-design-icons/svg", "filled"),
    # the same package's two-tone style: its even-odd fills go through the exact pass
    "material-two-tone": ("@material-design-icons/svg", "two-tone"),
}
ACCURACY_SETS = ("simple-icons", "tabler-icons", "twemoji-svg", "material-design-icons-svg")


def _folder_name(package: str) -> str:
    """``@tabler/icons`` -> ``tabler-icons`` (the unpacked folder's name before the version)."""
    return package.lstrip("@").replace("/", "-")


def folder(name: str) -> Path | None:
    """The folder holding set ``name``'s SVG files (the newest unpacked version), or None."""
    package, sub = SETS[name]
    found = sorted(CORPUS.glob(f"{_folder_name(package)}-*/package"), key=lambda p: _version_key(p.parent.name))
    return (found[-1] / sub) if found else None


def _version_key(dirname: str) -> tuple:
    version = dirname.rsplit("-", 1)[-1]
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def icon_files(name: str, count: int | None = None, every: int = 1) -> list[Path]:
    """Set ``name``'s SVG files in name order, every ``every``-th, at most ``count`` (None:
    all); empty when the set is not unpacked."""
    where = folder(name)
    files = sorted(where.glob("*.svg")) if where is not None else []
    return files[::every][:count]


def spread(name: str, count: int) -> list[Path]:
    """About ``count`` files spread evenly over set ``name`` (every ``len // count``-th)."""
    files = icon_files(name)
    return files[:: max(1, len(files) // max(count, 1))][:count]


def fetch() -> None:
    """``npm pack`` each package into the corpus folder, unpacked as ``NAME-VERSION/package``
    (network: npm's registry)."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    for package in dict.fromkeys(p for p, _ in SETS.values()):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", package, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
            (tgz,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tgz) as tar:
                tar.extractall(tmp, filter="data")
            version = json.loads((Path(tmp) / "package" / "package.json").read_text())["version"]
            dest = CORPUS / f"{_folder_name(package)}-{version}"
            if dest.exists():
                print(f"{dest} is there already")
                continue
            dest.mkdir()
            shutil.move(str(Path(tmp) / "package"), dest / "package")
            print(f"unpacked {package} {version} into {dest}")


def main() -> None:
    if sys.argv[1:] == ["fetch"]:
        fetch()
    elif sys.argv[1:]:
        sys.exit("usage: python benchmarks/icon_corpus.py [fetch]")
    for name in SETS:
        where = folder(name)
        print(f"{name:28s} {len(icon_files(name)):6d} files  {where if where else f'(not under {CORPUS})'}")


if __name__ == "__main__":
    main()
