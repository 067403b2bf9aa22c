"""What a validated profile is: frozen values, and the one-line error for a mistake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.explore.capacity import CapacitySettings
from engine.load.checks import Check
from engine.load.executors import ExecutorConfig
from engine.load.flow import Flow
from engine.load.run import ClientKind, OnWorkerLoss
from engine.load.thresholds import Threshold
from engine.observe.config import ObserveSpec

if TYPE_CHECKING:
    from engine.profile.deploy import DeployPlan


class ProfileError(ValueError):
    """A profile mistake, always one line, so a terminal or a CI log shows it whole."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key = _one_line(key)
        self.message = _one_line(message)
        where = f"{file}:{line}" if line is not None else file
        super().__init__(_one_line(f"{where}: {self.key}: {self.message}"))


@dataclass(frozen=True)
class Endpoint:
    """One weighted request; VUs pick endpoints at random in proportion to `weight`."""

    name: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    weight: float = 1.0
    checks: tuple[Check, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # k6's request tags
    timeout: float | None = None  # its own deadline; None: the profile's


@dataclass(frozen=True)
class ScenarioSpec:
    """One `[scenarios.NAME]` table: k6's scenario, a workload with its own executor.

    `flow` / `endpoints` are what it runs, bound to its `env` (placeholders
    `${env.NAME}` already substituted): the `[flows.NAME]` its `exec` names, else the
    profile's default flow (`[flow]`, or the endpoints when `flow` is None).
    """

    name: str
    executor: ExecutorConfig
    start_time: float = 0.0  # k6 startTime: seconds after setup() ends
    exec: str = ""  # the [flows.NAME] it runs; "" = the profile's default flow
    tags: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # over -e and the process environment
    flow: Flow | None = None
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A validated profile; `source` is the file as given, or "<url>" for `surge run URL`."""

    name: str
    source: str
    base_url: str
    headers: tuple[tuple[str, str], ...] = ()
    description: str = ""
    vus: int | None = None
    rate: float | None = None
    max_vus: int | None = None
    time_scale: float = 1.0
    test_type: str | None = None  # the type run when --type is not given (not with [load])
    capacity: CapacitySettings | None = None  # --type capacity's search, as the profile says
    duration: float | None = None
    client: ClientKind = ClientKind.WIRE
    timeout: float = 10.0
    connect_timeout: float = 5.0
    insecure: bool = False
    cacert: str | None = None  # TLS files, resolved against the profile's folder
    cert: str | None = None
    key: str | None = None
    expected_statuses: tuple[tuple[int, int], ...] = ((200, 399),)
    workers: int | None = None
    on_worker_loss: OnWorkerLoss = OnWorkerLoss.CONTINUE
    max_body: int | None = None  # body bytes kept for checks; None: the engine's default
    max_redirects: int | None = None  # redirects followed per request; None: k6's 10
    http2: bool | None = None  # true: HTTP/2 required; false: HTTP/1.1 only; None: by ALPN
    endpoints: tuple[Endpoint, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    load: ExecutorConfig | None = None
    environment: str | None = None
    environments: tuple[str, ...] = ()
    flow: Flow | None = None
    # k6's options.scenarios: several workloads at once (then `load` is None).
    scenarios: tuple[ScenarioSpec, ...] = ()
    flows: dict[str, Flow] = field(default_factory=dict, hash=False)  # [flows.NAME]
    setup: Flow | None = None  # k6's setup(): steps run once before the first scenario
    teardown: Flow | None = None  # k6's teardown(): once after the last
    setup_timeout: float = 60.0  # k6's setupTimeout
    teardown_timeout: float = 60.0
    tags: tuple[tuple[str, str], ...] = ()  # run tags (k6's options.tags), as --tag
    hosts: tuple[tuple[str, str], ...] = ()  # extra origins, `${hosts.NAME}` in a path
    # [observe]: the server's side, scraped each interval
    observe: ObserveSpec = field(default_factory=ObserveSpec)
    # Excluded from hashing: a plan holds mappings, which cannot hash.
    deploy: DeployPlan | None = field(default=None, hash=False)
    # Lines to show the user: an old spelling read ("file:line: key: what it is now").
    notes: tuple[str, ...] = ()


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
