#!/usr/bin/env python3
"""Slow clients against the real service: does a normal GET stay fast while many
connections dribble their headers ("slowloris"), or ask for big pages and never read
them? And is normal throughput unchanged?

    .venv/bin/python benchmarks/slow_clients.py [--slow 256] [--interval 5] [--readers 16]
                                                [--requests 200] [--no-stock]
                                                [--throughput-seconds 10]

Uses only the project's own ``.venv`` (run ``python3 run.py test`` once to make it). It
starts ``scimserver serve`` with its default settings (2 workers, 4 threads each) on a
free port of 127.0.0.1 with an SQLite database in a temporary directory, and, unless
``--no-stock``, the same app under gunicorn's stock ``gthread`` worker with the same
workers and threads, for comparison. For each server, in the same run:

1. baseline: ``--requests`` GETs of ``/Users?count=1`` to each server, one at a time
   and taking the servers in turn, each on a new connection; p50 / p99 / max;
   (the GETs of a phase are spread over ``--spread`` seconds, longer than the server's
   header timeout, so that slow connections are dropped and reopened meanwhile);
2. under attack: ``--slow`` connections each send a request line, then one header line
   every ``--interval`` seconds and never finish; a connection the server drops is
   reopened at once, so the pressure stays. The same GETs are measured again (each
   given at most ``--get-timeout`` seconds; one that times out counts as failed, at that
   time). The phase is bounded by ``--phase-seconds``;
3. non-readers: ``--readers`` connections each ask for a list page of about 5.5 MB
   (10 users with 900 long e-mail addresses each, made once before the run), with a
   small receive buffer, and never read the answer; one the server drops is reopened.
   The same GETs are measured again;
4. throughput: ``--clients`` keep-alive connections send GETs as fast as they can (no
   slow clients), ``--throughput-seconds`` per server in all, in ``--rounds`` rounds that
   alternate between the servers (both stay up), so that other load on the machine
   falls on both alike; requests per second (the median of the rounds' ratios) and the
   workers' CPU time per request (the least of the rounds: other load only adds to it).

It prints the figures and the ratios (under attack / baseline, ours / stock) and writes
them to ``benchmarks/results/slow-clients-<timestamp>.json``. The target (issue 12):
with 256 slow connections, and with 16 non-reading ones, a normal GET's p99 stays under
1 s with the default settings.

One file on purpose: a benchmark a reader runs and reads top to bottom, with only the
standard library, so it can be copied beside any checkout and run as it is.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "scimserver"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise SystemExit(f"scimserver {' '.join(args)} failed: {out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]


@contextmanager
def running(
    name: str, cmd: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[Server]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"{name} did not start within {STARTUP_SECONDS}s")
        time.sleep(1.0)  # every worker booted
        yield Server(name, port, proc)
    finally:
        with suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


# -- the slow clients ---------------------------------------------------------------------


class Attack:
    """``count`` connections kept open by a thread (reopened when the server drops one),
    for the length of a ``with`` block."""

    #: Seconds after the connections are open before the attack is in full swing.
    settle = 1.0

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.socks: list[socket.socket | None] = [None] * count
        self.opened = 0
        self.dropped = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Attack:
        self.thread.start()
        deadline = time.monotonic() + 30
        while self.opened < self.count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(self.settle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=self.settle + 5)
        for s in self.socks:
            if s is not None:
                s.close()


class Slowloris(Attack):
    """``count`` connections that send one header line every ``interval`` seconds."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        super().__init__(port, count)
        self.interval = interval
        self.settle = interval + 0.5  # every connection has sent a header line too

    def _open(self, i: int) -> None:
        try:
            s = socket.create_connection((LOOPBACK, self.port), timeout=2)
            s.setblocking(False)
            s.send(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
            self.socks[i] = s
            self.opened += 1
        except OSError:
            self.socks[i] = None

    def _run(self) -> None:
        for i in range(self.count):
            if self.stop.is_set():
                return
            self._open(i)
        line = 0
        while not self.stop.wait(self.interval):
            line += 1
            for i, s in enumerate(self.socks):
                if s is None:
                    self._open(i)
                    continue
                try:
                    while s.recv(65536):  # an answer (408) or the close: drop it
                        pass
                    alive = False  # recv returned b"": closed
                except BlockingIOError:
                    alive = True
                except OSError:
                    alive = False
                if alive:
                    try:
                        s.send(b"X-Slow-%d: x\r\n" % line)
                        continue
                    except OSError:
                        pass
                s.close()
                self.dropped += 1
                self._open(i)


class NonReaders(Attack):
    """``count`` connections that each ask for ``path`` and never read the answer
    (the answer is made and waiting on its client within the settling second)."""

    def __init__(self, port: int, count: int, path: str, token: str) -> None:
        super().__init__(port, count)
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()

    def _open(self, i: int) -> None:
        try:
            s = socket.socket()
            # Small, and set before connecting: the window stays small, the answer waits.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            s.settimeout(2)
            s.connect((LOOPBACK, self.port))
            s.sendall(self.request)
            self.socks[i] = s
            self.opened += 1
        except OSError:
            self.socks[i] = None

    def _closed_by_server(self, s: socket.socket) -> bool:
        """Whether the server has closed (or reset) ``s``, without reading from it."""
        poll = select.poll()
        poll.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        return bool(poll.poll(0))

    def _run(self) -> None:
        for i in range(self.count):
            self._open(i)
        while not self.stop.wait(1.0):
            for i, s in enumerate(self.socks):
                if s is not None and not self._closed_by_server(s):
                    continue
                if s is not None:
                    s.close()
                    self.dropped += 1
                self._open(i)


def seed_big_page(port: int, token: str, users: int = 10, emails: int = 900) -> str:
    """Make the users of a ~5.5 MB list page, and the small user the normal GET finds
    (once); return the big page's path."""
    for n in range(users + 1):
        name, count = (f"big-{n}", emails) if n < users else ("small", 1)
        body = json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name,
                "emails": [{"value": f"{'a' * 480}{i}@example.com"} for i in range(count)],
            }
        )
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        conn.request(
            "POST",
            "/scim/v2/organizations/bench/Users",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status != 201:
            raise SystemExit(f"could not create the big page's users: {resp.status}")
    return f"/scim/v2/organizations/bench/Users?filter=userName+sw+%22big-%22&count={users}"


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Latencies:
    requests: int = 0
    failed: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    seconds: float = 0.0
    samples: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("samples")
        return data


def _get(port: int, path: str, token: str, timeout: float) -> tuple[bool, float]:
    t0 = time.perf_counter()
    ok = False
    try:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        ok = resp.status == 200
        conn.close()
    except OSError:
        pass
    return ok, time.perf_counter() - t0


def timed_gets(
    ports: list[int], path: str, token: str, count: int, timeout: float, bound: float, spread: float
) -> list[Latencies]:
    """``count`` GETs to each port, one at a time (taking the ports in turn, in alternating
    order, so that they are measured under the same load), each on a new connection,
    started ``spread / count`` seconds apart (so the phase outlasts the server's header
    timeout); at most ``bound`` seconds."""
    results = [Latencies() for _ in ports]
    start = time.monotonic()
    for i in range(count):
        pause = start + i * spread / count - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if time.monotonic() - start > bound:
            break
        # The first request after the pause meets an idler machine: alternate who goes first.
        turn = list(zip(ports, results, strict=True))
        for port, result in turn if i % 2 == 0 else reversed(turn):
            ok, elapsed = _get(port, path, token, timeout)
            result.requests += 1
            result.failed += 0 if ok else 1
            result.samples.append(elapsed if ok else max(elapsed, timeout))
    for result in results:
        result.seconds = time.monotonic() - start
        samples = sorted(result.samples)
        if samples:
            result.p50_ms = round(statistics.median(samples) * 1000, 2)
            result.p99_ms = round(
                samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 2
            )
            result.max_ms = round(samples[-1] * 1000, 2)
    return results


def throughput(port: int, path: str, token: str, clients: int, seconds: float) -> dict[str, Any]:
    """Keep-alive GETs from ``clients`` threads for ``seconds``; requests per second."""
    counts = [0] * clients
    errors = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        while time.monotonic() < stop_at:
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": sum(counts),
        "errors": sum(errors),
        "rps": round(sum(counts) / seconds, 1),
    }


