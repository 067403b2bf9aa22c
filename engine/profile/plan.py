"""From a profile and the user's overrides to a RunPlan: which executor, which load.

Precedence, most specific first: an explicit `--executor` or load flags, then a
test type (`--type`), then the profile's `[load]` table or `test_type` (`average` for
a profile with `[deploy]` and neither: its rollout needs the profile's own load),
then a default (constant VUs for the profile's duration). Shared by the CLI and the app.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from engine.addresses import is_loopback
from engine.errors import ConfigError
from engine.explore.capacity import CapacitySettings
from engine.http.body import DEFAULT_MAX_BODY
from engine.http.redirects import DEFAULT_MAX_REDIRECTS
from engine.http.request import Prepared, RequestError, prepare
from engine.http.tls import TlsFileError, TlsOptions, check
from engine.limits import MAX_TIME_SCALE
from engine.load import executors as ex
from engine.load.executors import ExecutorConfig
from engine.load.flow import Flow, Step, Template
from engine.load.run import DEFAULT_SCENARIO, ClientKind, RunPlan, ScenarioPlan, WorkPlan
from engine.load.stages import Stage
from engine.load.tags import check_thresholds
from engine.load.testtypes import default_max_vus, executor_for, resolve
from engine.load.thresholds import Threshold
from engine.profile.model import Endpoint, Profile, ScenarioSpec
from engine.profile.observe import observed

DEFAULT_VUS = 10
DEFAULT_DURATION = 10.0


@dataclass(frozen=True)
class Overrides:
    """Load options from the command line or the app's form; None = not given."""

    executor: str | None = None
    test_type: str | None = None
    vus: int | None = None
    max_vus: int | None = None
    rate: float | None = None
    duration: float | None = None
    iterations: int | None = None
    stages: tuple[Stage, ...] | None = None
    time_scale: float | None = None
    client: ClientKind | None = None
    workers: int | None = None
    cluster: str | None = None  # --cluster ray://HOST:PORT | auto: the workers as Ray actors
    queue: bool | None = None  # --queue: arrival rate waits for a free VU instead of dropping
    max_body: int | None = None  # --max-body: body bytes kept for checks
    timeout: float | None = None  # --timeout: the whole request's deadline, body included
    max_redirects: int | None = None  # --max-redirects: hops followed per request (0: none)
    http2: bool | None = None  # --http2 (required) / --http1 (never); None: the profile's
    insecure: bool | None = None  # --insecure / --insecure-skip-tls-verify
    cacert: str | None = None  # --cacert FILE; the TLS files beat the profile's
    cert: str | None = None  # --cert FILE
    key: str | None = None  # --key FILE
    thresholds: tuple[Threshold, ...] = ()
    replace_thresholds: bool = False
    scenarios: tuple[str, ...] = ()  # --scenario NAME (repeatable): run only those
    once: bool = False  # --once: one iteration of each scenario's flow, at 0 s
    # -e NAME=V (--env NAME=V): bound by the loader (load_profile's env_vars), which knows
    # the lines; here so a front end hands one set of options around.
    env_vars: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # --tag NAME=V: instead of the profile's `tags`
    http_debug: str | None = None  # --http-debug[=full]: "headers" | "full"
    observe: tuple[str, ...] = ()  # --observe URL (repeatable): scraped beside [observe]'s


def choose_executor(profile: Profile, o: Overrides) -> ExecutorConfig:
    return _with_queue(_choose(profile, o), o.queue)


def run_test_type(profile: Profile, o: Overrides) -> str | None:
    """The test type a run uses: `--type`, else (no load flag given) the profile's
    `test_type`, else `average` for a rollout without `[load]`: a canary paced by the
    profile's `rate`/`vus` and `time_scale`, not by 10 VUs for 10 s."""
    if o.test_type is not None or _load_flags(o):
        return o.test_type
    if profile.test_type is not None:
        return profile.test_type
    rollout = profile.deploy is not None and profile.load is None and not profile.scenarios
    return "average" if rollout else None


def _load_flags(o: Overrides) -> bool:
    return any(
        v is not None for v in (o.executor, o.iterations, o.stages, o.duration, o.rate, o.vus)
    )


