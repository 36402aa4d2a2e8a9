"""SVG reading and writing speed on the committed icon samples (tests/data/icons).

For each file: median CPU time (process_time: stable on a shared machine) over ``--repeat`` runs of ``load_svg``, of ``to_svg_string``, and of
two references measured in the same run: svgpathtools' ``svg2paths2`` (reads <path> and
basic shapes into svgpathtools objects, no styles) and a bare ``xml.etree`` parse.
Prints per-set medians and the ratio ours / svgpathtools.

    python3 benchmarks/bench_svg_io.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from svgpathtools import svg2paths2  # noqa: E402

from vecdistill.svg.parse import load_svg  # noqa: E402
from vecdistill.svg.write import to_svg_string  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    files = sorted((ROOT / "tests" / "data" / "icons").rglob("*.svg"))
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    warnings.simplefilter("ignore")
    for f in files:
        text = f.read_text()
        scene = load_svg(f)
        load_t = median_time(lambda f=f: load_svg(f), args.repeat)
        write_t = median_time(lambda s=scene: to_svg_string(s), args.repeat)
        spt_t = median_time(lambda f=f: svg2paths2(str(f)), args.repeat)
        xml_t = median_time(lambda t=text: ET.fromstring(t), args.repeat)
        rows.setdefault(f.parent.name, []).append((load_t, write_t, spt_t, xml_t))
    print(f"{'set':<14}{'files':>6}{'load_svg ms':>13}{'to_svg ms':>11}{'svgpathtools ms':>17}{'etree ms':>10}{'ours/svgpathtools':>19}")
    everything = []
    for name, r in sorted(rows.items()):
        everything += r
        cols = [statistics.median(c) * 1000 for c in zip(*r)]
        print(f"{name:<14}{len(r):>6}{cols[0]:>13.2f}{cols[1]:>11.2f}{cols[2]:>17.2f}{cols[3]:>10.3f}{cols[0] / cols[2]:>19.2f}")
    cols = [statistics.median(c) * 1000 for c in zip(*everything)]
    print(f"{'all':<14}{len(everything):>6}{cols[0]:>13.2f}{cols[1]:>11.2f}{cols[2]:>17.2f}{cols[3]:>10.3f}{cols[0] / cols[2]:>19.2f}")


if __name__ == "__main__":
    main()
