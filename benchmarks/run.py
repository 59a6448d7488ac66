#!/usr/bin/env python3
"""Benchmark scimserver side by side with a Flask+SQLAlchemy ceiling app and scim2-server.

    python3 benchmarks/run.py [--quick] [--users 10000,100000] [--backends sqlite,postgresql]
                              [--duration 10] [--connections 8]

Needs only Python 3.11+: on first use it creates ``benchmarks/.venv`` (this repository
editable with its ``[postgresql]`` extra, plus ``benchmarks/requirements.txt``) and
installs ``wrk`` from Debian's packages when it is missing, then re-runs itself in that
venv. PostgreSQL runs use ``--postgres-url`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``): each server gets a fresh
database with a random name, dropped afterwards.

Every server runs under gunicorn with one worker and four threads (``gthread``),
pinned to CPU 0; wrk runs with one thread pinned to CPU 1. Results go to
``benchmarks/results/<timestamp>.json`` and ``.md``; ``docs/performance.md`` and
``docs/performance-latency.png`` are refreshed unless ``--no-docs``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
SERVER_CPU = "0"
CLIENT_CPU = "1"


# -- bootstrap ---------------------------------------------------------------------------


def _requirements_key() -> str:
    text = (HERE / "requirements.txt").read_text() + (REPO / "pyproject.toml").read_text()
    return hashlib.sha256(text.encode()).hexdigest()


def bootstrap(script: Path | None = None) -> None:
    """Create/refresh benchmarks/.venv and re-exec ``script`` (this one) inside it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    marker = VENV / ".installed"
    if not VENV_PY.exists():
        print(f"creating {VENV.relative_to(REPO)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not marker.exists() or marker.read_text() != _requirements_key():
        print("installing benchmark dependencies into benchmarks/.venv ...", flush=True)
        pip = [str(VENV_PY), "-m", "pip", "install", "-q"]
        subprocess.run(
            [*pip, "-e", f"{REPO}[postgresql]", "-r", str(HERE / "requirements.txt")], check=True
        )
        marker.write_text(_requirements_key())
    target = (script or Path(__file__)).resolve()
    os.execv(str(VENV_PY), [str(VENV_PY), str(target), *sys.argv[1:]])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "error: the load generator 'wrk' is not installed and could not be installed here.\n"
        "Install it (Debian/Ubuntu: 'sudo apt-get install wrk') and run this again."
    )


# -- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


class Server:
    """A gunicorn master we started (own session), pinned to the server CPU."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int,
                 log: Path, ready_file: Path | None = None, start_timeout: float = 600) -> None:
        self.name, self.port = name, port
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *cmd], env=env, cwd=str(HERE),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start; see {log}")
            if ready_file is None or ready_file.exists():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                        pass
                    return
                except urllib.error.HTTPError:
                    return  # it answers (scim2-server has no /healthz)
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} did not start within {start_timeout}s; see {log}")

    def workers(self) -> list[int]:
        from workloads import worker_pids

        return worker_pids(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def gunicorn_cmd(app: str, port: int) -> list[str]:
    # The settings `scimserver serve` uses (scimserver/gunicorn.py): 1 worker, gthread,
    # 4 threads, access log on stdout. --timeout only decides when a hung worker is
    # killed; it is long so that scim2-server can load its seed at import.
    return [str(VENV / "bin" / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "4",
            "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--timeout", "600", app]


# -- databases ---------------------------------------------------------------------------


class Database:
    """A fresh SQLite file or PostgreSQL database, removed by :meth:`drop`."""

    def __init__(self, backend: str, tmp: Path, pg_admin_url: str) -> None:
        self.backend = backend
        self.name = f"scimbench_{uuid.uuid4().hex[:12]}"
        self.pg_admin_url = pg_admin_url
        if backend == "sqlite":
            self.path = tmp / f"{self.name}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self._admin(f'CREATE DATABASE "{self.name}"')
            base = pg_admin_url.rsplit("/", 1)[0]
            self.url = f"{base}/{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        url = self.pg_admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)

    def drop(self) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- the servers under test ----------------------------------------------------------------


class Target:
    """One started, seeded server: where to send requests and how to clean up."""

    def __init__(self, key: str, server: Server, base_path: str, token: str,
                 seeding: dict[str, Any], cursor_last: str | None = None,
                 db: Database | None = None, extra: dict[str, Any] | None = None) -> None:
        self.key, self.server, self.base_path, self.token = key, server, base_path, token
        self.seeding, self.cursor_last, self.db = seeding, cursor_last, db
        self.extra = extra or {}
        self.url = f"http://127.0.0.1:{server.port}"
        self.pids = server.workers()

    def close(self) -> None:
        try:
            self.server.stop()
        finally:
            if self.db is not None:
                self.db.drop()


def shape(value: Any) -> Any:
    """The structure of a resource: keys (in order) and value types, not values."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