def fit_duration(profile: Profile, o: Overrides) -> Overrides:
    """A duration for a test type is honoured by scaling the type's shape to it.

    A test type's stages have their own lengths (an average test is 48 s at the demo's
    time scale), so the engine gives a duration to no test type but smoke; the form and
    `surge run` turn it into the time scale that makes the shape last that long.
    ValueError when the time scale is filled in too: two answers to one question.
    """

    def planned(x: Overrides) -> float:
        return planned_duration(profile, x)

    if o.test_type is None or o.executor is not None or o.duration is None:
        return o
    if resolve(o.test_type).name == "capacity":
        return o  # a search lasts as long as it takes: no shape to stretch
    natural = planned(replace(o, duration=None, time_scale=1.0))
    if natural <= 0 or planned(o) == o.duration:
        return o  # the type takes a duration itself (smoke): given as is
    if o.time_scale is not None:
        raise ValueError("a test type is scaled by its duration or by a time scale: give one")
    # Stages have floors (a ramp lasts at least a second), so the length is not linear
    # in the scale: bisect for the scale whose shape lasts the duration (or the nearest).
    lo, hi = 1e-6, MAX_TIME_SCALE
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if planned(replace(o, duration=None, time_scale=mid)) < o.duration:
            lo = mid
        else:
            hi = mid
    return replace(o, duration=None, time_scale=hi)


def _with_queue(cfg: ExecutorConfig, queue: bool | None) -> ExecutorConfig:
    if queue is None:
        return cfg
    if not cfg.open_model:
        raise ConfigError("--queue", "applies only to arrival-rate executors")
    return replace(cfg, queue=queue)


def _choose(profile: Profile, o: Overrides) -> ExecutorConfig:
    test_type = run_test_type(profile, o)
    if test_type is not None and o.executor is None:
        cfg = executor_for(
            test_type,
            vus=o.vus if o.vus is not None else profile.vus,
            rate=o.rate if o.rate is not None else profile.rate,
            max_vus=o.max_vus if o.max_vus is not None else profile.max_vus,
            time_scale=o.time_scale if o.time_scale is not None else profile.time_scale,
        )
        return _with_duration(cfg, o.duration)
    if not _load_flags(o) and profile.load is not None:
        return profile.load
    return _from_flags(profile, o)


def _with_duration(cfg: ExecutorConfig, duration: float | None) -> ExecutorConfig:
    if duration is None or "duration" not in cfg.kind.accepts:
        return cfg
    return replace(cfg, duration=duration)


def _from_flags(profile: Profile, o: Overrides) -> ExecutorConfig:
    """Like k6's CLI shortcuts: --iterations, --stages, --rate, --duration pick the executor."""
    executor = o.executor
    if executor is None:
        if o.stages is not None:
            executor = ex.RAMPING_ARRIVAL_RATE if o.rate is not None else ex.RAMPING_VUS
        elif o.rate is not None:
            executor = ex.CONSTANT_ARRIVAL_RATE
        elif o.iterations is not None:
            executor = ex.SHARED_ITERATIONS
        else:
            executor = ex.CONSTANT_VUS
    vus = o.vus or profile.vus or (1 if executor in _ITERATION_EXECUTORS else DEFAULT_VUS)
    duration = o.duration or profile.duration or DEFAULT_DURATION
    rate = o.rate if o.rate is not None else profile.rate
    base = profile.load if profile.load is not None and profile.load.executor == executor else None
    if executor in _ITERATION_EXECUTORS:
        iterations = o.iterations or (base.iterations if base else vus)
        cfg = ExecutorConfig(executor=executor, vus=vus, iterations=iterations)
        if o.duration is not None:
            cfg = replace(cfg, max_duration=o.duration)
    elif executor == ex.CONSTANT_VUS:
        cfg = ExecutorConfig(executor=executor, vus=vus, duration=duration)
    elif executor == ex.RAMPING_VUS:
        stages = o.stages or (base.stages if base else (Stage(duration, vus),))
        cfg = ExecutorConfig(executor=executor, start_vus=0, stages=stages)
    else:
        if rate is None and executor == ex.CONSTANT_ARRIVAL_RATE:
            raise ConfigError("--rate", f"{executor} needs a rate (--rate N)")
        if executor == ex.CONSTANT_ARRIVAL_RATE:
            peak = float(rate or 0)
            cfg = ExecutorConfig(executor=executor, rate=peak, duration=duration)
        else:
            stages = o.stages or (base.stages if base else ())
            if not stages:
                raise ConfigError("--stages", f"{executor} needs stages (--stages 30s:100,...)")
            peak = max(s.target for s in stages)
            cfg = ExecutorConfig(executor=executor, start_rate=0.0, stages=stages)
        max_vus = o.max_vus or profile.max_vus or default_max_vus(peak)
        pre = min(o.vus or max(1, math.ceil(peak * 0.05)), max_vus)
        cfg = replace(cfg, pre_allocated_vus=pre, max_vus=max_vus)
    if o.max_vus is not None and not cfg.open_model:
        raise ConfigError("--max-vus", "applies only to arrival-rate executors")
    cfg.validate()
    return cfg


