"""Kill a real `vecdistill make` at random moments and check that each resume gives the SVG
of an uninterrupted run (the byte-for-byte promise of --checkpoint-every / --resume).

Each trial starts `vecdistill make ... --checkpoint-every K` in a child process (one torch
thread), waits for its first checkpoint, sleeps a random time up to --max-delay seconds,
sends SIGTERM, expects exit 143, then runs the same command with --resume and compares the
SVG text with a reference run made once at the start. A kill lands anywhere in a step
(rendering, the prior, the optimiser, the checkpointer's own copies), so many trials probe
what a single test cannot. Prints one line per trial and a summary; exits 1 if any resume
differed or any killed run did not exit 143.

    python3 scripts/kill_resume.py --trials 20

Uses the embedded prior (offline); about 5-10 s per trial on a shared CPU (two process
starts of torch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def make_command(out: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vecdistill.cli", "make", args.prompt, str(out), "-q",
            "--steps", str(args.steps), "--size", "16", "--paths", "3", "--segments", "2", "--seed", str(args.seed), *extra]


def trial(index: int, args: argparse.Namespace, work: Path, reference: str, rng: random.Random, env: dict) -> tuple[bool, str]:
    """One kill and resume; returns (ok, a line saying what happened)."""
    out = work / f"killed{index}.svg"
    proc = subprocess.Popen(make_command(out, args, "--checkpoint-every", str(args.checkpoint_every)),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.with_suffix(".ckpt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    delay = rng.uniform(0.0, args.max_delay)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 143:
        return False, f"killed {delay * 1e3:.0f} ms after the first checkpoint: exit {proc.returncode}, not 143 ({err.strip()[-200:]})"
    resumed = subprocess.run(make_command(out, args, "--resume"), env=env, capture_output=True, text=True, timeout=300)
    if resumed.returncode != 0:
        return False, f"resume failed: exit {resumed.returncode} ({resumed.stderr.strip()[-200:]})"
    manifest = json.loads(out.with_suffix(".json").read_text())
    same = out.read_text() == reference
    return same, f"killed {delay * 1e3:.0f} ms after the first checkpoint, resumed from step {manifest.get('resumed_from')}: {'same SVG' if same else 'DIFFERENT SVG'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--max-delay", type=float, default=0.4, help="seconds after the first checkpoint, at most")
    parser.add_argument("--prompt", default="red heart")
    parser.add_argument("--seed", type=int, default=4, help="the runs' seed")
    parser.add_argument("--kill-seed", type=int, default=0, help="seed of the kill times")
    args = parser.parse_args()
    if args.trials < 1 or args.steps < 2 * args.checkpoint_every or args.checkpoint_every < 1:
        parser.error("need --trials >= 1, --checkpoint-every >= 1 and --steps >= twice it")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(args.kill_seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ref = work / "reference.svg"
        subprocess.run(make_command(ref, args), env=env, check=True, stdout=subprocess.DEVNULL)
        reference = ref.read_text()
        failures, where = 0, Counter()
        for i in range(args.trials):
            ok, line = trial(i, args, work, reference, rng, env)
            failures += not ok
            where[line.split("resumed from step ")[-1].split(":")[0] if "resumed from" in line else "-"] += 1
            print(f"trial {i + 1}/{args.trials}: {line}", flush=True)
    print(f"{args.trials - failures} of {args.trials} resumes gave the uninterrupted run's SVG; resumed from steps {dict(sorted(where.items(), key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0)))}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
