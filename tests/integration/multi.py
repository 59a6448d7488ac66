"""Several ``scimserver serve`` instances on one PostgreSQL database, for the multi-process tests.

A :class:`Cluster` creates a fresh, randomly named database (dropped ``WITH (FORCE)``
afterwards), migrates it once with ``scimserver db upgrade``, and starts each instance as
its own gunicorn process group on a free port of 127.0.0.1, exactly as an operator would
run N instances behind a load balancer. Everything is bounded in time: CLI calls, startup
polling, requests and shutdown (SIGTERM, then SIGKILL).

:func:`fresh_request` sends one request on a new TCP connection and reports which gunicorn
worker process answered it (found through ``/proc``), so a test can show that *every*
worker of an instance behaves the same, not just whichever one the kernel picked.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

from .support import LOOPBACK, REQUEST_TIMEOUT, ScimSession, require_loopback

T = TypeVar("T")

CLI_TIMEOUT = 60.0
STARTUP_TIMEOUT = 30.0
STARTUP_POLL_INTERVAL = 0.1
SHUTDOWN_TIMEOUT = 10.0
#: Longest a group of concurrent requests may take before the test gives up on it.
BURST_TIMEOUT = 30.0

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- CLI ----------------------------------------------------------------------------------


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("scimserver")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "scimserver"]


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``scimserver ARGS`` with ``env``; with ``check`` a non-zero exit fails the test
    with the command's output."""
    proc = subprocess.run(
        [*cli_command(), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`scimserver {' '.join(args)}` exited {proc.returncode}\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return proc


def run_cli_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = run_cli(env, *args)
    try:
        data = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"`scimserver {' '.join(args)}` did not print JSON\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        ) from exc
    assert isinstance(data, dict), f"`scimserver {' '.join(args)}` printed {data!r}"
    return data


# --- database -----------------------------------------------------------------------------


def libpq_dsn(url: str) -> str:
    """A psycopg DSN from a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh, randomly named database on the server of ``server_url``; dropped afterwards."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(server_url)
    name = f"scim_mp_{secrets.token_hex(6)}"
    with psycopg.connect(libpq_dsn(server_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(libpq_dsn(server_url), autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def stop_process_groups(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group we started (a gunicorn master and its workers) at once,
    wait for all of them, then SIGKILL whichever group is still there."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=SHUTDOWN_TIMEOUT)


def child_pids(parent: int) -> set[int]:
    """Processes whose parent is ``parent`` (gunicorn workers of a master), from ``/proc``."""
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            children.add(int(entry.name))
    return children


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the 127.0.0.1 TCP socket ``local_port`` ↔ ``remote_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, remote, inode = cols[1], cols[2], cols[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == local_port
                and int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                return inode
    return None


def _owner(pids: set[int], inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


@dataclass
class Instance:
    """One ``scimserver serve`` (a gunicorn master and its workers) on 127.0.0.1."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def tenant_url(self, slug: str) -> str:
        return f"{self.base_url}/scim/v2/organizations/{slug}"

    def worker_pids(self) -> set[int]:
        return child_pids(self.proc.pid)

    def session(self, slug: str, token: str) -> ScimSession:
        return ScimSession(self.tenant_url(slug), token, content_type="application/scim+json")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def start_instance(
    name: str, env: dict[str, str], workers: int, logdir: Path, *serve_args: str
) -> Instance:
    """Start ``scimserver serve [serve_args]`` in its own process group; does not wait."""
    port = free_port()
    env = {**env, "SCIMSERVER_PUBLIC_URL": f"http://{LOOPBACK}:{port}"}
    log_path = logdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *cli_command(),
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--workers",
                str(workers),
                *serve_args,
            ],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Instance(name=name, port=port, proc=proc, log_path=log_path)


def wait_until_ready(instance: Instance, workers: int) -> None:
    """Poll ``/healthz`` until it answers 200 and all ``workers`` are forked; bounded."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    max_attempts = int(STARTUP_TIMEOUT / STARTUP_POLL_INTERVAL) + 1
    last: object = None
    with requests.Session() as probe:
        probe.trust_env = False
        for _ in range(max_attempts):
            if instance.proc.poll() is not None or time.monotonic() > deadline:
                break
            try:
                resp = probe.get(f"{instance.base_url}/healthz", timeout=2, allow_redirects=False)
                last = resp.status_code
                if resp.status_code == 200 and len(instance.worker_pids()) >= workers:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(STARTUP_POLL_INTERVAL)
    raise AssertionError(
        f"{instance.name} was not ready within {STARTUP_TIMEOUT}s (exit code "
        f"{instance.proc.poll()}, last probe {last!r})\nlog:\n{instance.log_tail()}"
    )


# --- the cluster --------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    name: str
    slug: str
    token: str


@dataclass
class Cluster:
    """N instances sharing one database, and the environment their CLI runs with."""

    database_url: str
    env: dict[str, str]
    instances: list[Instance] = field(default_factory=list)
    orgs: dict[str, Org] = field(default_factory=dict)

    def cli_json(self, *args: str) -> dict[str, Any]:
        return run_cli_json(self.env, *args)

    def create_org(self, prefix: str) -> Org:
        name = f"{prefix}-{secrets.token_hex(4)}"
        created = self.cli_json("orgs", "create", name, "--json")
        slug = created["slug"]
        assert isinstance(slug, str), created
        return Org(name=name, slug=slug, token=self.generate_token(name))

    def generate_token(self, org_name: str) -> str:
        token = self.cli_json("token", "generate", org_name, "--json")["token"]
        assert isinstance(token, str) and token.startswith("scim_"), token
        return token

    def logs(self) -> str:
        return "\n".join(f"--- {i.name} ---\n{i.log_tail()}" for i in self.instances)


@contextmanager
def running_cluster(
    server_url: str,
    logdir: Path,
    *,
    instances: int = 2,
    workers: int = 2,
    orgs: tuple[str, ...] = (),
) -> Iterator[Cluster]:
    """A fresh database, ``db upgrade`` once, then ``instances`` x ``serve --workers N``.

    An organisation (and its first token) is made with the CLI for each prefix in ``orgs``
    while the instances boot; they are in ``Cluster.orgs`` by prefix.
    """
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database(server_url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
            "SCIMSERVER_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "*",
        }
        run_cli(env, "db", "upgrade")
        cluster = Cluster(database_url=database_url, env=env)
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_process_groups, procs)
        for n in range(instances):
            instance = start_instance(f"instance-{n + 1}", env, workers, logdir)
            procs.append(instance.proc)
            cluster.instances.append(instance)
        for prefix in orgs:
            cluster.orgs[prefix] = cluster.create_org(prefix)
        for instance in cluster.instances:
            wait_until_ready(instance, workers)
        yield cluster


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    worker: int | None
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def fresh_request(
    instance: Instance,
    path: str,
    headers: dict[str, str],
    method: str = "GET",
    *,
    source: str = LOOPBACK,
) -> Answer:
    """One request on a brand-new TCP connection; also says which worker process answered.

    The worker is found while the connection is still open (gunicorn keeps it alive for a
    moment after the response): the server end of our socket is an fd of exactly one worker.
    ``source`` is the client's own address: another loopback address (``127.0.0.2``) is
    another client to the server, which still only talks to 127.0.0.1.
    """
    url = instance.base_url + path
    require_loopback(url)
    conn = http.client.HTTPConnection(
        LOOPBACK, instance.port, timeout=REQUEST_TIMEOUT, source_address=(source, 0)
    )
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", errors="replace")
        worker: int | None = None
        if conn.sock is not None:
            inode = _socket_inode(instance.port, conn.sock.getsockname()[1])
            if inode is not None:
                worker = _owner(instance.worker_pids(), inode)
        return Answer(resp.status, worker, body, dict(resp.getheaders()))
    finally:
        conn.close()


def concurrently(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on one thread each, released together by a barrier; results in order."""
    barrier = threading.Barrier(len(calls), timeout=BURST_TIMEOUT)

    def start(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(start, call) for call in calls]
        deadline = time.monotonic() + BURST_TIMEOUT
        return [f.result(timeout=max(0.1, deadline - time.monotonic())) for f in futures]
