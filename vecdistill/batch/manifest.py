"""The batch manifest: ``OUTDIR/manifest.jsonl``, one JSON record per job attempt.

Record fields: ``job`` (the job id), ``command``, ``seed``, ``options``, ``status``
(``ok`` | ``failed`` | ``skipped``), ``outputs`` (name -> path relative to OUTDIR),
``seconds`` (wall time of the attempt), ``error`` (one line, or null), ``worker`` (which
process ran it), ``time`` (UTC, ISO 8601, when the record was written) and ``info``
(what the job reported, e.g. its final loss). ``skipped`` records carry ``reason``.

Only one process writes it (the driver), one whole line per ``os.write`` on an
``O_APPEND`` descriptor followed by ``fsync``: a crash or Ctrl-C leaves complete lines,
and at worst a torn last line, which readers ignore and the next writer cuts off.
A lock file stops two batches writing to the same OUTDIR at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, OutputError
from .jobs import Job

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".manifest.lock"


def read_records(path: str | Path) -> tuple[list[dict], int]:
    """All complete records of a manifest file, and how many lines were unreadable.

    A missing file has no records. Lines that are not a JSON object (a torn last line after
    a crash) are skipped and counted."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    records, bad = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            bad += 1
            continue
        if isinstance(record, dict) and "job" in record and "status" in record:
            records.append(record)
        else:
            bad += 1
    return records, bad


class ManifestWriter:
    """Appends records to ``OUTDIR/manifest.jsonl``; use as a context manager.

    Opening takes an exclusive lock on ``OUTDIR/.manifest.lock`` (OutputError if another
    batch holds it) and cuts a torn last line left by a crash."""

    def __init__(self, outdir: str | Path) -> None:
        self.path = Path(outdir) / MANIFEST_NAME
        self._fd: int | None = None
        self._lock_fd: int | None = None

    def __enter__(self) -> ManifestWriter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        outdir = self.path.parent
        try:
            outdir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(outdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write to {outdir}: {exc.strerror}; choose a writable folder") from None
        try:
            import fcntl

            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not on POSIX: no lock
            pass
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise OutputError(f"another batch is writing to {outdir}; wait for it or choose another OUTDIR") from None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as handle:
            handle.seek(max(0, size - 1))
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
        os.ftruncate(self._fd, data.rfind(b"\n") + 1)
        os.fsync(self._fd)

    def append(self, record: dict) -> None:
        """Write one record as one line, then flush it to disk."""
        if self._fd is None:
            raise RuntimeError("ManifestWriter.append before open()")
        line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n"
        data = line.encode("utf-8")
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def close(self) -> None:
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)


def make_record(job: Job, status: str, *, outputs: dict | None = None, seconds: float = 0.0,
                error: str | None = None, worker: str = "", info: dict | None = None,
                reason: str | None = None) -> dict:
    """A manifest record for one attempt of ``job``."""
    record = {
        "job": job.id,
        "command": job.command,
        "seed": job.seed,
        "status": status,
        "outputs": outputs or {},
        "seconds": round(float(seconds), 3),
        "error": error,
        "worker": worker,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "options": dict(job.options),
        "info": info or {},
    }
    if reason is not None:
        record["reason"] = reason
    return record


@dataclass
class Plan:
    """What a (re)run does: ``run`` the jobs listed, ``skip`` the others (job, reason, last
    attempt's record)."""

    run: list[Job] = field(default_factory=list)
    skip: list[tuple[Job, str, dict]] = field(default_factory=list)


def last_attempts(records: Iterable[dict]) -> dict[str, dict]:
    """job id -> its last record with status ok or failed (skipped records are not attempts)."""
    last: dict[str, dict] = {}
    for record in records:
        if record.get("status") in ("ok", "failed"):
            last[record["job"]] = record
    return last


def plan_batch(jobs: list[Job], outdir: str | Path, retry_failed: bool = False) -> Plan:
    """Decide which jobs to run given the manifest already in ``outdir``.

    A job is skipped when its last attempt was ``ok`` and all its recorded outputs still
    exist, or when it ``failed`` and ``retry_failed`` is False. Everything else runs: new
    jobs, jobs interrupted before they recorded anything, and ok jobs whose outputs were
    deleted."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"OUTDIR {outdir} is a file; give a folder")
    records, _ = read_records(outdir / MANIFEST_NAME)
    last = last_attempts(records)
    plan = Plan()
    for job in jobs:
        previous = last.get(job.id)
        if previous is None:
            plan.run.append(job)
        elif previous["status"] == "ok":
            outputs = previous.get("outputs") or {}
            if outputs and all((outdir / rel).exists() for rel in outputs.values()):
                plan.skip.append((job, "done in an earlier run", previous))
            else:
                plan.run.append(job)
        elif retry_failed:
            plan.run.append(job)
        else:
            plan.skip.append((job, "failed in an earlier run; pass --retry-failed to run it again", previous))
    return plan
