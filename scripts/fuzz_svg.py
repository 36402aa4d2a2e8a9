"""Count what the SVG loader does with hostile input (the numbers in the README).

    python3 scripts/fuzz_svg.py [--examples 2000]

Draws ``--examples`` documents from each of the two fuzz strategies of ``tests/fuzz``
(generated documents; real icons with random damage), loads each, then writes back and
rasterizes the ones that load. Prints one JSON object: per strategy, how many loaded and
rendered finite, how many were refused with our own error, and any other exception (a bug).
Exits 1 if there was any other exception.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz.strategies import mutated_samples, svg_documents  # noqa: E402
from vecdistill.errors import VecdistillError  # noqa: E402
from vecdistill.raster import rasterize  # noqa: E402
from vecdistill.svg.parse import load_svg  # noqa: E402
from vecdistill.svg.write import to_svg_string  # noqa: E402


def count(strategy, examples: int) -> dict:
    tally = {"loaded_and_rendered": 0, "refused_with_our_error": 0, "other_exception": 0, "examples_of_bugs": []}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(text: str) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scene = load_svg(text)
            to_svg_string(scene)
            image = rasterize(scene, 24, 24)
            assert bool(image.isfinite().all()) and 0 <= float(image.min()) and float(image.max()) <= 1
            tally["loaded_and_rendered"] += 1
        except VecdistillError:
            tally["refused_with_our_error"] += 1
        except Exception as exc:  # a bug: record it, keep counting
            tally["other_exception"] += 1
            if len(tally["examples_of_bugs"]) < 3:
                tally["examples_of_bugs"].append(f"{type(exc).__name__}: {exc}")

    run()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    report = {name: count(strategy, args.examples)
              for name, strategy in (("generated", svg_documents()), ("mutated_real_icons", mutated_samples()))}
    print(json.dumps(report, indent=1))
    sys.exit(1 if any(r["other_exception"] for r in report.values()) else 0)


if __name__ == "__main__":
    main()
