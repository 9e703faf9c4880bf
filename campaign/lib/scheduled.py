"""Periodic jobs run from one entry point (`manage.py run_scheduled`), each under its own lock.

A job is a function that does its work and returns counts ({"deleted": 3}): never a name, an
address or anything else a person typed, because the counts are what is logged. Each run holds
the job's lock (campaign.lib.locks), so a job started twice at once runs once and the other
start is logged as skipped.

Whether a job is due is decided by when it last finished, kept in the shared cache. That record
only saves work: every job must be safe to run again at any time, so a cache that was emptied
makes a job run early, never wrongly. (With a per-process cache, as in development, every job is
due on every call.)
"""

import datetime as dt
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from django.core.cache import cache

from campaign.lib.locks import try_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta  # how often `run_scheduled` without --job runs it
    run: Callable[[], dict[str, int]]
    description: str = ""


class Outcome(Enum):
    DONE = "done"
    NOT_DUE = "not due"
    SKIPPED = "skipped"  # another process holds the job's lock
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    job: Job
    outcome: Outcome
    counts: dict[str, int]
    seconds: float = 0.0


def _finished_key(job: Job) -> str:
    return f"scheduled:finished:{job.name}"


def is_due(job: Job, *, now: float | None = None) -> bool:
    try:
        finished = cache.get(_finished_key(job))
    except Exception:  # the cache is away: run, as every job may run again
        finished = None
    now = time.time() if now is None else now
    return finished is None or now - finished >= job.every.total_seconds()


def _where(error: BaseException) -> str:
    """Where an exception was raised, as file:line of the project's own code nearest to it: an
    operator's lead that carries none of the values its message may hold (a database error
    repeats the row it refused)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if "-packages" not in frame.filename] or frames
    if not own:
        return "unknown"
    return f"{Path(own[-1].filename).name}:{own[-1].lineno}"


def every_text(every: dt.timedelta) -> str:
    """ "1 day", "10 minutes": a job's interval as its operator reads it."""
    seconds = int(every.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}{'s' if seconds != size else ''}"
    return f"{seconds} seconds"


def run_job(job: Job, *, force: bool = False) -> Result:
    """Run a job under its lock: when due, or whatever the record says with `force`. Logs one
    line with its counts. A job that raises is logged by its exception's type and place only,
    and reported as FAILED; the exception is not raised again, so that the next jobs run."""
    with try_lock(f"scheduled:{job.name}") as held:
        if not held:
            logger.info("job %s skipped: it is running elsewhere", job.name)
            return Result(job, Outcome.SKIPPED, {})
        # Read under the lock: a run elsewhere that finished just before this one took the
        # lock has made the job not due.
        if not force and not is_due(job):
            return Result(job, Outcome.NOT_DUE, {})
        started = time.monotonic()
        try:
            counts = job.run()
        except Exception as error:
            seconds = time.monotonic() - started
            logger.error(
                "job %s failed after %.1f s: %s at %s",
                job.name, seconds, type(error).__name__, _where(error),
            )  # fmt: skip
            return Result(job, Outcome.FAILED, {}, seconds)
        seconds = time.monotonic() - started
        try:
            cache.set(_finished_key(job), time.time(), timeout=None)
        except Exception:
            logger.warning("job %s: its finishing time could not be kept in the cache", job.name)
    summary = ", ".join(f"{name} {value}" for name, value in counts.items()) or "nothing to do"
    logger.info("job %s done in %.1f s: %s", job.name, seconds, summary)
    return Result(job, Outcome.DONE, counts, seconds)
