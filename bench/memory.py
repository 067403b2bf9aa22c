"""Does Surge's memory stay flat? RSS over an open-model run against nginx.

    python bench/memory.py [--minutes 10] [--rate 5000] [--every 2] [--trace]

nginx (one worker) on core 0, `surge run URL --rate R --duration Mm --workers 1`
on core 1; the RSS of Surge's process tree is sampled every few seconds with psutil.
Passes (exit 0) when the RSS at the end is within 10% of the RSS after the first
minute (judged on the medians of 30 s windows, since single samples wobble by a few
MiB as per-interval histograms come and go; single samples and the trend are shown).
A run where nginx stopped answering or requests failed exits 1 whatever its RSS.
`--trace` runs Surge under tracemalloc (slower, and its RSS counts the tracing too),
snapshots its heap after the baseline and near the end, and prints the allocation
sites that grew most between the two: what to bound when the RSS climbs.
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

# `--trace` and `--malloc`: Surge's command line run by this wrapper, whose thread
# writes glibc's heap figures (mallinfo2) every few seconds and, with tracemalloc on
# (frames > 0), dumps a heap snapshot at each mark. argv: directory, marks (s), frames,
# period (s), then surge's argv.
_TRACER = r"""
import ctypes, runpy, sys, threading, time, tracemalloc
out, marks = sys.argv[1], [float(m) for m in sys.argv[2].split(",")]
frames, every = int(sys.argv[3]), float(sys.argv[4])
sys.argv = ["surge", *sys.argv[5:]]
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
          "fordblks", "keepcost")
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]
mallinfo = ctypes.CDLL(None).mallinfo2
mallinfo.restype = Info
if frames:
    tracemalloc.start(frames)
start = time.monotonic()
def watch():
    with open(f"{out}/malloc.tsv", "w", buffering=1) as log:
        while True:
            t = time.monotonic() - start
            m = mallinfo()
            log.write(f"{t:.1f}\t{m.arena}\t{m.hblkhd}\t{m.uordblks}\t{m.fordblks}\n")
            if frames and marks and t >= marks[0]:
                tracemalloc.take_snapshot().dump(f"{out}/{2 - len(marks)}.snapshot")
                marks.pop(0)
            time.sleep(every)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module("tui.cli", run_name="__main__")
"""


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
    p.add_argument(
        "--trace",
        action="store_true",
        help="tracemalloc: print the allocation sites that grew from the baseline to the end",
    )
    p.add_argument(
        "--malloc",
        action="store_true",
        help="glibc's heap figures (mallinfo2) at the baseline and the end, no tracemalloc",
    )
    p.add_argument("--frames", type=int, default=4, help="--trace: stack frames kept (default 4)")
    p.add_argument("--top", type=int, default=15, help="--trace: sites printed (default 15)")
    args = p.parse_args(argv)
    if args.minutes * 60 <= args.baseline + args.every:
        p.error("--minutes must leave time after the baseline (default: 1 minute)")

    stop_cleanly_on_signals()
    check_cores()
    surge = surge_binary()
    run_s = round(args.minutes * 60)
    duration = f"{run_s}s"
    samples: list[tuple[float, int]] = []
    growth: list[str] = []
    summary: dict = {}
    first_fail = None
    nginx_down_at: float | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="surge-bench-mem-") as tmp, Nginx() as nginx:
            url = nginx.url
            report = Path(tmp) / "memory.toml"
            argv_ = [str(surge), "run", url, "--rate", f"{args.rate:g}", "--duration", duration]
            argv_ += ["--workers", "1", "--progress", "never", "--report", str(report)]
            marks = (args.baseline, max(run_s - 10, args.baseline + 1))
            if args.trace or args.malloc:
                python = str(surge.with_name("python"))
                mark_arg = ",".join(f"{m:g}" for m in marks)
                frames = str(args.frames if args.trace else 0)
                wrapper = [tmp, mark_arg, frames, f"{args.every:g}"]
                argv_ = [python, "-c", _TRACER, *wrapper, *argv_[1:]]
            log(f"surge run {url} --rate {args.rate:g} --duration {duration}")
            with OtherLoad(nginx) as load:
                # In the temp dir: `python -c` puts the working directory first on sys.path,
                # which would beat a PYTHONPATH naming another tree.
                proc = subprocess.Popen(
                    pinned(GENERATOR_CORE, argv_), stdout=subprocess.DEVNULL, cwd=tmp
                )
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
            if args.trace:
                growth = _growth(Path(tmp), args.top)
            if args.trace or args.malloc:
                growth += _malloc(Path(tmp) / "malloc.tsv", marks)
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
    if growth:
        print()
        print("\n".join(growth))
    valid = nginx_down_at is None and not (summary and summary["failed"])
    return 0 if ok and valid else 1


def _growth(folder: Path, top: int) -> list[str]:
    """The allocation sites (by their innermost traced frames) that grew most between
    the two heap snapshots, as markdown rows."""
    import tracemalloc

    first, last = folder / "0.snapshot", folder / "1.snapshot"
    if not (first.exists() and last.exists()):
        return []
    base, end = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    base, end = base.filter_traces(ignore), end.filter_traces(ignore)
    total = sum(s.size for s in end.statistics("filename")) - sum(
        s.size for s in base.statistics("filename")
    )
    rows = [
        f"Heap (tracemalloc) from the baseline to the end: {total / MIB:+.2f} MiB; "
        f"the {top} sites that grew most:",
        "",
        "| growth (KiB) | blocks | size at the end (KiB) | where (innermost frame first) |",
        "|--:|--:|--:|---|",
    ]
    for stat in end.compare_to(base, "traceback")[:top]:
        frames = " < ".join(
            f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}" for f in reversed(stat.traceback)
        )
        rows.append(
            f"| {stat.size_diff / 1024:+.1f} | {stat.count_diff:+d} | {stat.size / 1024:.1f} "
            f"| {frames} |"
        )
    return rows


def _malloc(tsv: Path, marks: tuple[float, float]) -> list[str]:
    """glibc's heap (mallinfo2) at the two marks: memory in use, and free memory the
    heap keeps (fragmentation: RSS that no object holds)."""
    if not tsv.exists():
        return []
    rows = [[float(x) for x in line.split("\t")] for line in tsv.read_text().splitlines()]
    picked = [min(rows, key=lambda r, m=m: abs(r[0] - m)) for m in marks]
    out = [
        "",
        "glibc malloc (mallinfo2), MiB:",
        "",
        "| at | heap (brk) | mmapped | in use | free, kept in the heap |",
        "|--:|--:|--:|--:|--:|",
    ]
    for t, arena, mmapped, used, free in picked:
        out.append(
            f"| {t:.0f} s | {arena / MIB:.1f} | {mmapped / MIB:.1f} | {used / MIB:.1f} "
            f"| {free / MIB:.1f} |"
        )
    return out


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope, bytes per second."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (r - mr) for t, r in points) / var if var else 0.0


if __name__ == "__main__":
    sys.exit(main())
