"""Profile one workload's request path in scimserver with py-spy and summarise it.

    benchmarks/.venv/bin/python benchmarks/profile_workload.py WORKLOAD [--seconds 15]
        [--users 10000] [--database-url URL]

Seeds a database like the benchmark, then runs ``py-spy record --format raw`` on a child
process that sends the workload's request through Flask's test client in a loop, and
prints the functions with the largest inclusive share of samples (what the request
spends its time in) and the largest self share. The raw profile (collapsed stacks) is
kept in benchmarks/results/profile-WORKLOAD.txt (flamegraph.pl / speedscope read it).
For a live server: ``py-spy record -p <gunicorn worker pid> --format raw``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(workload: str, seconds: float, url: str, token: str, users: int) -> None:
    import seeding

    from scimserver.app import create_app

    os.environ["SCIMSERVER_DATABASE_URL"] = url
    client = create_app().test_client()
    ds = seeding.DataSet.make(users)
    base = "/scim/v2/organizations/bench"
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    op = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    total = len(ds.ids)
    n = 0

    def request() -> tuple[str, str, object]:
        i = n % users
        if workload == "get_user":
            return "GET", f"{base}/Users/{ds.ids[i]}", None
        if workload == "filter_username":
            return "GET", f'{base}/Users?filter=userName eq "{seeding.user_name(i)}"', None
        if workload == "patch_user":
            return "PATCH", f"{base}/Users/{ds.ids[i]}", {"schemas": [op], "Operations": [
                {"op": "replace", "value": {"active": n % 2 == 0}}]}
        if workload == "put_user":
            return "PUT", f"{base}/Users/{ds.ids[i]}", seeding.user_body(i)
        if workload == "post_user":
            return "POST", f"{base}/Users", seeding.user_body(i, f"prof{n}.{time.time()}@x.com")
        if workload == "list_start":
            return "GET", f"{base}/Users?startIndex=1&count=100", None
        if workload == "list_end":
            return "GET", f"{base}/Users?startIndex={total - 99}&count=100", None
        if workload in ("group_members_big", "group_members_small"):
            g = ds.big_group if workload.endswith("big") else ds.small_group
            add, rem = ds.spares[n % len(ds.spares)], ds.spares[(n - 1) % len(ds.spares)]
            return "PATCH", f"{base}/Groups/{g}", {"schemas": [op], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": add, "type": "User"}]},
                {"op": "remove", "path": f'members[value eq "{rem}"]'}]}
        if workload == "group_get":
            return "GET", f"{base}/Groups/{ds.big_group}?excludedAttributes=members", None
        raise SystemExit(f"unknown workload {workload}")

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and n < 1_000_000:
        method, path, body = request()
        r = client.open(path, method=method, headers=h,
                        data=json.dumps(body) if body is not None else None)
        assert r.status_code < 300, (r.status_code, r.get_data(as_text=True)[:300])
        n += 1
    print(json.dumps({"requests": n, "seconds": seconds}))


def summarise(raw: Path, top: int = 25) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        frames = stack.split(";")
        if not any(f.startswith("FlaskClient.open ") for f in frames):
            continue  # startup (imports, create_app), not a request
        total += c
        names = []
        for f in frames:
            # "function (path/to/file.py:line)" -> "function (file.py)"
            fn, _, where = f.partition(" (")
            where = where.rstrip(")")
            path = where.rsplit(":", 1)[0]
            short = "/".join(path.split("/")[-2:])
            names.append(f"{fn} ({short})")
        for name in set(names):
            inclusive[name] += c
        own[names[-1]] += c
    out = [f"{total} samples inside requests (shares are of request time)", "", "inclusive:"]
    for name, c in inclusive.most_common(top):
        out.append(f"  {c / total:6.1%}  {name}")
    out += ["", "self:"]
    for name, c in own.most_common(15):
        out.append(f"  {c / total:6.1%}  {name}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--child", nargs=2, metavar=("URL", "TOKEN"))
    args = parser.parse_args()
    if args.child:
        child(args.workload, args.seconds, args.child[0], args.child[1], args.users)
        return

    import seeding

    from scimcore import issue_token
    from scimcore.storage.migrate import upgrade
    from scimcore.storage.sql import SqlStore, make_engine

    tmp = tempfile.mkdtemp(prefix="profile-")
    url = args.database_url or f"sqlite:///{tmp}/profile.db"
    upgrade(url)
    store = SqlStore(make_engine(url))
    token = issue_token(store, store.create_organization("bench", "bench")).token
    seeding.seed_ours(url, "bench", seeding.DataSet.make(args.users))
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    raw = results / f"profile-{args.workload}.txt"
    cmd = [str(HERE / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "-r", "250",
           "-o", str(raw), "--", sys.executable, __file__, args.workload, "--seconds",
           str(args.seconds), "--users", str(args.users), "--child", url, token]
    subprocess.run(cmd, check=True, timeout=args.seconds + 300)
    print(summarise(raw))


def _resummarise() -> None:
    print(summarise(Path(sys.argv[2])))


if __name__ == "__main__":
    main()
