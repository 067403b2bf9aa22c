"""Does Surge's memory stay flat? RSS over an open-model run against nginx.

    python bench/memory.py [--minutes 10] [--rate 5000] [--every 2]

nginx (one worker) on core 0, `surge run URL --rate R --duration Mm --workers 1`
on core 1; the RSS of Surge's process tree is sampled every few seconds with psutil.
Passes (exit 0) when the RSS at the end is within 10% of the RSS after the first
minute (judged on the medians of 30 s windows, since single samples wobble by a few
MiB as per-interval histograms come and go; single samples and the trend are shown).
A run where nginx stopped answering or requests failed exits 1 whatever its RSS.
nginx and Surge are always stopped at the end, Ctrl+C included.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    GENERATOR_CORE,
    Nginx,
    OtherLoad,
    answers,
    check_cores,
    log,
    pinned,
    stop_cleanly_on_signals,
    surge_binary,
)

MIB = 1024 * 1024


def tree_rss(proc: psutil.Process) -> int | None:
    """RSS of the process and its children (worker processes count too)."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10, help="run length (default 10)")
    p.add_argument("--rate", type=float, default=5000, help="requests/s (default 5000)")
    p.add_argument("--every", type=float, default=2, help="sample period, s (default 2)")
    p.add_argument("--window", type=float, default=30, help="median window, s (default 30)")
    p.add_argument("--baseline", type=float, default=60, help="baseline after N s (default 60)")
    p.add_argument("--keep-report", metavar="FILE", help="keep Surge's TOML report here")
    p.add_argument("--tolerance", type=float, default=10, help="allowed drift, %% (default 10)")
    args = p.parse_args(argv)
    if args.minutes * 60 <= args.baseline + args.every:
        p.error("--minutes must leave time after the baseline (default: 1 minute)")

    stop_cleanly_on_signals()
    check_cores()
    surge = surge_binary()
    run_s = round(args.minutes * 60)
    duration = f"{run_s}s"
    samples: list[tuple[float, int]] = []
    summary: dict = {}
    first_fail = None
    nginx_down_at: float | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="surge-bench-mem-") as tmp, Nginx() as nginx:
            url = nginx.url
            report = Path(tmp) / "memory.toml"
            argv_ = [str(surge), "run", url, "--rate", f"{args.rate:g}", "--duration", duration]
            argv_ += ["--workers", "1", "--progress", "never", "--report", str(report)]
            log(f"surge run {url} --rate {args.rate:g} --duration {duration}")
            with OtherLoad(nginx) as load:
                proc = subprocess.Popen(pinned(GENERATOR_CORE, argv_), stdout=subprocess.DEVNULL)
                try:
                    ps = psutil.Process(proc.pid)
                    start = time.monotonic()
                    next_minute = 60.0
                    while proc.poll() is None:
                        rss = tree_rss(ps)
                        t = time.monotonic() - start
                        # Only while under load: not the shutdown and report writing.
                        if rss is not None and t <= run_s and proc.poll() is None:
                            samples.append((t, rss))
                            if t >= next_minute:
                                log(f"{t / 60:5.1f} min: RSS {rss / MIB:7.1f} MiB")
                                next_minute += 60
                        if nginx_down_at is None and not (nginx.alive() and answers(url)):
                            nginx_down_at = t
                            log(f"nginx stopped answering at {t:.0f} s")
                        time.sleep(args.every)
                    if proc.returncode not in (0, 99):
                        raise SystemExit(f"surge exited with {proc.returncode}")
                finally:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
                        try:
                            proc.wait(timeout=30)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
            if report.exists():
                data = tomllib.loads(report.read_text())
                summary = data["summary"]
                first_fail = next((r["t"] for r in data.get("timeline", []) if r["failed"]), None)
                if args.keep_report:
                    shutil.copy(report, args.keep_report)
    except KeyboardInterrupt:
        log("interrupted; nginx and surge stopped")
        return 130

    after = [(t, r) for t, r in samples if t >= args.baseline]
    if len(after) < 2:
        print("not enough samples after the baseline")
        return 1
    (t0, base), (t1, end) = after[0], after[-1]
    # RSS wobbles by several MiB as interval histograms come and go: compare the
    # medians of a window right after minute 1 and of the last window, too.
    win = min(args.window, (t1 - t0) / 2)
    first_win = [r for t, r in after if t < t0 + win]
    last_win = [r for t, r in after if t > t1 - win]
    base_med, end_med = statistics.median(first_win), statistics.median(last_win)
    ratio, ratio_med = end / base, end_med / base_med
    ok = abs(ratio_med - 1) * 100 <= args.tolerance
    slope = _slope(after) * 60 / MIB
    peak = max(r for _, r in samples)
    print(
        f"Memory: surge --rate {args.rate:g} for {args.minutes:g} min, --workers 1, "
        f"RSS of the process tree sampled every {args.every:g} s"
    )
    print()
    print("| when | RSS (MiB) |")
    print("|---|--:|")
    warm = next(((t, r) for t, r in samples if t >= 5), samples[0])
    print(f"| start-up done ({warm[0]:.0f} s) | {warm[1] / MIB:.1f} |")
    when = "minute 1" if args.baseline == 60 else f"{args.baseline:g} s"
    print(f"| after {when} ({t0:.0f} s) | {base / MIB:.1f} |")
    minute = 2
    for t, r in after:
        if minute * 60 <= t < t1:
            print(f"| minute {minute} ({t:.0f} s) | {r / MIB:.1f} |")
            minute = int(t // 60) + 1
    print(f"| end ({t1:.0f} s) | {end / MIB:.1f} |")
    print(f"| peak | {peak / MIB:.1f} |")
    print(f"| median of {win:.0f} s after {when} | {base_med / MIB:.1f} |")
    print(f"| median of the last {win:.0f} s | {end_med / MIB:.1f} |")
    print()
    print(f"- end / after {when}, single samples: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%)")
    print(
        f"- end / after {when}, {win:.0f} s medians: {ratio_med:.3f} "
        f"({(ratio_med - 1) * 100:+.1f}%; target within {args.tolerance:g}%): "
        f"{'ok' if ok else 'MISSED'}"
    )
    print(f"- trend after {when} (least squares): {slope:+.2f} MiB/min")
    print(f"- others' CPU during the run: {load.percent:.0f}% of a core")
    if nginx_down_at is not None:
        print(f"- nginx stopped answering {nginx_down_at:.0f} s into the run: figures invalid")
    if summary and summary["failed"]:
        print(
            f"- FAILED requests from {first_fail} s on: errors {summary.get('errors')}, "
            f"status {summary.get('status')}"
        )
    if summary:
        print(
            f"- achieved {float(summary['rps']):,.0f} req/s, {summary['requests']:,} requests, "
            f"failed {summary['failed']}, dropped_iterations {summary.get('dropped_iterations', 0)}"
        )
    valid = nginx_down_at is None and not (summary and summary["failed"])
    return 0 if ok and valid else 1


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope, bytes per second."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (r - mr) for t, r in points) / var if var else 0.0


if __name__ == "__main__":
    sys.exit(main())
