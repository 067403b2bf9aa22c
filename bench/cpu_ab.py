"""CPU per request of two Surge trees, alternating: the A/B for a change on the hot path.

    .venv/bin/python bench/cpu_ab.py --before /tmp/oldtree [--after .] [--rounds 4]
        [--requests 150000] [--vus 50] [--body 12b|100k|1m] [--scheme http|https|https-default|h2]
        [--net]

Each round runs `surge run NGINX --vus 50 --iterations N --workers 1` from each tree
(PYTHONPATH=TREE), pinned to the generator core, against the pinned nginx, and
measures the child's user + system CPU time per request. CPU time, unlike req/s, is
hardly moved by other load on a shared machine, so a few rounds tell a cost of a
fraction of a microsecond. Prints each run, the medians and after/before.
`--net` also runs each tree for `--start-requests` (1,000) per round and takes that
run's CPU (start-up, imports, connecting) off: the per-request cost alone, which the
gross figure dilutes with about a second of start-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BODIES, GENERATOR_CORE, Nginx, surge_binary


def cpu_seconds(tree: Path, url: str, requests: int, vus: int, h2: bool = False) -> float:
    """The CPU time (user + system) of one `surge run` of `requests` from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    python = Path(surge_binary()).with_name("python")
    subprocess.run(
        ["taskset", "-c", str(GENERATOR_CORE), str(python), "-m", "tui.cli", "run", url,
         "--vus", str(vus), "--iterations", str(requests), "--workers", "1", "-q",
         *(["--insecure"] if url.startswith("https") else []), *(["--http2"] if h2 else [])],
        cwd=tree, env=env, check=True, capture_output=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--before", type=Path, required=True, help="a checkout (git worktree) to compare"
    )
    p.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--requests", type=int, default=150_000)
    p.add_argument("--vus", type=int, default=50)
    p.add_argument("--body", choices=list(BODIES), help="a file of the matrix instead of `/`")
    p.add_argument("--scheme", choices=["http", "https", "https-default", "h2"], default="http")
    p.add_argument("--net", action="store_true", help="take a short run's CPU off (start-up)")
    p.add_argument("--start-requests", type=int, default=1000, help="--net: the short run")
    args = p.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[float]] = {name: [] for name in trees}
    with Nginx() as nginx:
        url = nginx.file_url(args.scheme, args.body) if args.body else nginx.base_url(args.scheme)
        for r in range(args.rounds):
            order = list(trees.items()) if r % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                h2 = args.scheme == "h2"
                cpu = cpu_seconds(tree, url, args.requests, args.vus, h2)
                if args.net:
                    cpu -= cpu_seconds(tree, url, args.start_requests, args.vus, h2)
                us = cpu / (args.requests - (args.start_requests if args.net else 0)) * 1e6
                runs[name].append(us)
                what = "net of start-up" if args.net else "start-up included"
                print(f"{name:6} {us:6.2f} us CPU per request ({what})", flush=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(f"{name:6} median {medians[name]:.2f} us  ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"after/before CPU per request: {medians['after'] / medians['before']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