def measure(
    server: Server, args: argparse.Namespace, path: str, token: str, base: Latencies, big: str
) -> dict[str, Any]:
    def under(attack: Attack) -> Latencies:
        with attack:
            (attacked,) = timed_gets(
                [server.port],
                path,
                token,
                args.requests,
                args.get_timeout,
                args.phase_seconds,
                args.spread,
            )
        print(
            f"[{server.name}]   {attacked.summary()} (connections opened {attack.opened}, "
            f"dropped by the server {attack.dropped})",
            flush=True,
        )
        return attacked

    print(
        f"[{server.name}] {args.slow} slow connections (a line every {args.interval}s) ...",
        flush=True,
    )
    slow = under(Slowloris(server.port, args.slow, args.interval))
    print(f"[{server.name}] {args.readers} connections that do not read ...", flush=True)
    readers = under(NonReaders(server.port, args.readers, big, token))
    return {
        "baseline": base.summary(),
        "under_slow_clients": slow.summary(),
        "p99_ratio": round(slow.p99_ms / base.p99_ms, 2) if base.p99_ms else None,
        "under_non_readers": readers.summary(),
        "non_readers_p99_ratio": round(readers.p99_ms / base.p99_ms, 2) if base.p99_ms else None,
    }


def cpu_seconds(server: Server) -> float:
    """CPU time (user + system) used so far by the server's worker processes (Linux)."""
    master = server.proc.pid
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    total = 0
    for pid in children:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def compare_throughput(
    servers: list[Server], args: argparse.Namespace, path: str, token: str
) -> dict[str, dict[str, Any]]:
    """Throughput of each server, measured in alternating rounds (so that load from
    elsewhere on the machine falls on all of them alike); the rounds are summed."""
    totals: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for server in servers if round_ % 2 == 0 else list(reversed(servers)):
            seconds = args.throughput_seconds / args.rounds
            cpu_before = cpu_seconds(server)
            rate = throughput(server.port, path, token, args.clients, seconds)
            rate["cpu_seconds"] = round(cpu_seconds(server) - cpu_before, 2)
            print(f"[{server.name}] throughput round {round_ + 1}: {rate}", flush=True)
            total = totals.setdefault(
                server.name,
                {"clients": args.clients, "seconds": 0.0, "requests": 0, "errors": 0, "cpu": 0.0},
            )
            total["cpu"] += rate["cpu_seconds"]
            total["seconds"] += seconds
            total.setdefault("round_rps", []).append(rate["rps"])
            total.setdefault("round_cpu_us", []).append(
                round(rate["cpu_seconds"] / max(rate["requests"], 1) * 1e6)
            )
            total["requests"] += rate["requests"]
            total["errors"] += rate["errors"]
    for total in totals.values():
        total["rps"] = round(total["requests"] / total["seconds"], 1)
        # CPU per request is what the worker costs; other load on the machine only adds to
        # it (contention), so the least of the rounds is the closest to the true cost.
        total["cpu_us_per_request"] = round(total.pop("cpu") / max(total["requests"], 1) * 1e6)
        total["min_cpu_us_per_request"] = min(total["round_cpu_us"])
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=256, help="slow connections")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between lines")
    parser.add_argument("--readers", type=int, default=16, help="non-reading connections")
    parser.add_argument("--requests", type=int, default=200, help="GETs per phase")
    parser.add_argument("--get-timeout", type=float, default=10.0)
    parser.add_argument("--phase-seconds", type=float, default=60.0, help="bound of a phase")
    parser.add_argument(
        "--spread", type=float, default=25.0, help="seconds the GETs of a phase are spread over"
    )
    parser.add_argument("--clients", type=int, default=8, help="throughput connections")
    parser.add_argument("--throughput-seconds", type=float, default=30.0, help="per server")
    parser.add_argument("--rounds", type=int, default=10, help="alternating throughput rounds")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock gthread run")
    args = parser.parse_args()

    results: dict[str, Any] = {"settings": vars(args), "servers": {}}
    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
            "SCIMSERVER_INSTANCE_DIR": str(Path(tmp) / "instance"),
            # Counted as always, never reached: the throughput rounds send more than the
            # default 12,000 requests a minute to one organization (then 429s).
            "SCIMSERVER_RATE_LIMIT_ORG_REQUESTS": str(10**9),
            "NO_PROXY": "*",
        }
        cli(env, "orgs", "create", "bench", "--json")
        token = cli(env, "token", "generate", "bench", "--json")["token"]
        # The normal GET: one small user (the big page's users do not match).
        path = "/scim/v2/organizations/bench/Users?count=1&filter=userName+eq+%22small%22"
        servers = [("ours", [str(BIN / "scimserver"), "serve"])]
        if not args.no_stock:
            servers.append(
                (
                    "stock-gthread",
                    [
                        str(BIN / "gunicorn"),
                        "-k",
                        "gthread",
                        "--workers",
                        "2",
                        "--threads",
                        "4",
                        "--access-logfile",
                        "-",
                        "scimserver.wsgi:app",
                    ],
                )
            )
        with ExitStack() as stack:
            started = []
            for name, cmd in servers:
                port = free_port()
                where = (
                    ["--port", str(port)] if name == "ours" else ["--bind", f"{LOOPBACK}:{port}"]
                )
                log = Path(tmp) / f"{name}.log"
                started.append(stack.enter_context(running(name, [*cmd, *where], env, port, log)))
            big = seed_big_page(started[0].port, token)
            print(f"baseline: {args.requests} GETs to each server, in turn ...", flush=True)
            baselines = timed_gets(
                [server.port for server in started],
                path,
                token,
                args.requests,
                args.get_timeout,
                args.phase_seconds,
                args.spread,
            )
            for server, base in zip(started, baselines, strict=True):
                print(f"[{server.name}] baseline {base.summary()}", flush=True)
            for server, base in zip(started, baselines, strict=True):
                results["servers"][server.name] = measure(server, args, path, token, base, big)
            rates = compare_throughput(started, args, path, token)
            for name, rate in rates.items():
                results["servers"][name]["throughput"] = rate

    ours = results["servers"]["ours"]
    print("\n== summary")
    for name, r in results["servers"].items():
        b, a, n = r["baseline"], r["under_slow_clients"], r["under_non_readers"]
        print(
            f"{name:14} baseline p50 {b['p50_ms']} ms p99 {b['p99_ms']} ms | with {args.slow} "
            f"slow: p50 {a['p50_ms']} ms p99 {a['p99_ms']} ms failed {a['failed']}/"
            f"{a['requests']} (p99 x{r['p99_ratio']}) | with {args.readers} non-readers: "
            f"p50 {n['p50_ms']} ms p99 {n['p99_ms']} ms failed {n['failed']}/{n['requests']} "
            f"(p99 x{r['non_readers_p99_ratio']}) | {r['throughput']['rps']} req/s"
        )
    if "stock-gthread" in results["servers"]:
        stock = results["servers"]["stock-gthread"]
        ratio = statistics.median(
            a / max(b, 0.1)
            for a, b in zip(
                ours["throughput"]["round_rps"], stock["throughput"]["round_rps"], strict=True
            )
        )
        # The median of the rounds' ratios: each pair ran back to back, under the same load.
        results["throughput_ratio_ours_to_stock"] = round(ratio, 3)
        cpu = ours["throughput"]["min_cpu_us_per_request"] / max(
            stock["throughput"]["min_cpu_us_per_request"], 1
        )
        results["cpu_per_request_ratio_ours_to_stock"] = round(cpu, 3)
        print(f"throughput ours / stock gthread (median of the rounds' ratios): {ratio:.3f}")
        print(
            f"server CPU per request (least of the rounds): ours "
            f"{ours['throughput']['min_cpu_us_per_request']} us, stock "
            f"{stock['throughput']['min_cpu_us_per_request']} us (ratio {cpu:.3f})"
        )
    target = all(
        ours[phase]["p99_ms"] < 1000 and not ours[phase]["failed"]
        for phase in ("under_slow_clients", "under_non_readers")
    )
    results["target_met"] = target
    print(
        f"target (p99 < 1 s with {args.slow} slow connections, and with {args.readers} "
        f"non-readers, none failed): {'met' if target else 'NOT met'}"
    )
    out = HERE / "results" / f"slow-clients-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO)}")
    return 0 if target else 1


if __name__ == "__main__":
    sys.exit(main())