#: The rate limits count as in production, but wrk's one organization sends thousands of
#: requests a second: a limit it never reaches (docs/security.md, "Rate limits").
RATE_LIMITS_COUNTING = {"SCIMSERVER_RATE_LIMIT_ORG_REQUESTS": str(10**9)}


def start_ours(backend: str, ctx: dict[str, Any], tmp: Path, *, name: str = "ours",
               env_extra: dict[str, str] | None = None) -> Target:
    import seeding

    db = Database(backend, tmp, ctx["pg_url"])
    key = f"{name}-{backend}"
    try:
        env = {**os.environ, "SCIMSERVER_DATABASE_URL": db.url,
               "SCIMSERVER_INSTANCE_DIR": str(tmp), **RATE_LIMITS_COUNTING, **(env_extra or {})}
        cli = str(VENV / "bin" / "scimserver")
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        port = free_port()
        env["SCIMSERVER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        org = json.loads(subprocess.run([cli, "orgs", "create", "bench", "--json"], env=env,
                                        check=True, capture_output=True, text=True).stdout)
        tok = json.loads(subprocess.run([cli, "token", "generate", "bench", "--json"], env=env,
                                        check=True, capture_output=True, text=True).stdout)
        seed = seeding.seed_ours(db.url, org["slug"], ctx["ds"])
        print(f"  {key}: seeded {seed['users']:,} users in {seed['seconds']} s "
              f"({seed['users_per_s']:,}/s)", flush=True)
        server = Server(key, [cli, "serve", "--workers", "1", "--port", str(port)],
                        env, port, tmp / f"{key}.log")
    except BaseException:
        db.drop()
        raise
    try:
        tenant = tok["tenant_url"]
        check = verify_seed_shape(tenant, tok["token"], ctx["ds"])
        print(f"  {key}: seeded user vs POSTed user: {check['verdict']}", flush=True)
        cursor = last_page_cursor(tenant, tok["token"], len(ctx["ds"].ids))
        return Target(key, server, "/" + tenant.split("/", 3)[3], tok["token"],
                      seed, cursor, db, {"seed_shape_check": check})
    except BaseException:
        server.stop()
        db.drop()
        raise


def last_page_cursor(tenant: str, token: str, total: int) -> str | None:
    """Walk the collection with cursor paging to the cursor of its last 100 users."""
    cursor, seen = "", 0
    while total - seen > 100:
        step = min(1000, total - seen - 100)
        status, page = http("GET", f"{tenant}/Users?cursor={cursor}&count={step}"
                            "&attributes=id", token)
        if status != 200 or not page.get("nextCursor"):
            return None
        cursor, seen = page["nextCursor"], seen + len(page["Resources"])
    return cursor


