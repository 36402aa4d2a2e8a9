"""Load every SVG under a folder (default: /work/corpus, the unpacked npm icon sets) and
report failures (one line each, grouped), dropped features and the median / max wall time
per file. Nothing may crash: an exception other than SVGError is printed as CRASH.

    python3 benchmarks/svg_corpus_load.py [FOLDER] [--step N]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vecdistill.errors import SVGError  # noqa: E402
from vecdistill.svg.parse import load_svg  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default="/work/corpus")
    ap.add_argument("--step", type=int, default=1, help="load every N-th file only")
    args = ap.parse_args()
    files = sorted(Path(args.folder).rglob("*.svg"))[:: args.step]
    errors: collections.Counter = collections.Counter()
    dropped: collections.Counter = collections.Counter()
    crashes = 0
    times = []
    warnings.simplefilter("ignore")
    for f in files:
        t0 = time.perf_counter()
        try:
            scene = load_svg(f)
            dropped.update(scene.dropped)
        except SVGError as exc:
            errors[str(exc).split(": ", 1)[-1][:120]] += 1
        except Exception as exc:  # noqa: BLE001 - a crash is what this script looks for
            crashes += 1
            print(f"CRASH {f}: {type(exc).__name__}: {exc}")
        times.append(time.perf_counter() - t0)
    print(f"files {len(files)}  SVGError {sum(errors.values())}  crashes {crashes}")
    if times:
        print(f"median {statistics.median(times) * 1000:.2f} ms  max {max(times) * 1000:.1f} ms per file")
    for msg, n in errors.most_common(20):
        print(f"  {n:6d}  {msg}")
    if dropped:
        print("dropped features:", dict(dropped))


if __name__ == "__main__":
    main()
