"""Workloads as generated wrk Lua scripts, and running wrk pinned to the client core.

Every script reads its ids from files the harness wrote, picks them at random (or
in a counter for writes), and prints one JSON line from ``done()`` with requests,
errors and latency percentiles. The harness measures the wrk process's CPU time
(``getrusage`` of the child) to report the client's CPU share, and samples the
server worker's RSS while the workload runs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(frozen=True)
class Workload:
    name: str
    label: str
    kind: str  # "single" or "collection": which target applies
    script: str  # Lua body (after the common prelude)


_PRELUDE = r"""
local base = "{base}"
local headers = {{
  ["Authorization"] = "Bearer {token}",
  ["Content-Type"] = "application/scim+json",
  ["Accept"] = "application/scim+json",
}}
local function lines(path)
  local t = {{}}
  local f = io.open(path, "r")
  if f == nil then return t end
  for line in f:lines() do
    local id, name = line:match("^([^\t]+)\t?(.*)$")
    if id then t[#t + 1] = {{id, name}} end
  end
  f:close()
  return t
end
local function urlencode(s)
  return (s:gsub("[^%w%-%._~@]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
math.randomseed(os.time() + {seed})
local counter = 0
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {{"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"mean_us": %.1f}}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def _user_put_body() -> str:
    # userName is filled in per request by the script (it must stay the user's own).
    return json.dumps(
        {
            "schemas": [USER_SCHEMA],
            "userName": "@NAME@",
            "name": {"givenName": "Put", "familyName": "Replaced"},
            "displayName": "Put Replaced",
            "emails": [{"value": "@NAME@", "type": "work", "primary": True}],
            "active": True,
        }
    )


def build(paths: dict[str, str], size: int, run_tag: str) -> list[Workload]:
    """The workloads; ``paths``: ids (``id\\tuserName``), spares, and the group ids."""
    ids, spares = paths["ids"], paths["spares"]
    big, small = paths["big_group"], paths["small_group"]
    patch_user = json.dumps({"schemas": [PATCH_OP],
                             "Operations": [{"op": "replace", "value": {"active": False}}]})
    put = _user_put_body()
    middle = max(1, size // 2)
    last = max(1, size - 99)
    cursor_last = paths.get("cursor_last")
    member_patch = (
        '{"schemas":["' + PATCH_OP + '"],"Operations":['
        '{"op":"add","path":"members","value":[{"value":"@ADD@","type":"User"}]},'
        '{"op":"remove","path":"members[value eq \\"@DEL@\\"]"}]}'
    )

    def lua_string(s: str) -> str:
        return json.dumps(s)  # a JSON string literal is a valid Lua string literal here

    pick = f'local users = lines("{ids}")\n'
    items = [
        Workload("get_user", "GET /Users/{id}", "single", pick + r"""
request = function()
  local u = users[math.random(#users)]
  return wrk.format("GET", base .. "/Users/" .. u[1], headers)
end
"""),
        Workload("filter_username", 'GET /Users?filter=userName eq "…"', "single", pick + r"""
request = function()
  local u = users[math.random(#users)]
  return wrk.format("GET", base .. "/Users?filter=" .. urlencode('userName eq "' .. u[2] .. '"'),
                    headers)
end
"""),
        Workload("list_start", "GET /Users?startIndex=1&count=100", "collection", r"""
request = function()
  return wrk.format("GET", base .. "/Users?startIndex=1&count=100", headers)
end
"""),
        Workload("list_middle", f"GET /Users?startIndex={middle}&count=100", "collection", rf"""
request = function()
  return wrk.format("GET", base .. "/Users?startIndex={middle}&count=100", headers)
end
"""),
        Workload("list_end", f"GET /Users?startIndex={last}&count=100", "collection", rf"""
request = function()
  return wrk.format("GET", base .. "/Users?startIndex={last}&count=100", headers)
end
"""),
        *(
            [
                Workload("cursor_start", "GET /Users?cursor=&count=100", "collection", r"""
request = function()
  return wrk.format("GET", base .. "/Users?cursor=&count=100", headers)
end
"""),
                Workload("cursor_end", "GET /Users?cursor=<last page>&count=100", "collection",
                         rf"""
request = function()
  return wrk.format("GET", base .. "/Users?cursor={cursor_last}&count=100", headers)
end
"""),
            ]
            if cursor_last
            else []
        ),
        Workload("group_get", "GET /Groups/{big}?excludedAttributes=members", "collection", rf"""
request = function()
  return wrk.format("GET", base .. "/Groups/{big}?excludedAttributes=members", headers)
end
"""),
        Workload("group_members_big", "PATCH big group: add 1 + remove 1 member", "collection",
                 _member_script(spares, big, member_patch)),
        Workload("group_members_small", "PATCH 10-member group: add 1 + remove 1", "collection",
                 _member_script(spares, small, member_patch)),
        Workload("patch_user", "PATCH /Users/{id} active=false", "single", pick + rf"""
local body = {lua_string(patch_user)}
request = function()
  local u = users[math.random(#users)]
  return wrk.format("PATCH", base .. "/Users/" .. u[1], headers, body)
end
"""),
        Workload("put_user", "PUT /Users/{id}", "single", pick + rf"""
local template = {lua_string(put)}
request = function()
  local u = users[math.random(#users)]
  local body = template:gsub("@NAME@", u[2])
  return wrk.format("PUT", base .. "/Users/" .. u[1], headers, body)
end
"""),
        Workload("post_user", "POST /Users", "single", rf"""
local template = {lua_string(json.dumps({**json.loads(put), "displayName": "Posted"}))}
request = function()
  counter = counter + 1
  local name = "post.{run_tag}." .. counter .. "@example.com"
  local body = template:gsub("@NAME@", name)
  return wrk.format("POST", base .. "/Users", headers, body)
end
"""),
    ]
    # Single-resource workloads first, the slow group operations last: a server that
    # takes seconds per request (scim2-server on a big group) leaves requests in flight
    # that would otherwise eat into the workloads after them.
    order = ["get_user", "filter_username", "patch_user", "put_user", "post_user",
             "list_start", "list_middle", "list_end", "cursor_start", "cursor_end",
             "group_members_small", "group_get", "group_members_big"]
    return sorted(items, key=lambda w: order.index(w.name))


def mixed(paths: dict[str, str], run_tag: str) -> Workload:
    """The memory-soak mix: reads, writes, list pages and membership changes."""
    put = _user_put_body()
    patch_user = json.dumps({"schemas": [PATCH_OP],
                             "Operations": [{"op": "replace", "value": {"active": False}}]})
    member_patch = (
        '{"schemas":["' + PATCH_OP + '"],"Operations":['
        '{"op":"add","path":"members","value":[{"value":"@ADD@","type":"User"}]},'
        '{"op":"remove","path":"members[value eq \\"@DEL@\\"]"}]}'
    )
    return Workload("mixed", "mixed", "soak", rf"""
local users = lines("{paths['ids']}")
local spares = lines("{paths['spares']}")
local put = {json.dumps(put)}
local patch = {json.dumps(patch_user)}
local member = {json.dumps(member_patch)}
request = function()
  counter = counter + 1
  local r = math.random(100)
  local u = users[math.random(#users)]
  if r <= 40 then
    return wrk.format("GET", base .. "/Users/" .. u[1], headers)
  elseif r <= 60 then
    return wrk.format("GET", base .. "/Users?filter=" .. urlencode('userName eq "' .. u[2] .. '"'),
                      headers)
  elseif r <= 70 then
    return wrk.format("PATCH", base .. "/Users/" .. u[1], headers, patch)
  elseif r <= 80 then
    return wrk.format("PUT", base .. "/Users/" .. u[1], headers, (put:gsub("@NAME@", u[2])))
  elseif r <= 87 then
    local name = "soak.{run_tag}." .. counter .. "@example.com"
    return wrk.format("POST", base .. "/Users", headers, (put:gsub("@NAME@", name)))
  elseif r <= 93 then
    return wrk.format("GET", base .. "/Users?startIndex=" .. math.random(#users) .. "&count=100",
                      headers)
  else
    local add = spares[(counter % #spares) + 1][1]
    local del = spares[((counter - 1) % #spares) + 1][1]
    return wrk.format("PATCH", base .. "/Groups/{paths['big_group']}", headers,
                      (member:gsub("@ADD@", add):gsub("@DEL@", del)))
  end
end
""")


def _member_script(spares: str, group: str, template: str) -> str:
    # Request k adds spare k and removes spare k-1: the group keeps its size, and each
    # request inserts one membership row and deletes one.
    return rf"""
local spares = lines("{spares}")
local template = {json.dumps(template)}
request = function()
  counter = counter + 1
  local add = spares[(counter % #spares) + 1][1]
  local del = spares[((counter - 1) % #spares) + 1][1]
  local body = template:gsub("@ADD@", add):gsub("@DEL@", del)
  return wrk.format("PATCH", base .. "/Groups/{group}", headers, body)
end
"""


def write_script(path: str, workload: Workload, base: str, token: str) -> None:
    prelude = _PRELUDE.format(base=base, token=token, seed=abs(hash(workload.name)) % 10_000)
    with open(path, "w") as f:
        f.write(prelude + workload.script)


# -- running -------------------------------------------------------------------------


def _rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB; zeros if it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` in clock ticks; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, IndexError, ValueError):
        return 0


def wait_until_idle(pids: list[int], *, limit_s: float = 120.0, busy: float = 0.05) -> float:
    """Wait until ``pids`` together use less than ``busy`` of a CPU over half a second,
    at most ``limit_s``; the seconds waited.

    A server that takes seconds per request (scim2-server on a 100,000-member group)
    is still working on the requests wrk left in flight when the next workload starts;
    every server is pinned to the same CPU, so that work would be billed to whichever
    server is measured next (it made our big-group PATCH look 2x slower than the
    10-member one, against 1.03x measured alone).
    """
    tick = os.sysconf("SC_CLK_TCK")
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = sum(_cpu_ticks(p) for p in pids)
        time.sleep(0.5)
        if (sum(_cpu_ticks(p) for p in pids) - before) / tick < busy * 0.5:
            break
    return time.monotonic() - started


class RssSampler:
    """Samples the RSS of the server's worker processes every 100 ms."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p)[0] for p in self.pids))
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, sum(_rss_kb(p)[0] for p in self.pids))


def run_wrk(
    wrk: str,
    script: str,
    url: str,
    *,
    duration: float,
    connections: int,
    client_cpu: str,
    worker_pids: list[int],
    timeout_s: int = 30,
) -> dict[str, Any]:
    """Run wrk (one thread, pinned) for ``duration`` seconds; wall-clock bounded."""
    cmd = [
        "taskset", "-c", client_cpu, wrk, "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s",
        f"--timeout={timeout_s}s", "-s", script, url,
    ]
    waited = wait_idle(worker_pids)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with RssSampler(worker_pids) as sampler:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + timeout_s + 30
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    r = json.loads(line[len("RESULT "):])
    seconds = r["duration_us"] / 1e6
    errors = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "requests": r["requests"],
        # Throughput counts successful (2xx/3xx) responses only: an error is not work done.
        "rps": round((r["requests"] - r["non2xx"]) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(r["p50_us"] / 1000, 3),
        "p90_ms": round(r["p90_us"] / 1000, 3),
        "p99_ms": round(r["p99_us"] / 1000, 3),
        "max_ms": round(r["max_us"] / 1000, 3),
        "errors": errors,
        "non2xx": r["non2xx"],
        "socket_errors": errors - r["non2xx"],
        "client_cpu_share": round(cpu / wall, 3) if wall else 0.0,
        "server_peak_rss_mb": round(sampler.peak_kb / 1024, 1),
        "server_hwm_mb": round(sum(_rss_kb(p)[1] for p in worker_pids) / 1024, 1),
        "waited_for_idle_s": round(waited, 1),
    }


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def wait_idle(pids: list[int], limit_s: float = 120.0) -> float:
    """Wait (at most ``limit_s``) until the worker has used no CPU for 0.5 s: requests
    left in flight by the previous workload (seconds each on scim2-server's list and
    group operations) must not eat into the next one. Returns the seconds waited."""
    started = time.monotonic()
    last = cpu_ticks(pids)
    while time.monotonic() - started < limit_s:
        time.sleep(0.5)
        now = cpu_ticks(pids)
        if now - last <= 1:
            break
        last = now
    return time.monotonic() - started


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn worker processes (children of the master)."""
    try:
        out = subprocess.run(
            ["pgrep", "-P", str(master_pid)], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(p) for p in out.split()] or ([master_pid] if os.path.exists(f"/proc/{master_pid}")
                                               else [])
