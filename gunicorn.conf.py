"""gunicorn settings for production and `make serve`; each value can come from the environment."""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

_host = os.environ.get("HOST", "127.0.0.1")
bind = os.environ.get("GUNICORN_BIND", f"{_host}:{os.environ.get('PORT', '8000')}")
# One process per core plus one, three threads each (the gthread worker): a thread waiting on
# PostgreSQL or Redis lets another run, and connections are kept alive, which sync workers do
# not do. Measured on two cores at 64 signing clients (bench/PROFILE.md): 3 workers x 3 threads
# signed the most with the lowest tail; more threads per process lost more to the GIL.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "3"))
worker_class = "gthread" if threads > 1 else "sync"
# How many connections one worker holds at once. Workers race to accept, and a kept-alive
# connection stays with the worker that took it, so without a cap one worker could end up with
# most of a burst of clients while the others idle (seen in bench runs: one GIL-bound worker
# serving 64 clients at a third of the usual rate). Eight per thread spreads them; a worker at
# its cap answers with "Connection: close" rather than keep more alive, so nobody waits.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", threads * 8))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound; not too often,
# as a new worker starts with empty per-process caches (at a peak, 5,000 meant every 20 s).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = 5000
# Each worker loads the application itself, so that a reload (SIGHUP: `make release`, systemd's
# reload) starts workers on the new code while the old ones finish their requests. A preloaded
# application would be forked from the master as it was at start: a HUP would bring back the
# old code. New workers take a second or two to load; meanwhile the listening socket, which
# the master keeps open, holds new connections until they accept (bench/FAULTS.md, "graceful
# reload").
preload_app = False
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The access log keeps method, path, status, size and duration: no client address (%(h)s), no
# query string (links in emails carry their tokens there), no browser details.
# With LOG_FORMAT=json (the default unless DEBUG is on) both logs are JSON lines with the same
# fields, plus the request id the response carries (campaign/lib/logs.py); the text format
# below is for LOG_FORMAT=plain.
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(b)s %(M)sms"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "campaign.lib.logs.GunicornLogger"

# Request latencies are measured in each worker and summed by whichever worker Prometheus
# asks (campaign/lib/metrics.py): the Prometheus client's multiprocess mode, whose files live
# in PROMETHEUS_MULTIPROC_DIR. One directory per gunicorn instance, emptied when the master
# starts (not on a reload: a counter must not go backwards while the instance runs); without
# one set, a new temporary directory is made and removed on exit. Set before any worker
# imports the client, which reads it once.
_MADE_PREFIX = "campaign-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_MADE_PREFIX)


def on_starting(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.parent == Path(tempfile.gettempdir()) and directory.name.startswith(_MADE_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)
