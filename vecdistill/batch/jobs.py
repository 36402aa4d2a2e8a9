"""JOBS files -> :class:`Job` objects.

Three formats, chosen by the file's suffix:

- ``.csv``: a header row; a ``command`` column (``make`` when absent or empty) and one
  column per option (``prompt``, ``svg``, ``source``, ``target``, ``text``, ``concept``,
  ``steps``, ...). Empty cells mean "not set". Values stay strings here; each job kind
  converts them to its config's types.
- ``.jsonl`` / ``.ndjson``: one JSON object per line with the same keys (typed values).
- anything else: text, one prompt per line (``make`` jobs); blank lines and lines starting
  with ``#`` are ignored.

Option names are normalised (``guidance-scale`` == ``guidance_scale``). A ``seed`` or
``seeds`` option on a row overrides the batch's ``--seeds`` for that row.

A job is (command, options, seed). Its id is a hash of exactly that, so a rerun of the same
JOBS file recognises the jobs it already finished, whatever their order in the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

#: Option keys that are about the job itself, not passed to a pipeline's config.
JOB_KEYS = ("command", "seed", "seeds", "name")


@dataclass(frozen=True)
class Job:
    """One unit of work.

    ``command``: the job kind (``make``, ``edit``, ``word``, ``nerf`` or a kind a caller
    registers). ``options``: JSON-compatible values keyed by normalised option names
    (everything but ``command``/``seed``/``seeds``). ``seed``: the random seed.
    ``origin``: where it came from, for messages (``jobs.csv line 3``). ``base_dir``: the
    folder that relative input paths in ``options`` are resolved against (the JOBS file's).
    """

    command: str
    options: Mapping[str, Any]
    seed: int
    origin: str = ""
    base_dir: str = "."
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", job_id(self.command, self.options, self.seed))

    @property
    def stem(self) -> str:
        """The file-name stem of this job's outputs: ``<slug>-s<seed>-<id[:8]>``."""
        o = self.options
        label = o.get("name") or o.get("prompt") or o.get("text") or o.get("target")
        if not label and o.get("svg"):
            label = Path(str(o["svg"])).stem
        return f"{slugify(str(label or self.command))}-s{self.seed}-{self.id[:8]}"

    def resolve(self, value: str) -> Path:
        """An input path option as an absolute path (relative to the JOBS file's folder)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def describe(self) -> dict:
        """The JSON-compatible description that manifests record."""
        return {"id": self.id, "command": self.command, "seed": self.seed, "options": dict(self.options)}


def job_id(command: str, options: Mapping[str, Any], seed: int) -> str:
    """A stable 16-hex-digit id for (command, options, seed); key order does not matter."""
    canonical = json.dumps({"command": command, "options": dict(options), "seed": int(seed)},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def slugify(text: str, limit: int = 40) -> str:
    """A file-name-safe, lower-case version of ``text`` (at most ``limit`` characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "job"


def parse_seeds(spec: str | int | Iterable[int]) -> list[int]:
    """``"0-3"`` -> [0, 1, 2, 3]; ``"0,2,5"`` -> [0, 2, 5]; ``"1-2,7"`` -> [1, 2, 7].

    Duplicates are dropped (first occurrence kept). Raises InputError for anything else.
    """
    if isinstance(spec, int):
        return [spec]
    if not isinstance(spec, str):
        return list(dict.fromkeys(int(s) for s in spec))
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise InputError(f"bad seeds {spec!r}: use a range like 0-3, a list like 0,2,5, or both (1-3,7)")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise InputError(f"bad seeds {spec!r}: range {part} goes down; write it as {hi}-{lo}")
        if hi - lo >= 100_000:
            raise InputError(f"bad seeds {spec!r}: range {part} has more than 100000 seeds")
        seeds.extend(range(lo, hi + 1))
    return list(dict.fromkeys(seeds))


def _normalise_key(key: str) -> str:
    return str(key).strip().lower().replace("-", "_")


def _rows(path: Path) -> Iterable[tuple[int, dict]]:
    """(line number, raw row dict) for each job row of the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"jobs file {path} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"jobs file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read jobs file {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            return
        for row in reader:
            if None in row:
                raise InputError(f"{path.name} line {reader.line_num}: more cells than header columns")
            cells = {k: v.strip() for k, v in row.items() if k is not None and v is not None}
            if any(cells.values()):
                yield reader.line_num, {k: v for k, v in cells.items() if v != ""}
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path.name} line {number}: expected a JSON object like "
                                 '{"command": "make", "prompt": "..."}')
            yield number, {k: v for k, v in row.items() if v is not None}
    else:
        for number, line in enumerate(text.splitlines(), 1):
            prompt = line.strip()
            if prompt and not prompt.startswith("#"):
                yield number, {"command": "make", "prompt": prompt}


def parse_jobs(path: str | Path, seeds: str | Iterable[int] = "0",
               defaults: Mapping[str, Any] | None = None) -> list[Job]:
    """Read a JOBS file and expand it over ``seeds``.

    ``defaults``: options every job gets unless its row sets them (e.g. ``{"model": ...}``
    from ``--model``). Identical jobs (same id) are kept once. Raises InputError for a
    missing, unreadable or empty file and for malformed rows (with the line number).
    """
    path = Path(path)
    batch_seeds = parse_seeds(seeds)
    base_dir = str(path.resolve().parent)
    jobs: dict[str, Job] = {}
    for number, raw in _rows(path):
        row = {_normalise_key(k): v for k, v in raw.items()}
        origin = f"{path.name} line {number}"
        command = str(row.pop("command", "make") or "make").strip().lower()
        row_seeds = batch_seeds
        if "seed" in row and "seeds" in row:
            raise InputError(f"{origin}: give either seed or seeds, not both")
        try:
            if "seed" in row:
                row_seeds = [int(row.pop("seed"))]
            elif "seeds" in row:
                row_seeds = parse_seeds(str(row.pop("seeds")))
        except (TypeError, ValueError):
            raise InputError(f"{origin}: seed must be a whole number") from None
        except InputError as exc:
            raise InputError(f"{origin}: {exc}") from None
        options = {**{_normalise_key(k): v for k, v in (defaults or {}).items()}, **row}
        for seed in row_seeds:
            job = Job(command, dict(sorted(options.items())), seed, origin, base_dir)
            jobs.setdefault(job.id, job)
    if not jobs:
        raise InputError(f"jobs file {path} has no jobs (text: one prompt per line; CSV/JSONL: a "
                         "'command' and the options of each job)")
    return list(jobs.values())