_ITERATION_EXECUTORS = (ex.SHARED_ITERATIONS, ex.PER_VU_ITERATIONS)


def default_workers(base_url: str) -> int:
    """One process per core, leaving one core to a target on this machine."""
    cores = os.cpu_count() or 1
    local = is_loopback(urlsplit(base_url).hostname or "")
    return max(1, cores - 1) if local else cores


def build_plan(
    profile: Profile, o: Overrides, *, interval: float = 1.0, in_process: bool = True
) -> RunPlan:
    test_type = run_test_type(profile, o)
    if test_type is not None:
        resolve(test_type)  # a clear error before anything else
    base = profile.base_url
    for key, flow in (("setup", profile.setup), ("teardown", profile.teardown)):
        _check_static_steps(profile, flow, key)
    work = WorkPlan(
        base_url=base,
        scenarios=scenario_plans(profile, o),
        expected_statuses=profile.expected_statuses,
        client=ClientKind(o.client or profile.client),
        timeout=o.timeout if o.timeout is not None else profile.timeout,
        connect_timeout=profile.connect_timeout,
        tls=_tls(profile, o),
        headers=profile.headers,
        max_body=_first(o.max_body, profile.max_body, DEFAULT_MAX_BODY),
        max_redirects=_first(o.max_redirects, profile.max_redirects, DEFAULT_MAX_REDIRECTS),
        http2=o.http2 if o.http2 is not None else profile.http2,
        setup=profile.setup,
        teardown=profile.teardown,
        setup_timeout=profile.setup_timeout,
        teardown_timeout=profile.teardown_timeout,
        run_tags=o.tags or profile.tags,  # --tag replaces them all, as k6's options.Apply
        http_debug=o.http_debug,
    )
    thresholds = o.thresholds if o.replace_thresholds else (*profile.thresholds, *o.thresholds)
    check_thresholds(work, thresholds)
    return RunPlan(
        name=profile.name,
        source=profile.source,
        work=work,
        thresholds=tuple(thresholds),
        test_type=resolve(test_type).name if test_type else None,
        environment=profile.environment,
        interval=interval,
        workers=o.workers or profile.workers or (0 if o.cluster else default_workers(base)),
        cluster=o.cluster,
        on_worker_loss=profile.on_worker_loss,
        in_process=in_process,
        observe=observed(profile.observe, tuple(o.observe)),
        capacity=capacity_settings(profile, o),
    )


def capacity_settings(profile: Profile, o: Overrides) -> CapacitySettings | None:
    """The search's settings when the run is `--type capacity` (the profile's, or the
    defaults; --rate its start), else None."""
    test_type = run_test_type(profile, o)
    if test_type is None or resolve(test_type).name != "capacity":
        return None
    s = profile.capacity or CapacitySettings()
    if o.rate is not None:  # --rate N: the search starts there
        s = replace(s, start=o.rate, max=max(s.max, o.rate))
    return s


def _capacity_rates(
    schedule: list[tuple[ScenarioSpec, ExecutorConfig, float]],
    s: CapacitySettings,
    max_vus: int | None,
) -> list[tuple[ScenarioSpec, ExecutorConfig, float]]:
    """The arrival-rate scenarios of a capacity search, their rates adding up to its
    `start` in their own proportions (the search scales them alike), each with VUs
    enough for its part of `max`."""
    total = sum(cfg.peak_rate for _, cfg, _ in schedule if cfg.open_model)
    out = []
    for spec, cfg, start in schedule:
        if cfg.open_model and total > 0:
            share = cfg.peak_rate / total
            vus = max_vus or default_max_vus(s.max * share)
            cfg = executor_for("capacity", vus=None, rate=s.start * share, max_vus=vus)
        out.append((spec, cfg, start))
    return out