def verify_seed_shape(tenant: str, token: str, ds: Any) -> dict[str, Any]:
    import seeding

    status, posted = http("POST", f"{tenant}/Users", token,
                          seeding.user_body(10**8, "shape.check@example.com"))
    assert status == 201, (status, posted)
    # A spare user: seeded like the others but in no group, like the POSTed one.
    _, seeded = http("GET", f"{tenant}/Users/{ds.spares[1]}", token)
    _, reread = http("GET", f"{tenant}/Users/{posted['id']}", token)
    http("DELETE", f"{tenant}/Users/{posted['id']}", token)
    ok = shape(seeded) == shape(reread)
    return {"verdict": "identical shape" if ok else "DIFFERENT", "seeded": seeded,
            "posted": reread}


def start_ceiling(backend: str, ctx: dict[str, Any], tmp: Path) -> Target:
    import seeding

    db = Database(backend, tmp, ctx["pg_url"])
    try:
        seed = seeding.seed_ceiling(db.url, ctx["ds"])
        print(f"  ceiling-{backend}: seeded {seed['users']:,} users in {seed['seconds']} s",
              flush=True)
        port = free_port()
        env = {**os.environ, "CEILING_DATABASE_URL": db.url, "CEILING_TOKEN": "ceiling-token"}
        server = Server(f"ceiling-{backend}", gunicorn_cmd("ceiling_app:app", port), env, port,
                        tmp / f"ceiling-{backend}.log")
    except BaseException:
        db.drop()
        raise
    ids = sorted(ctx["ds"].ids)
    return Target(f"ceiling-{backend}", server, "/scim/v2", "ceiling-token", seed,
                  ids[-101] if len(ids) > 100 else None, db)


def start_peer(ctx: dict[str, Any], tmp: Path) -> Target:
    import seeding

    seed_file = tmp / "peer-seed.json"
    ready = tmp / "peer-ready.json"
    ready.unlink(missing_ok=True)
    seeding.write_peer_seed(str(seed_file), ctx["ds"])
    port = free_port()
    env = {**os.environ, "PEER_SEED": str(seed_file), "PEER_TOKEN": "peer-token",
           "PEER_READY": str(ready)}
    try:
        server = Server("scim2-server", gunicorn_cmd("peer_app:app", port), env, port,
                        tmp / "scim2-server.log", ready_file=ready)
    finally:
        seed_file.unlink(missing_ok=True)
    loaded = json.loads(ready.read_text())
    n = len(ctx["ds"].ids)
    seed = {"users": n, "seconds": round(loaded["seconds"], 2),
            "users_per_s": round(n / loaded["seconds"])}
    print(f"  scim2-server: loaded {loaded['resources']:,} resources in {seed['seconds']} s",
          flush=True)
    # scim2-server does not advertise cursor paging by default: no cursor workloads.
    return Target("scim2-server", server, "/v2", "peer-token", seed)


def run_interleaved(targets: list[Target], ctx: dict[str, Any], tmp: Path,
                    suffix: str = "") -> dict[str, dict[str, Any]]:
    """Each workload on each server in turn, so the servers compared are measured
    minutes apart at most (the machine's background load drifts)."""
    import workloads as wl

    tag = uuid.uuid4().hex[:8]
    plans = {t.key: wl.build({**ctx["paths"], "cursor_last": t.cursor_last},
                             len(ctx["ds"].ids), tag) for t in targets}
    names = [w.name for w in max(plans.values(), key=len)]
    if ctx["only"]:
        names = [n for n in names if n in ctx["only"]]
    results: dict[str, dict[str, Any]] = {t.key: {} for t in targets}
    for t in targets:  # warm-up (discarded): imports, pools, caches
        warm = tmp / f"{t.key}-warmup.lua"
        wl.write_script(str(warm), plans[t.key][0], t.base_path, t.token)
        wl.run_wrk(ctx["wrk"], str(warm), t.url, duration=ctx["warmup"],
                   connections=ctx["connections"], client_cpu=CLIENT_CPU, worker_pids=t.pids)
    every_pid = [p for t in targets for p in t.pids]
    for name in names:
        for t in targets:
            w = next((x for x in plans[t.key] if x.name == name), None)
            if w is None:
                continue
            waited = wl.wait_until_idle(every_pid)
            if waited > 2:
                print(f"  (waited {waited:.0f} s for the servers to finish earlier requests)",
                      flush=True)
            script = tmp / f"{t.key}-{name}.lua"
            wl.write_script(str(script), w, t.base_path, t.token)
            r = wl.run_wrk(ctx["wrk"], str(script), t.url, duration=ctx["duration"],
                           connections=ctx["connections"], client_cpu=CLIENT_CPU,
                           worker_pids=t.pids)
            results[t.key][name] = r
            print(f"  {t.key + suffix:26s} {name:20s} {r['rps']:9.1f} req/s  p50 "
                  f"{r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  err {r['errors']:5d}  "
                  f"client CPU {r['client_cpu_share']:4.0%}  RSS "
                  f"{r['server_peak_rss_mb']:.0f} MB", flush=True)
    return results


