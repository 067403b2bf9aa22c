"""One command: `surge proxy` next to nginx as a reverse proxy, one core each.

    python bench/proxy_bench.py [--duration 5] [--connections 50] [--rounds 3] [--rate 1000]

The demo SUT is the upstream of both. nginx (Debian package, one worker, keep-alive
upstream pool) and `surge proxy` (weights 50:50, both colors on that SUT, so every
request goes through the weighted pick) are pinned to core 0; wrk (`-t1`) is pinned
to core 1 and measures requests/s through each, and directly. The SUT is pinned to
core 2 when there is one, else it shares core 1 with the load generator: on two
cores the upstream side can then limit nginx before nginx's own core does, so the
table also shows how busy the proxy's core was and requests/s per busy proxy core.

Then latency at a fixed, light rate: `surge run URL --rate 1000 --duration 5s` directly
and through each proxy; "added p50" is the proxy's p50 minus the direct one. Each proxy's
CPU per request is its CPU time over wrk's requests. The last line judges issue 32's
goals on this run: req/s >= 0.8x nginx's, and the p50 added <= 1.2x nginx's.

Installs what is missing (nginx, wrk) with apt-get. Rounds alternate the targets and
report medians; each measurement waits (up to 30 s) for a quiet machine and shows how
much CPU others used meanwhile, since a loaded machine measures nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GENERATOR_CORE,
    SERVER_CORE,
    Nginx,
    OtherLoad,
    check_cores,
    cpu_model,
    ensure_apt,
    free_port,
    log,
    nginx_version,
    pinned,
    process_cpu,
    stop_cleanly_on_signals,
    surge_binary,
    wait_quiet,
)

PROXY_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream sut {{
        server 127.0.0.1:{upstream};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://sut;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            add_header x-surge-upstream blue;
        }}
    }}
}}
"""


class NginxProxy(Nginx):
    """common.Nginx with a reverse-proxy config: same pinning, readiness and cleanup."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port

    role = "reverse proxy"

    def config(self) -> str:
        return PROXY_CONF.format(dir=self.dir, port=self.port, upstream=self.upstream_port)


def start_line(argv: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    """Start a server that announces itself with one stdout line; return it and the line."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"bench: {argv[3:5]} did not start: {line!r} {err}")
    return proc, line


def stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Target:
    name: str
    url: str
    cpu: Callable[[], float] | None  # the proxy's CPU seconds so far; None when direct
    rps: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)  # proxy core busy, % of one core
    cpu_us: list[float] = field(default_factory=list)  # the proxy's CPU per request, us
    others: list[float] = field(default_factory=list)  # others' CPU during the run, %
    p50: list[float] = field(default_factory=list)


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    out = subprocess.run(
        pinned(GENERATOR_CORE, ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", url]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n:
        raise SystemExit(f"bench: cannot read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        log(f"wrk reported errors against {url}: {errors.group(0)}")
    return float(m.group(1)), int(n.group(1))


def p50_at(url: str, rate: int, duration: int, surge: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="surge-proxy-bench-") as tmp:
        report = Path(tmp) / "report.toml"
        argv = [str(surge), "run", url, "--rate", str(rate), "--duration", f"{duration}s"]
        argv += ["--report", str(report), "--progress", "never"]
        subprocess.run(pinned(GENERATOR_CORE, argv), capture_output=True, text=True, timeout=120)
        if not report.exists():
            raise SystemExit(f"bench: surge run wrote no report for {url}")
        data = tomllib.loads(report.read_text())
    summary = data["summary"]
    if summary.get("failed"):
        log(f"{summary['failed']} failed requests at {rate} req/s through {url}")
    return float(summary["latency_ms"]["p50"])


def measure(t: Target, args: argparse.Namespace, nginx: Nginx, ours: Callable[[], float]) -> None:
    """`ours`: CPU seconds of our live children (SUT, surge proxy), which OtherLoad,
    counting only reaped children and nginx as ours, would blame on others."""
    wait_quiet(nginx, limit_pct=25, max_wait=30)
    cpu0, ours0 = (t.cpu() if t.cpu else 0.0), ours()
    with OtherLoad(nginx) as load:
        t0 = time.monotonic()
        rps, requests = wrk(t.url, args.duration, args.connections)
        wall = time.monotonic() - t0
    cpu = (t.cpu() - cpu0) if t.cpu else 0.0
    t.rps.append(rps)
    t.busy.append(cpu / wall * 100 if t.cpu else 0.0)
    t.cpu_us.append(cpu / requests * 1e6 if t.cpu and requests else 0.0)
    t.others.append(max(0.0, load.percent - (ours() - ours0) / wall * 100))
    log(f"{t.name:<18} {rps:>9,.0f} req/s   others used {t.others[-1]:.0f}% of a core")


def table(targets: list[Target], args: argparse.Namespace) -> str:
    """The Markdown table, then the issue's two goals judged on this run's medians:
    req/s >= 0.8x nginx's, and the p50 added <= 1.2x the p50 nginx adds."""
    med = statistics.median
    direct, ngx, ours = targets[0], targets[1], targets[-1]
    ngx_rps, ngx_busy = med(ngx.rps), med(ngx.busy)
    base_p50 = med(direct.p50)
    ngx_added = med(ngx.p50) - base_p50
    head = (
        f"| target | req/s (wrk -t1 -c{args.connections}) | vs nginx | proxy core busy "
        f"| CPU per request | req/s per busy proxy core | vs nginx | p50 @ {args.rate} req/s "
        "| added p50 | vs nginx |"
    )
    lines = [head, "|" + "---|" * 10]
    for t in targets:
        rps, p50 = med(t.rps), med(t.p50)
        if t.cpu is None:
            lines.append(f"| {t.name} | {rps:,.0f} | | | | | | {p50:.3f} ms | | |")
            continue
        busy = med(t.busy)
        per_core = rps / (busy / 100) if busy else 0.0
        ngx_per_core = ngx_rps / (ngx_busy / 100) if ngx_busy else 0.0
        added = p50 - base_p50
        lines.append(
            f"| {t.name} | {rps:,.0f} | {rps / ngx_rps:.2f}x | {busy:.0f}% "
            f"| {med(t.cpu_us):.1f} us | {per_core:,.0f} | {per_core / ngx_per_core:.2f}x "
            f"| {p50:.3f} ms | {added:+.3f} ms | {_ratio(added, ngx_added)} |"
        )
    others = max(max(t.others) for t in targets)
    rps_ratio = med(ours.rps) / ngx_rps
    added_ratio = (med(ours.p50) - base_p50) / ngx_added if ngx_added > 0 else float("inf")
    lines.append("")
    lines.append(
        f"{cpu_model()}, {os.cpu_count()} cores; medians of {args.rounds} rounds, "
        f"{args.duration}s each; others' load during the runs peaked at {others:.0f}% of a core."
    )
    lines.append(
        f"Goals (issue 32): req/s {rps_ratio:.2f}x nginx's (>= 0.8x: "
        f"{'met' if rps_ratio >= 0.8 else 'missed'}); p50 added {added_ratio:.2f}x nginx's "
        f"(<= 1.2x: {'met' if added_ratio <= 1.2 else 'missed'})."
    )
    return "\n".join(lines)


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000, help="req/s for the p50 comparison")
    args = ap.parse_args()
    check_cores()
    ensure_apt({"nginx": "nginx", "wrk": "wrk"})
    stop_cleanly_on_signals()
    surge = surge_binary()
    py = str(surge.parent / "python")
    upstream_core = "2" if (os.cpu_count() or 2) >= 3 else GENERATOR_CORE
    sut = proxy = None
    try:
        sut, line = start_line(
            pinned(upstream_core, [py, "-m", "tui.cli.sut_cmd", "--port", "0"]), "listening on"
        )
        sut_url = line.split()[-1]
        log(f"demo SUT on {sut_url} (core {upstream_core})")
        with NginxProxy(int(sut_url.rsplit(":", 1)[1])) as nginx:
            listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            argv = [str(surge), "proxy", "--listen", listen, "--admin", admin]
            argv += ["--blue", sut_url, "--green", sut_url, "--weights", "50:50"]
            proxy, line = start_line(pinned(SERVER_CORE, argv), "listening on")
            log(line.strip() + f" (core {SERVER_CORE})")
            proxy_pid, sut_pid = proxy.pid, sut.pid

            def ours() -> float:
                return process_cpu(proxy_pid) + process_cpu(sut_pid)

            targets = [
                Target("direct (no proxy)", sut_url + "/", None),
                Target(f"nginx {nginx_version()}", nginx.url, nginx.cpu_seconds),
                Target("surge proxy", f"http://{listen}/", lambda: process_cpu(proxy_pid)),
            ]
            for r in range(args.rounds):
                log(f"round {r + 1}/{args.rounds}: wrk")
                for t in targets:
                    measure(t, args, nginx, ours)
            for r in range(args.rounds):
                log(f"round {r + 1}/{args.rounds}: p50 at {args.rate} req/s")
                for t in targets:
                    wait_quiet(nginx, limit_pct=25, max_wait=30)
                    t.p50.append(p50_at(t.url, args.rate, args.duration, surge))
                    log(f"{t.name:<18} p50 {t.p50[-1]:.3f} ms")
            print(table(targets, args))
    finally:
        stop(proxy)
        stop(sut)
    return 0


if __name__ == "__main__":
    sys.exit(main())