def replaced_scenarios(profile: Profile, o: Overrides) -> str | None:
    """The line to show when load flags replace a profile's scenarios by one (k6 does the
    same, silently)."""
    if not profile.scenarios or not _load_flags(o) or o.once:
        return None
    names = ", ".join(s.name for s in profile.scenarios)
    return f"the load flags replace the profile's scenarios ({names}) by one, {DEFAULT_SCENARIO!r}"


def scenario_plans(profile: Profile, o: Overrides) -> tuple[ScenarioPlan, ...]:
    """One ScenarioPlan per workload the run has: the profile's `[scenarios]` (those
    `--scenario` names), or one `default` (a profile without them, or load flags given);
    `--type` and `--once` applied to each. VU ids are test-wide (`vu_base`)."""
    out: list[ScenarioPlan] = []
    vu_base = 0
    for spec, cfg, start in _schedule(profile, o):
        lane = _lane(profile, spec, o.once)
        out.append(replace(lane, executor=cfg, start_time=start, vu_base=vu_base))
        vu_base += cfg.peak_vus
    return tuple(out)


def planned_duration(profile: Profile, o: Overrides) -> float:
    """How long the run's shape lasts: the latest startTime + planned length of its
    scenarios that a test type scales (iterations take the time they take)."""
    return max(
        (
            start + cfg.planned_duration
            for _, cfg, start in _schedule(profile, o)
            if cfg.executor not in _ITERATION_EXECUTORS
        ),
        default=0.0,
    )


def _schedule(profile: Profile, o: Overrides) -> list[tuple[ScenarioSpec, ExecutorConfig, float]]:
    """Each scenario of the run with its executor and startTime as this run has them."""
    specs = _chosen(profile, o)
    queue = o.queue
    if specs is None:
        default = ScenarioSpec(DEFAULT_SCENARIO, choose_executor(profile, o))
        specs = (replace(default, flow=profile.flow, endpoints=profile.endpoints),)
        test_type = queue = None  # choose_executor has applied them
    else:
        test_type = o.test_type
    one_rate = test_type is not None and resolve(test_type).open_model_only
    if one_rate and test_type != "capacity" and len(specs) > 1:
        raise ConfigError("--type", f"{test_type} raises one arrival rate: pick a --scenario")
    scale = o.time_scale if o.time_scale is not None else profile.time_scale
    out = []
    for spec in specs:
        cfg, start = spec.executor, spec.start_time
        if o.once:
            cfg, start = ExecutorConfig(executor=ex.PER_VU_ITERATIONS, vus=1, iterations=1), 0.0
        elif test_type is not None and cfg.executor not in _ITERATION_EXECUTORS:
            cfg, start = _typed(cfg, test_type, scale), start * scale
        if cfg.open_model:  # --queue: every arrival-rate scenario
            cfg = _with_queue(cfg, queue)
        out.append((spec, cfg, start))
    if queue is not None and not any(cfg.open_model for _, cfg, _ in out):
        raise ConfigError("--queue", "applies only to arrival-rate executors: no scenario has one")
    if (search := capacity_settings(profile, o)) is not None:
        out = _capacity_rates(out, search, o.max_vus or profile.max_vus)
    return out


def _chosen(profile: Profile, o: Overrides) -> tuple[ScenarioSpec, ...] | None:
    """The profile's scenarios this run keeps; None: one `default` instead."""
    names = tuple(s.name for s in profile.scenarios) or (DEFAULT_SCENARIO,)
    for name in o.scenarios:
        if name not in names:
            raise ConfigError("--scenario", f"no scenario {name!r} (scenarios: {', '.join(names)})")
    if profile.scenarios and _load_flags(o) and not o.once:
        if o.scenarios:
            raise ConfigError(
                "--scenario",
                "load flags (-u, -d, -i, --rate, --stages, --executor) replace the scenarios "
                "by one: give --scenario or load flags",
            )
        if profile.flow is None and not profile.endpoints:
            raise ConfigError(
                "exec",
                "load flags replace the scenarios by one running the default flow, and this "
                "profile has none: every scenario names its flow in exec; add [flow] or "
                "[[endpoints]], or drop the load flags",
            )
        return None
    if not profile.scenarios:
        return None
    return tuple(s for s in profile.scenarios if not o.scenarios or s.name in o.scenarios)


