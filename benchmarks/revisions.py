"""A git revision's ``vecdistill`` package, for the benchmarks that compare two revisions
(``compare_revisions.py`` imports both into one process, ``same_outputs.py`` runs each in a
process of its own)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def extract_package(rev: str, dest: Path) -> Path:
    """Extract the ``vecdistill`` package of git revision ``rev`` (``git archive``, so the
    working tree and its checkouts are left alone) into ``dest`` (created; it must not
    exist). Returns ``dest``, the folder that holds ``vecdistill/``."""
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "vecdistill"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def add_revision_arguments(parser) -> None:
    """The two revisions a comparison takes: ``base`` (the reference) and ``new`` (default:
    the working tree, given as None)."""
    parser.add_argument("base", help="git revision compared against (the reference)")
    parser.add_argument("new", nargs="?", default=None, help="git revision compared with it (default: the working tree)")
