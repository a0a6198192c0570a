"""Routes the package's Python ``logging`` records to IceTray's logging inside a tray."""

from __future__ import annotations

import logging

from icecube.icetray import logging as i3logging

_LEVELS = [
    (logging.ERROR, i3logging.log_error),
    (logging.WARNING, i3logging.log_warn),
    (logging.INFO, i3logging.log_info),
    (logging.DEBUG, i3logging.log_debug),
]


class IceTrayLogHandler(logging.Handler):
    """Forwards each record to ``icetray.logging`` with the logger name as the unit."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        for level, fn in _LEVELS:
            if record.levelno >= level:
                fn(msg, unit=record.name)
                return
        i3logging.log_trace(msg, unit=record.name)


def install(package_logger: str = __name__.rsplit(".", 2)[0]) -> None:
    """Attach one :class:`IceTrayLogHandler` to the package logger (idempotent)."""
    log = logging.getLogger(package_logger)
    if not any(isinstance(h, IceTrayLogHandler) for h in log.handlers):
        log.addHandler(IceTrayLogHandler())
        log.setLevel(logging.DEBUG)  # icetray's own per-unit levels decide what is shown
        log.propagate = False
