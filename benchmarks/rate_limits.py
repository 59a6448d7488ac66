#!/usr/bin/env python3
"""What the rate limits cost a valid request: our service with them and without, side by side.

    python3 benchmarks/rate_limits.py [--users 2000] [--backends sqlite,postgresql]
                                      [--duration 10] [--rounds 3] [--only get_user,...]

Two ``scimserver serve --workers 1`` per backend, seeded alike (as benchmarks/run.py
seeds ours): **limits**, with the rate limits counting as in production (failed
authentications per address at the default; requests per organization counted in
memory and added to the shared counter every 100, against a limit wrk never reaches),
and **no-limits**, with both limits set to 0. Each workload runs on each server in
turn, ``--rounds`` times, alternating which goes first; the figures are the median of
the rounds, and "limits / no-limits" is the ratio of those medians (req/s; p50 and p99
latency, and the worker's own CPU time per request, the steadiest of them on a shared
machine). Same pinning as run.py: servers on CPU 0, wrk on CPU 1. Results go to
``benchmarks/results/rate-limits-<timestamp>.json`` and ``.md``.

``--instructions`` counts CPU instructions per ``GET /Users/{id}`` (and ``PATCH`` of
``active``: ``--methods``) instead, with
valgrind's callgrind, through the Flask test client in one process (limits on and
off; the difference between 100 and 1,000 requests, so start-up and set-up cancel).
Instruction counts do not depend on what else the machine runs. ``--micro`` times the
limiter's own work per request in a loop (CPU time of every thread, flushes included).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: bootstrap, servers, databases)

NO_LIMITS = {"SCIMSERVER_RATE_LIMIT_AUTH_FAILURES": "0", "SCIMSERVER_RATE_LIMIT_ORG_REQUESTS": "0"}
DEFAULT_WORKLOADS = "get_user,filter_username,patch_user"


def measure(
    targets: list[run.Target], ctx: dict[str, Any], tmp: Path, names: list[str], rounds: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    import workloads as wl

    tag = uuid.uuid4().hex[:8]
    plans = {
        t.key: wl.build({**ctx["paths"], "cursor_last": t.cursor_last}, len(ctx["ds"].ids), tag)
        for t in targets
    }
    for t in targets:  # warm-up (discarded)
        warm = tmp / f"{t.key}-warmup.lua"
        wl.write_script(str(warm), plans[t.key][0], t.base_path, t.token)
        wl.run_wrk(
            ctx["wrk"],
            str(warm),
            t.url,
            duration=2.0,
            connections=ctx["connections"],
            client_cpu=run.CLIENT_CPU,
            worker_pids=t.pids,
        )
    pids = [p for t in targets for p in t.pids]
    out: dict[str, dict[str, list[dict[str, Any]]]] = {t.key: {} for t in targets}
    for r in range(rounds):
        for name in names:
            order = targets if r % 2 == 0 else list(reversed(targets))
            for t in order:
                w = next(x for x in plans[t.key] if x.name == name)
                wl.wait_until_idle(pids)
                script = tmp / f"{t.key}-{name}.lua"
                wl.write_script(str(script), w, t.base_path, t.token)
                ticks = wl.cpu_ticks(t.pids)
                res = wl.run_wrk(
                    ctx["wrk"],
                    str(script),
                    t.url,
                    duration=ctx["duration"],
                    connections=ctx["connections"],
                    client_cpu=run.CLIENT_CPU,
                    worker_pids=t.pids,
                )
                # The worker's own CPU time per request: far steadier than req/s when
                # other processes share the machine.
                used = (wl.cpu_ticks(t.pids) - ticks) / os.sysconf("SC_CLK_TCK")
                res["cpu_ms_per_request"] = round(1000 * used / max(1, res["requests"]), 4)
                out[t.key].setdefault(name, []).append(res)
                print(
                    f"  round {r + 1} {t.key:24s} {name:16s} {res['rps']:8.1f} req/s  "
                    f"p50 {res['p50_ms']:6.2f} ms  p99 {res['p99_ms']:6.2f} ms  "
                    f"CPU {res['cpu_ms_per_request']:.3f} ms/req  err {res['errors']}",
                    flush=True,
                )
    return out


def median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def report(out: dict[str, Any]) -> str:
    lines = [
        f"# Rate limits: what they cost a valid request ({out['timestamp']})",
        "",
        f"`{out['command']}`; {out['users']:,} users, {out['duration_s']:g} s per "
        f"workload, {out['rounds']} rounds (medians), load average at start "
        f"{out['load_average_at_start'][0]:.2f}.",
        "",
        "| backend | workload | CPU ms/req limits | CPU ms/req no-limits | CPU ratio "
        "| req/s ratio | p50 ratio | p99 ratio | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, per in out["backends"].items():
        on, off = per["limits"], per["no-limits"]
        for name in on:
            rps_on, rps_off = median(on[name], "rps"), median(off[name], "rps")
            p50 = median(on[name], "p50_ms") / median(off[name], "p50_ms")
            p99 = median(on[name], "p99_ms") / median(off[name], "p99_ms")
            errors = sum(r["errors"] for r in on[name] + off[name])
            cpu_on = median(on[name], "cpu_ms_per_request")
            cpu_off = median(off[name], "cpu_ms_per_request")
            lines.append(
                f"| {backend} | {name} | {cpu_on:.3f} | {cpu_off:.3f} | "
                f"{cpu_on / cpu_off:.3f} | {rps_on / rps_off:.3f} | {p50:.3f} | "
                f"{p99:.3f} | {errors} |"
            )
    return "\n".join(lines) + "\n"


# -- CPU instructions per request (callgrind), stable on a shared machine -----------------


def child(database_url: str, limits: bool, requests: int, method: str) -> None:
    """In a process under callgrind: the app through the Flask test client, ``requests``
    GETs (or PATCHes of ``active``) of a user after the same set-up and warm-up whatever
    ``requests`` is. Ids and the token come from a seeded generator, so both runs build
    the same database."""
    import random
    import secrets

    seeded = random.Random(0)
    uuid.uuid4 = lambda: uuid.UUID(int=seeded.getrandbits(128), version=4)  # type: ignore[assignment]
    secrets.token_urlsafe = lambda n=32: seeded.getrandbits(8 * n).to_bytes(n).hex()  # type: ignore[assignment]

    from scimcore import issue_token
    from scimserver import Settings, create_app

    # On: counted as in production, against a limit the loop never reaches. Off: both 0.
    settings = Settings(
        database_url=database_url,
        auto_migrate=False,
        rate_limit_auth_failures=50 if limits else 0,
        rate_limit_org_requests=10**9 if limits else 0,
    )
    app = create_app(settings)
    store = app.extensions["scimcore"]["store"]
    org = store.create_organization("bench", "Bench")
    token = issue_token(store, org).token
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    base = "/scim/v2/organizations/bench/Users"
    ids = []
    for i in range(20):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"user{i}@example.com",
        }
        ids.append(client.post(base, json=body, headers=headers).get_json()["id"])
    for i in range(100 + requests):  # 100 warm-up requests, then the measured ones
        url = f"{base}/{ids[i % 20]}"
        if method == "get":
            assert client.get(url, headers=headers).status_code == 200
            continue
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": (i // 20) % 2 == 0}}],
        }
        assert client.patch(url, json=patch, headers=headers).status_code == 200


def instructions(database_url: str, limits: bool, requests: int, tmp: Path, method: str) -> int:
    out = tmp / f"callgrind-{limits}-{requests}-{uuid.uuid4().hex[:6]}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        database_url,
        "on" if limits else "off",
        str(requests),
        method,
    ]
    # A fixed hash seed: set and dict layouts, and so the instructions, repeat run to run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600, env=env)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def per_request(
    backend: str, pg_url: str, tmp: Path, low: int, high: int, method: str
) -> dict[str, Any]:
    """Instructions per request, limits on and off: (I(high) - I(low)) / (high - low),
    which cancels start-up, set-up and warm-up."""
    from scimcore.storage.migrate import upgrade

    result: dict[str, Any] = {}
    for limits in (True, False):
        counts = {}
        for n in (low, high):
            db = run.Database(backend, tmp, pg_url)
            try:
                url = db.url
                upgrade(url)
                counts[n] = instructions(url, limits, n, tmp, method)
            finally:
                db.drop()
        result["limits" if limits else "no-limits"] = (counts[high] - counts[low]) / (high - low)
        print(
            f"  {backend} {'limits' if limits else 'no-limits':9s} "
            f"{result['limits' if limits else 'no-limits']:,.0f} instructions per "
            f"{method.upper()}",
            flush=True,
        )
    result["ratio"] = result["limits"] / result["no-limits"]
    return result


# -- the limiter's own work per request, in a loop -----------------------------------------


def micro(backend: str, pg_url: str, tmp: Path, n: int = 200_000) -> float:
    """CPU microseconds the limiter adds to a valid request: the client address's key,
    the blocked-address check and the organization's count, with the background thread's
    flushes (every 100) to the real counter table; this process's CPU time (all threads)
    over ``n`` requests."""
    from scimcore.ratelimit import Limit, RateLimits, RateLimitSettings, client_key
    from scimcore.storage.migrate import upgrade
    from scimcore.storage.sql import make_engine
    from scimcore.storage.sql.ratelimit import SqlRateLimitStore

    db = run.Database(backend, tmp, pg_url)
    try:
        upgrade(db.url)
        engine = make_engine(db.url)
        limits = RateLimits(
            SqlRateLimitStore(engine), RateLimitSettings(organization_requests=Limit(10**9, 60))
        )
        started = time.process_time()
        for _ in range(n):
            if limits.failures.retry_after(client_key("203.0.113.7")) is None:
                limits.organizations.hit("0d2a6c54-8a4e-4b4e-9d1e-2f7c1c0e5a11")
        time.sleep(1)  # the last flush
        used = (time.process_time() - started) / n * 1e6
        engine.dispose()
    finally:
        db.drop()
    print(f"  {backend}: the limiter's work per valid request: {used:.2f} us CPU", flush=True)
    return used


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3] == "on", int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", default=DEFAULT_WORKLOADS)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="only count CPU instructions per GET with callgrind (in-process)",
    )
    parser.add_argument(
        "--methods", default="get,patch", help="with --instructions: get, patch or both"
    )
    parser.add_argument(
        "--micro",
        action="store_true",
        help="only time the limiter's own work per request, in a loop",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    run.bootstrap(Path(__file__))
    signal.signal(signal.SIGTERM, run._interrupted)
    import seeding

    wrk = run.ensure_wrk()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: dict[str, Any] = {
        "timestamp": stamp,
        "command": "python3 benchmarks/rate_limits.py " + " ".join(sys.argv[1:]),
        "users": args.users,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "machine": run.machine(),
        "versions": run.versions(),
        "load_average_at_start": os.getloadavg(),
        "backends": {},
    }
    names = [n for n in args.only.split(",") if n]
    if args.micro:
        with tempfile.TemporaryDirectory(prefix="scimbench-rl-") as tmpname:
            out["limiter_us_per_request"] = {
                b: micro(b, args.postgres_url, Path(tmpname)) for b in args.backends.split(",")
            }
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        (results / f"rate-limits-micro-{stamp}.json").write_text(json.dumps(out, indent=2))
        return
    if args.instructions:
        methods = args.methods.split(",")
        with tempfile.TemporaryDirectory(prefix="scimbench-rl-") as tmpname:
            out["instructions_per_request"] = {
                f"{b} {m.upper()}": per_request(b, args.postgres_url, Path(tmpname), 100, 1000, m)
                for b in args.backends.split(",")
                for m in methods
            }
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        (results / f"rate-limits-instructions-{stamp}.json").write_text(json.dumps(out, indent=2))
        for key, r in out["instructions_per_request"].items():
            print(
                f"{key}: {r['limits']:,.0f} / {r['no-limits']:,.0f} instructions per request "
                f"(limits / no-limits = {r['ratio']:.4f})"
            )
        return
    with tempfile.TemporaryDirectory(prefix="scimbench-rl-") as tmpname:
        tmp = Path(tmpname)
        ds = seeding.DataSet.make(args.users)
        paths = {
            "ids": str(tmp / "ids.tsv"),
            "spares": str(tmp / "spares.tsv"),
            "big_group": ds.big_group,
            "small_group": ds.small_group,
        }
        ds.write_id_file(paths["ids"])
        ds.write_spare_file(paths["spares"])
        ctx = {
            "ds": ds,
            "paths": paths,
            "wrk": wrk,
            "duration": args.duration,
            "connections": args.connections,
            "pg_url": args.postgres_url,
        }
        for backend in args.backends.split(","):
            targets: list[run.Target] = []
            try:
                targets.append(run.start_ours(backend, ctx, tmp, name="limits"))
                targets.append(
                    run.start_ours(backend, ctx, tmp, name="no-limits", env_extra=NO_LIMITS)
                )
                measured = measure(targets, ctx, tmp, names, args.rounds)
            finally:
                for t in targets:
                    t.close()
            out["backends"][backend] = {
                "limits": measured[f"limits-{backend}"],
                "no-limits": measured[f"no-limits-{backend}"],
            }
    out["load_average_at_end"] = os.getloadavg()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"rate-limits-{stamp}.json").write_text(json.dumps(out, indent=2))
    md = report(out)
    (results / f"rate-limits-{stamp}.md").write_text(md)
    print("\n" + md)


if __name__ == "__main__":
    main()