def _typed(cfg: ExecutorConfig, test_type: str, time_scale: float) -> ExecutorConfig:
    """A scenario's executor as test type `test_type`, around its own peak: VUs stay VUs,
    an arrival rate stays a rate."""
    if cfg.open_model:
        return executor_for(
            test_type, vus=None, rate=cfg.peak_rate, max_vus=cfg.max_vus, time_scale=time_scale
        )
    return executor_for(test_type, vus=cfg.peak_vus, rate=None, time_scale=time_scale)


def _lane(profile: Profile, spec: ScenarioSpec, once: bool) -> ScenarioPlan:
    """The requests (or flow) a scenario runs, encoded once; with `once` its endpoints
    become a flow that sends each of them once."""
    _check_static_steps(profile, spec.flow, f"flows.{spec.exec}" if spec.exec else "flow")
    lane = ScenarioPlan(
        spec.name,
        spec.executor,
        requests=tuple(_endpoint_request(profile, e) for e in spec.endpoints),
        weights=tuple(e.weight for e in spec.endpoints),
        checks=tuple(e.checks for e in spec.endpoints),
        flow=spec.flow,
        exec=spec.exec,
        tags=spec.tags,
    )
    if once and spec.flow is None:
        return replace(lane, flow=_endpoints_flow(spec.endpoints))
    return lane


def _endpoints_flow(endpoints: tuple[Endpoint, ...]) -> Flow:
    """The endpoints as steps of one flow (each sent once per pass), for --once; a body
    goes as its bytes (a binary template: latin-1 text, one char per byte)."""
    steps = []
    for e in endpoints:
        body = Template((e.body.decode("latin-1"),), binary=True) if e.body is not None else None
        headers = tuple((k, Template((v,))) for k, v in e.headers)
        path = Template((e.path,))
        steps.append(
            Step(e.name, e.method, path, headers, body, e.checks, tags=e.tags, timeout=e.timeout)
        )
    return Flow("endpoints", tuple(steps))


def _tls(profile: Profile, o: Overrides) -> TlsOptions:
    """The profile's TLS options under the flags', each file checked now (exit 2 naming
    the flag) rather than as a run of TLS errors. A `--cert` brings its own `--key`."""
    cert, key = (o.cert, o.key) if o.cert is not None else (profile.cert, o.key or profile.key)
    tls = TlsOptions(
        insecure=o.insecure if o.insecure is not None else profile.insecure,
        cacert=_absolute(o.cacert or profile.cacert),
        cert=_absolute(cert),
        key=_absolute(key),
    )
    flags = {"cacert": o.cacert, "cert": o.cert, "key": o.key}
    try:
        check(tls)
    except TlsFileError as exc:
        where = f"--{exc.option}" if flags[exc.option] is not None else exc.option
        raise ConfigError(where, exc.message) from None
    return tls


def _absolute(path: str | None) -> str | None:
    """Worker processes may start elsewhere: a plan holds absolute paths."""
    return os.path.abspath(path) if path is not None else None


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _endpoint_request(profile: Profile, e: Endpoint) -> Prepared:
    """An endpoint encoded once; ConfigError (exit 2) when it cannot be sent as written.
    (Its origin, base_url's or a named host's, was checked where its line is known.)"""
    url = e.path if _absolute_url(e.path) else profile.base_url + e.path
    try:
        headers = (*profile.headers, *e.headers)
        return prepare(e.name, e.method, url, headers, e.body, timeout=e.timeout, tags=e.tags)
    except RequestError as exc:
        raise ConfigError(exc.key, f"{exc.message} (endpoint {e.name})") from None


def _absolute_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _check_static_steps(profile: Profile, flow: Flow | None, key: str) -> None:
    """Flow steps without placeholders are encoded at start; fail here, not in a VU."""
    if flow is None:
        return
    for step in flow.steps:
        if step.static:
            try:
                step.prepare(profile.base_url, profile.headers, {})
            except RequestError as exc:
                raise ConfigError(exc.key, f"{exc.message} ({key}, step {step.name})") from None