def run_soak(ctx: dict[str, Any], tmp: Path, backend: str, seconds: float) -> dict[str, Any]:
    """Our service under the mixed workload for ``seconds``, in 30-second wrk runs, with
    the worker's RSS after each: is memory flat?"""
    import workloads as wl

    target = start_ours(backend, ctx, tmp)
    try:
        script = tmp / "soak.lua"
        chunks, samples = max(1, int(seconds // 30)), []
        for i in range(chunks):
            # A new tag per 30-second run: wrk's request counter starts again at 0, and
            # the same POSTed userNames would be 409s (uniqueness), not server errors.
            wl.write_script(str(script), wl.mixed(ctx["paths"], uuid.uuid4().hex[:8]),
                            target.base_path, target.token)
            r = wl.run_wrk(ctx["wrk"], str(script), target.url, duration=30,
                           connections=ctx["connections"], client_cpu=CLIENT_CPU,
                           worker_pids=target.pids)
            rss = round(sum(wl._rss_kb(p)[0] for p in target.pids) / 1024, 1)
            samples.append({"t_s": (i + 1) * 30, "rss_mb": rss, "rps": r["rps"],
                            "errors": r["errors"], "p50_ms": r["p50_ms"]})
            print(f"  soak ours-{backend} {(i + 1) * 30:5d} s  RSS {rss:6.1f} MB  "
                  f"{r['rps']:7.1f} req/s  err {r['errors']}", flush=True)
    finally:
        target.close()
    first, last = samples[0]["rss_mb"], samples[-1]["rss_mb"]
    return {"backend": backend, "users": ctx["size"], "seconds": chunks * 30,
            "samples": samples, "rss_first_mb": first, "rss_last_mb": last,
            "growth": round(last / first - 1, 3) if first else None}


def run_size(ctx: dict[str, Any], tmp: Path, backends: list[str],
             servers: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    peer = start_peer(ctx, tmp) if "scim2-server" in servers else None
    try:
        if peer is not None:
            out["scim2-server"] = {"seeding": peer.seeding, "by_backend_pass": {}}
        for backend in backends:
            targets: list[Target] = []
            try:
                if "ours" in servers:
                    targets.append(start_ours(backend, ctx, tmp))
                if "ceiling" in servers:
                    targets.append(start_ceiling(backend, ctx, tmp))
                measured = run_interleaved(targets + ([peer] if peer else []), ctx, tmp,
                                           f" [{backend}]")
            finally:
                for t in targets:
                    t.close()
            for t in targets:
                out[t.key] = {"seeding": t.seeding, **t.extra, "workloads": measured[t.key]}
            if peer is not None:
                out["scim2-server"]["by_backend_pass"][backend] = measured["scim2-server"]
    finally:
        if peer is not None:
            peer.close()
    return out


# -- main ----------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": sys.version.split()[0]}
    for dist in ("scimserver", "scim2-server", "scim2-models", "flask", "werkzeug",
                 "sqlalchemy", "gunicorn", "psycopg", "pydantic", "marshmallow"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = "?"
    with contextlib.suppress(OSError):
        out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(
            " Copyright")[0].strip()
    return out


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": os.uname().release}


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 users, SQLite only, 3 s per workload")
    parser.add_argument("--users", default=None,
                        help="comma-separated sizes (default 10000,100000)")
    parser.add_argument("--backends", default=None, help="sqlite,postgresql (default both)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per workload (10)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--servers", default="ours,ceiling,scim2-server")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("BENCH_POSTGRES_URL",
                                               "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--soak", type=float, default=0,
                        help="also run the mixed workload on our service for this many seconds "
                             "(issue target: 600) at the largest size, first backend, "
                             "and report RSS over time")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite docs/performance.md and the plot")
    args = parser.parse_args()

    bootstrap()
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers and databases we
    # started are stopped and dropped by the `finally` blocks.
    signal.signal(signal.SIGTERM, _interrupted)
    sys.path.insert(0, str(HERE))
    import report
    import seeding

    wrk = ensure_wrk()
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs; server and client share a core", flush=True)
    sizes = [int(s) for s in (args.users or ("2000" if args.quick else "10000,100000")).split(",")]
    backends = (args.backends or ("sqlite" if args.quick else "sqlite,postgresql")).split(",")
    duration = args.duration or (3.0 if args.quick else 10.0)
    servers = args.servers.split(",")
    command = "python3 benchmarks/run.py " + " ".join(sys.argv[1:])
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: dict[str, Any] = {
        "timestamp": stamp, "command": command.strip(), "machine": machine(),
        "versions": versions(), "settings": {
            "duration_s": duration, "connections": args.connections, "wrk_threads": 1,
            "gunicorn": "1 worker, gthread, 4 threads", "server_cpu": SERVER_CPU,
            "client_cpu": CLIENT_CPU, "sizes": sizes, "backends": backends},
        "load_average_at_start": os.getloadavg(), "runs": {}}
    print(f"benchmark {stamp}: sizes {sizes}, backends {backends}, {duration:g} s per workload",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="scimbench-") as tmpname:
        tmp = Path(tmpname)
        for size in sizes:
            ds = seeding.DataSet.make(size)
            paths = {"ids": str(tmp / "ids.tsv"), "spares": str(tmp / "spares.tsv"),
                     "big_group": ds.big_group, "small_group": ds.small_group}
            ds.write_id_file(paths["ids"])
            ds.write_spare_file(paths["spares"])
            ctx = {"ds": ds, "size": size, "paths": paths, "wrk": wrk, "duration": duration,
                   "warmup": 1.0 if args.quick else 2.0, "connections": args.connections,
                   "pg_url": args.postgres_url, "only": set(filter(None, args.only.split(",")))}
            print(f"\n== {size:,} users + {seeding.SPARES:,} spares (big group "
                  f"{len(ds.big_members):,} members) ==", flush=True)
            out["runs"][str(size)] = run_size(ctx, tmp, backends, servers)
            if args.soak > 0 and size == max(sizes):
                print(f"\n== memory soak: {args.soak:g} s mixed workload ==", flush=True)
                out["soak"] = run_soak(ctx, tmp, backends[0], args.soak)
    out["load_average_at_end"] = os.getloadavg()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    json_path = results / f"{stamp}.json"
    json_path.write_text(json.dumps(out, indent=2))
    md = report.markdown(out)
    (results / f"{stamp}.md").write_text(md)
    print("\n" + md)
    print(f"results: {json_path} and {json_path.with_suffix('.md')}")
    if not args.no_docs:
        report.update_docs(out, md, REPO / "docs")
        print("updated docs/performance.md and docs/performance-latency.png")


if __name__ == "__main__":
    main()
