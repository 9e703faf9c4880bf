"""Structured logs: one JSON object a line, each naming the request it belongs to.

A log line is read by machines first (a log shipper, a search), so each is one JSON object
with the time, level, logger, message and request id: the request id ties Django's lines to
gunicorn's access line of the same request, and to the proxy's when the proxy sends one.
`LOG_FORMAT=plain` keeps the classic text line for a developer's terminal.

The formatter is these few lines of json.dumps rather than a library: it writes a fixed set of
fields and nothing else, so no attribute a caller passes in `extra` (Django's request logger
passes the whole request) can carry a signer's address or a link's token into the log. As a
last guard every line has anything shaped like an email address, and the query string of
anything shaped like a path, blanked: links in emails carry their tokens there.
"""

import contextvars
import datetime as dt
import json
import logging
import os
import re
import secrets

from gunicorn import glogging

# The id of the request being served by this thread (or task); "" outside a request.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like (nginx's $request_id is 32 hex digits): anything else, or
# any id at all without a trusted proxy in front, is replaced by one of our own.
_TRUSTED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}\Z")
_EMAIL = re.compile(r"[^\s@<>\"'(),;:=?&/]+@[^\s@<>\"'(),;:=?&/]+\.[^\s@<>\"'(),;:=?&/]+")
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
# Record attributes written as fields of their own, when set: gunicorn's access line sets
# these (campaign.lib.logs.GunicornLogger), Django's request logger sets status_code.
EXTRA_FIELDS = ("method", "path", "status", "status_code", "bytes", "duration_ms")


def redact(text: str) -> str:
    """Blank email addresses and query strings in a line about to be logged."""
    if "@" not in text and "?" not in text:
        return text  # most lines: neither pattern can match (an address has an @, a query a ?)
    return _QUERY.sub(r"\1?[query]", _EMAIL.sub("[email]", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        current = getattr(record, "request_id", "") or request_id.get()
        if current:
            entry["request_id"] = current
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, int | float) or (isinstance(value, str) and value):
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """The classic text line, with the request id and the same blanking as the JSON one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = getattr(record, "request_id", "") or request_id.get() or "-"
        return redact(super().format(record))


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else PlainFormatter()


def new_request_id() -> str:
    return secrets.token_hex(16)


class RequestIdMiddleware:
    """Give each request an id, for its log lines and its response's X-Request-ID header.

    The id a proxy sends is kept only when a trusted proxy is in front (TRUSTED_PROXY_COUNT),
    which must set the header itself (nginx: `proxy_set_header X-Request-ID $request_id;`), so
    that the proxy's log and ours name the same request; a client's own header is never kept.
    The id stays set until the request is finished (request_finished below), so that Django's
    own "Not Found" and error lines, written after the middleware has returned, carry it too.
    """

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.trust_header = settings.TRUSTED_PROXY_COUNT > 0

    def __call__(self, request):
        sent = request.META.get("HTTP_X_REQUEST_ID", "") if self.trust_header else ""
        current = sent if _TRUSTED_ID.match(sent) else new_request_id()
        request_id.set(current)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = current
        return response


def forget_request_id(**_kwargs) -> None:
    """request_finished: the thread's next log lines belong to no request (until its next)."""
    request_id.set("")


class GunicornLogger(glogging.Logger):
    """gunicorn's error and access logs in the format LOG_FORMAT names (json by default with
    DEBUG off; see gunicorn.conf.py). The JSON access line keeps what the text one does, and no
    more: method, path without its query string, status, size, duration, and the request id the
    response carries. Never the client's address or browser."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.json = _log_format() == "json"
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter("json" if self.json else "plain"))

    def access(self, resp, req, environ, request_time) -> None:
        if not self.json:
            return super().access(resp, req, environ, request_time)
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.logconfig_dict):
            return
        sent_id = next(
            (value for name, value in resp.headers or () if name.lower() == "x-request-id"), ""
        )
        seconds = request_time.seconds + request_time.microseconds / 1e6
        status = int(str(resp.status).split(None, 1)[0]) if resp.status else 0
        self.access_log.info(
            "%s %s %s",
            environ.get("REQUEST_METHOD", "-"),
            environ.get("PATH_INFO", "-"),
            status,
            extra={
                "method": environ.get("REQUEST_METHOD", "-"),
                "path": environ.get("PATH_INFO", "-"),
                "status": status,
                "bytes": getattr(resp, "sent", None) or 0,
                "duration_ms": round(seconds * 1000, 1),
                "request_id": sent_id,
            },
        )


def _log_format() -> str:
    return log_format_for(os.environ.get("LOG_FORMAT", ""), os.environ.get("DEBUG", ""))


def log_format_for(setting: str, debug: str) -> str:
    """LOG_FORMAT, or by default json with DEBUG off and plain with it on."""
    if setting in ("json", "plain"):
        return setting
    return "plain" if debug.strip().lower() in ("1", "true", "yes", "on") else "json"
