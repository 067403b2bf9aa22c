"""Where does Surge's time go? py-spy on a `surge run` under load, top functions by self time.

    python bench/hotpath.py [--duration 20] [--vus 50 | --rate 20000] [--native]
        [--body 12b|100k|1m] [--scheme http|https|https-default|h2]

nginx (one worker) on core 0, Surge (`--workers 1`) on core 1; py-spy (installed
into bench/.venv) samples Surge for the middle of the run and writes a speedscope
profile (open it at speedscope.app, or `py-spy`'s own viewer). Then prints the
functions with the most self time (the leaf of each sample) and their total time.
Without --native, time spent inside C code (uvloop's syscalls, httptools) shows as
the self time of the Python function that called it; --native splits it out.
py-spy pauses Surge for each sample (unless --nonblocking, whose stacks may be torn),
so Surge runs slower while profiled: read shares, not rates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BODIES,
    GENERATOR_CORE,
    SERVER_CORE,
    Nginx,
    check_cores,
    ensure_tools_venv,
    log,
    pinned,
    stop_cleanly_on_signals,
    surge_binary,
)


def top_functions(speedscope: Path, n: int) -> tuple[int, list[tuple[str, float, float]]]:
    """(samples, [(function, self %, total %)]) from a py-spy speedscope file."""
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    names = []
    for f in frames:
        file = f.get("file") or ""
        short = "/".join(Path(file).parts[-2:]) if file else ""
        names.append(f"{f['name']} ({short})" if short else f["name"])
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    count = 0.0
    samples = 0
    for prof in data["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            if not stack:
                continue
            samples += 1
            count += weight
            own[names[stack[-1]]] += weight
            for name in {names[i] for i in stack}:
                total[name] += weight
    rows = [(name, c / count * 100, total[name] / count * 100) for name, c in own.most_common(n)]
    return samples, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=20, help="Surge's run, s (default 20)")
    p.add_argument("--vus", type=int, default=50, help="closed model VUs (default 50)")
    p.add_argument("--rate", type=float, help="open model instead: requests/s")
    p.add_argument("--body", choices=list(BODIES), help="a file of the matrix instead of `/`")
    p.add_argument("--scheme", choices=["http", "https", "https-default", "h2"], default="http")
    p.add_argument("--native", action="store_true", help="also sample C frames (py-spy --native)")
    p.add_argument(
        "--nonblocking",
        action="store_true",
        help="do not pause Surge per sample: faster, but stacks may be torn",
    )
    p.add_argument("--hz", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--top", type=int, default=25, help="rows to print (default 25)")
    p.add_argument("-o", "--output", default="/tmp/surge-profile.speedscope.json")
    args = p.parse_args(argv)
    if args.duration < 6:
        p.error("--duration must be at least 6 s")

    stop_cleanly_on_signals()
    check_cores()
    py_spy = ensure_tools_venv(["py-spy"]) / "py-spy"
    out = Path(args.output)
    out.unlink(missing_ok=True)
    load = (
        ["--rate", f"{args.rate:g}", "--max-vus", "200"] if args.rate else ["--vus", str(args.vus)]
    )
    try:
        with Nginx() as nginx:
            url = (
                nginx.file_url(args.scheme, args.body) if args.body else nginx.base_url(args.scheme)
            )
            argv_ = [str(surge_binary()), "run", url, *load, "--duration", f"{args.duration}s"]
            argv_ += ["--insecure"] if url.startswith("https:") else []
            argv_ += ["--http2"] if args.scheme == "h2" else []
            argv_ += ["--workers", "1", "--progress", "never"]
            surge = subprocess.Popen(
                pinned(GENERATOR_CORE, argv_), stdout=subprocess.PIPE, text=True
            )
            try:
                time.sleep(2)  # past the start-up
                seconds = args.duration - 4
                spy = [str(py_spy), "record", "--pid", str(surge.pid), "--rate", str(args.hz)]
                spy += ["--duration", str(seconds), "--format", "speedscope", "-o", str(out)]
                if args.native:
                    spy.append("--native")
                elif args.nonblocking:
                    spy.append("--nonblocking")
                # py-spy on the server's core: it must not take the generator's.
                log(f"py-spy record for {seconds} s at {args.hz} Hz (core {SERVER_CORE})")
                subprocess.run(pinned(SERVER_CORE, spy), check=True, capture_output=True)
                stdout, _ = surge.communicate(timeout=args.duration + 60)
            finally:
                if surge.poll() is None:
                    surge.kill()
                    surge.wait()
    except KeyboardInterrupt:
        log("interrupted; nginx and surge stopped")
        return 130
    for line in stdout.splitlines():
        if "http_reqs" in line or "busiest" in line:
            print(line.strip())
    samples, rows = top_functions(out, args.top)
    print(f"\n{samples} samples; speedscope profile: {out}\n")
    print("| self % | total % | function |")
    print("|--:|--:|---|")
    for name, own, total in rows:
        print(f"| {own:.1f} | {total:.1f} | `{name}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
