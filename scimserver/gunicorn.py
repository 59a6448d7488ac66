"""Running the app under gunicorn from the CLI, with the same settings in every worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from .access_log import RedactingLogger
from .http_worker import BufferingWorker, ReadLimits


@dataclass(frozen=True)
class ServeOptions:
    """What ``scimserver serve`` sets on gunicorn (see docs/security.md for the sizing)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    #: Seconds a request's headers (and then its body) may take to arrive.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: Seconds an answer may wait for the client to take more of it.
    send_timeout: float = 30.0
    #: Open connections per worker, idle and slow ones included.
    max_connections: int = 1000
    #: Peers whose X-Forwarded-Proto (and other forwarding headers) gunicorn believes.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    max_request_bytes: int = 1024 * 1024
    #: Bytes of unfinished requests a worker holds at most before refusing more (503).
    max_buffered_bytes: int = 64 * 1024 * 1024
    #: Bytes of answers a worker holds for clients before it drops the slowest readers.
    max_output_bytes: int = 256 * 1024 * 1024


class _Server(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app()


def gunicorn_options(options: ServeOptions) -> dict[str, Any]:
    """gunicorn's settings for ``options``: the buffering worker and the redacting log."""
    limits = ReadLimits(
        header_timeout=options.header_timeout,
        body_timeout=options.body_timeout,
        max_body_bytes=options.max_request_bytes,
        max_buffered_bytes=options.max_buffered_bytes,
        send_timeout=options.send_timeout,
        max_output_bytes=options.max_output_bytes,
    )
    return {
        "bind": f"{options.host}:{options.port}",
        "workers": max(1, options.workers),
        "worker_class": BufferingWorker.with_limits(limits),
        "threads": max(1, options.threads),
        "worker_connections": max(1, options.max_connections),
        "accesslog": "-",
        "logger_class": RedactingLogger,
        "forwarded_allow_ips": options.forwarded_allow_ips,
        "timeout": 60,
        "graceful_timeout": 10,
        # gunicorn 25+ opens a control socket at one fixed path per user
        # (~/.gunicorn/gunicorn.ctl) that can change workers or stop the server; every
        # instance on a host would share it, and the service is managed by its
        # process supervisor instead.
        "control_socket_disable": True,
    }


def run(options: ServeOptions) -> None:
    """Each worker builds its own app (and database pool) after the fork."""
    _Server(gunicorn_options(options)).run()
