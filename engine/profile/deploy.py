"""The `[deploy]` table: where blue and green are, which strategy moves traffic, and
the bounds its analysis judges green by.

Its values go through the same `fields` validators as the rest of a profile, so a
mistake reads the same here as in any other table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.addresses import parse_http_origin
from engine.deploy.gates.spec import GatesPlan
from engine.deploy.recipe import Recipe
from engine.deploy.strategies import (
    COLORS,
    Analysis,
    Canary,
    Linear,
    Manual,
    OnExit,
    Rolling,
    RollingWithAdditionalBatch,
    Strategy,
    Switch,
    strategy_name,
)
from engine.deploy.strategies.traffic import IDEMPOTENT, Route
from engine.discovery import is_registry, parse_source
from engine.errors import ConfigError, did_you_mean
from engine.profile import fields
from engine.profile.deploy_gates import parse_gates
from engine.profile.deploy_judge import JUDGE_KEYS, parse_judge
from engine.profile.deploy_traffic import TRAFFIC_KEYS, parse_steps, parse_traffic
from engine.profile.fields import Invalid, describe
from engine.profile.locate import KeyPath, format_key
from engine.profile.recipe import parse_recipe

_COMMON_KEYS = (
    "blue",
    "green",
    "proxy_port",
    "admin_port",
    "strategy",
    "sticky",
    "router",
    "socket",
    "backend",
    "on_exit",
    "figures",
    "metrics",  # [[deploy.metrics]] and [deploy.hooks]: engine.profile.deploy_gates
    "hooks",
)
FIGURES = ("load", "router")
ROUTERS = ("surge", "haproxy", "envoy")
_ANALYSIS_KEYS = (
    "min_requests",
    "min_success_rate",
    "max_p99_ms",
    "max_p99_ratio",
    "p99_floor_ms",
    "max_success_drop",
    "failure_limit",
    "max_inconclusive",
    *JUDGE_KEYS,
)
_BOUND_KEYS = ("min_success_rate", "max_p99_ms", "max_p99_ratio", "max_success_drop", "judge")
_RECIPE_KEYS = ("scale_down_delay",)  # only with colors given as recipes
_STRATEGY_KEYS: dict[str, tuple[str, ...]] = {
    "bluegreen": ("smoke", "smoke_duration", *_ANALYSIS_KEYS, *_RECIPE_KEYS),
    "canary": (
        "steps",
        "step_weight",
        "max_weight",
        "interval",
        "canary_instances",
        "baseline",
        *TRAFFIC_KEYS,
        *_ANALYSIS_KEYS,
        *_RECIPE_KEYS,
    ),
    "linear": (
        "percent",
        "every",
        "canary_instances",
        "baseline",
        *_ANALYSIS_KEYS,
        *_RECIPE_KEYS,
    ),
    "rolling": ("batch_size", "interval", *_ANALYSIS_KEYS),
    "rolling-with-additional-batch": ("batch_size", "interval", *_ANALYSIS_KEYS),
    "manual": ("step",),
}


@dataclass(frozen=True)
class DeployPlan:
    """A validated `[deploy]` table; `build()` makes a fresh strategy for each rollout."""

    blue: tuple[str, ...]
    green: tuple[str, ...]
    strategy: str
    proxy_port: int = 8000
    admin_port: int = 8001
    sticky: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    router: str = "surge"  # which load balancer the rollout steers (ROUTERS)
    socket: str | None = None  # haproxy's runtime API / envoy's admin Unix socket
    backend: str = "surge"  # haproxy: the backend whose servers are blue* and green*
    on_exit: OnExit = OnExit.ROLLBACK  # what a router is left at when Surge ends mid-rollout
    figures: str = "load"  # judge on Surge's own load, or on the router's counters
    # colors given as tables: Surge starts their instances (engine.deploy.instances)
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    canary_instances: int = 1  # green instances a canary starts with (recipes)
    scale_down_delay: float = 0.0  # seconds blue keeps running after a promotion (recipes)
    baseline: bool = False  # a fresh blue instance beside the canary, judged against (recipes)
    notes: tuple[tuple[KeyPath, str], ...] = ()  # what was read but is spelled differently now
    routes: tuple[Route, ...] = ()  # a canary's cohort (engine.profile.deploy_traffic)
    mirror_methods: tuple[str, ...] = IDEMPOTENT  # what a mirror step copies to green
    gates: GatesPlan = field(default_factory=GatesPlan)  # [[deploy.metrics]], [deploy.hooks]

    def instances(self, color: str) -> int:
        """How many instances the color has: its recipe's, else its URLs."""
        recipe = self.recipes.get(color)
        return recipe.instances if recipe is not None else len(getattr(self, color))

    def build(self) -> Strategy:
        o = self.options
        analysis: Analysis | None = o.get("analysis")
        limit = int(o.get("failure_limit", 1))
        if self.strategy == "bluegreen":
            return Switch(analysis if o.get("smoke") else None)
        if self.strategy == "canary":
            assert analysis is not None
            return Canary(
                analysis,
                steps=o.get("steps"),
                step_weight=o.get("step_weight"),
                max_weight=o.get("max_weight"),
                failure_limit=limit,
            )
        if self.strategy == "linear":
            return Linear(o["percent"], o["every"], analysis, limit)
        if self.strategy in ("rolling", "rolling-with-additional-batch"):
            cls = Rolling if self.strategy == "rolling" else RollingWithAdditionalBatch
            return cls(
                self.instances("blue"),
                o.get("batch_size", 1),
                o["interval"],
                analysis=analysis,
                failure_limit=limit,
            )
        return Manual(o.get("step", 10))


def parse_deploy(table: Mapping[str, Any], *, prefix: str = "deploy") -> DeployPlan:
    """Validate a `[deploy]` table on its own; each error is a ConfigError naming its key."""
    path: KeyPath = tuple(prefix.split(".")) if prefix else ()
    try:
        return deploy_plan(table, path)
    except Invalid as exc:
        raise ConfigError(format_key(exc.path) or "deploy", exc.message) from None


def deploy_plan(table: Any, path: KeyPath) -> DeployPlan:
    """Validate a `[deploy]` table found at `path`; errors are `Invalid` at the culprit's path."""
    if not isinstance(table, Mapping):
        raise Invalid(path or ("deploy",), f"expected a table, got {describe(table)}")
    at = (*path, "strategy")
    try:
        strategy, renamed = strategy_name(fields.text(table.get("strategy", "canary"), at))
    except ValueError as exc:
        raise Invalid(at, str(exc)) from None
    allowed = (*_COMMON_KEYS, *_STRATEGY_KEYS[strategy])
    for name in table:
        if name in allowed:
            continue
        if any(name in keys for keys in _STRATEGY_KEYS.values()):
            raise Invalid((*path, name), f"does not apply to strategy {strategy!r}")
        hint = did_you_mean(name, allowed)
        raise Invalid((*path, name), f"unknown key{hint} (known: {', '.join(allowed)})")
    for color in COLORS:
        if color not in table:
            hint = 'required: a list of upstream URLs, e.g. ["http://127.0.0.1:8081"]'
            raise Invalid((*path, color), hint)
    recipes = {
        c: parse_recipe(table[c], (*path, c)) for c in COLORS if isinstance(table[c], Mapping)
    }
    if len(recipes) == 1:
        (given,) = recipes
        other = "green" if given == "blue" else "blue"
        message = f"give {other} as a recipe too: Surge replaces instances it started itself"
        raise Invalid((*path, other), message)
    blue = () if recipes else _urls(table["blue"], (*path, "blue"))
    green = () if recipes else _urls(table["green"], (*path, "green"))
    counts = {c: r.instances for c, r in recipes.items()} or {
        "blue": len(blue),
        "green": len(green),
    }
    proxy_port = fields.port(table.get("proxy_port", 8000), (*path, "proxy_port"))
    admin_port = fields.port(table.get("admin_port", 8001), (*path, "admin_port"))
    if proxy_port == admin_port and proxy_port != 0:
        raise Invalid((*path, "admin_port"), f"must differ from proxy_port ({proxy_port})")
    sticky = fields.flag(table.get("sticky", False), (*path, "sticky"))
    options = _options(table, strategy, path)
    router = _choice(table.get("router", "surge"), (*path, "router"), ROUTERS)
    on_exit = OnExit(_choice(table.get("on_exit", "rollback"), (*path, "on_exit"), tuple(OnExit)))
    figures = _choice(table.get("figures", "load"), (*path, "figures"), FIGURES)
    socket = fields.text(table["socket"], (*path, "socket")) if "socket" in table else None
    if socket is not None and router == "surge":
        raise Invalid((*path, "socket"), 'applies to router = "haproxy" or "envoy"')
    backend = fields.name(table.get("backend", "surge"), (*path, "backend"))
    if sticky and router != "surge":
        message = (
            f"{router} cannot move cookie-pinned clients on a rollback; "
            "pin clients with the x-surge-color header instead (README: Routers)"
        )
        raise Invalid((*path, "sticky"), message)
    if any(is_registry(u) for u in (*blue, *green)):
        if strategy.startswith("rolling"):
            message = f"{strategy} counts instances: give URLs, not a registry"
            raise Invalid((*path, "strategy"), message)
    elif strategy.startswith("rolling") and counts["green"] != counts["blue"]:
        what = "instances" if recipes else "URLs"
        raise Invalid(
            (*path, "green", "instances") if recipes else (*path, "green"),
            f"{strategy} replaces instances one for one: need {counts['blue']} green {what} "
            f"(as many as blue), got {counts['green']}",
        )
    if "batch_size" in options and options["batch_size"] > counts["blue"]:
        message = f"must be 1..{counts['blue']} (the instances per color)"
        raise Invalid((*path, "batch_size"), message)
    canary_instances, scale_down_delay = _recipe_options(table, path, recipes, counts["green"])
    baseline = _baseline(table, path, recipes, router, figures)
    routes, methods = parse_traffic(table, path, router, options.get("steps", ()))
    gates = parse_gates(table, path)
    if gates.metrics and "analysis" not in options:
        message = f"{strategy} judges no windows: metrics need canary, linear, rolling or smoke"
        raise Invalid((*path, "metrics"), message)
    return DeployPlan(
        blue,
        green,
        strategy,
        proxy_port,
        admin_port,
        sticky,
        options,
        router=router,
        socket=socket,
        backend=backend,
        on_exit=on_exit,
        figures=figures,
        recipes=recipes,
        canary_instances=canary_instances,
        scale_down_delay=scale_down_delay,
        baseline=baseline,
        notes=((at, renamed),) if renamed else (),
        routes=routes,
        mirror_methods=methods,
        gates=gates,
    )


def _baseline(
    table: Mapping[str, Any],
    path: KeyPath,
    recipes: Mapping[str, Recipe],
    router: str,
    figures: str,
) -> bool:
    """`baseline = true`: Surge starts the instance (recipes), tags its answers apart
    (Surge's proxy: HAProxy and Envoy tag by pool), and judges it on its own load."""
    if not fields.flag(table.get("baseline", False), (*path, "baseline")):
        return False
    if not recipes:
        raise Invalid((*path, "baseline"), "applies when blue and green are recipes (tables)")
    if router != "surge":
        message = f'needs router = "surge" ({router} tags answers by pool, not by instance)'
        raise Invalid((*path, "baseline"), message)
    if figures != "load":
        raise Invalid((*path, "baseline"), 'needs figures = "load" (its own requests, apart)')
    return True


def _recipe_options(
    table: Mapping[str, Any], path: KeyPath, recipes: Mapping[str, Recipe], green: int
) -> tuple[int, float]:
    """`canary_instances` and `scale_down_delay` count instances Surge starts: recipes only."""
    for name in ("canary_instances", "scale_down_delay"):
        if name in table and not recipes:
            raise Invalid((*path, name), "applies when blue and green are recipes (tables)")
    canary = fields.integer(table.get("canary_instances", 1), (*path, "canary_instances"), 1, 64)
    if canary > green:
        raise Invalid((*path, "canary_instances"), f"must be 1..{green} (green's instances)")
    delay = 0.0
    if "scale_down_delay" in table:
        delay = fields.seconds(table["scale_down_delay"], (*path, "scale_down_delay"))
    return canary, delay


def _choice(value: Any, path: KeyPath, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise Invalid(path, f"expected one of {', '.join(allowed)}, got {describe(value)}")
    return str(value)


def _options(t: Mapping[str, Any], strategy: str, path: KeyPath) -> dict[str, Any]:
    """The strategy's own keys, validated, with defaults filled in."""

    def at(name: str) -> KeyPath:
        return (*path, name)

    o: dict[str, Any] = {}
    if strategy == "manual":
        if "step" in t:
            o["step"] = fields.integer(t["step"], at("step"), 1, 100)
        return o
    o["failure_limit"] = fields.integer(t.get("failure_limit", 1), at("failure_limit"), 1, 1000)
    interval: float | None = None
    if strategy == "canary":
        if "steps" in t and ("step_weight" in t or "max_weight" in t):
            raise Invalid(at("steps"), "give either steps or step_weight/max_weight, not both")
        if "steps" in t:
            o["steps"] = parse_steps(t["steps"], at("steps"))
        else:
            sw = fields.integer(t.get("step_weight", 10), at("step_weight"), 1, 100)
            mw = fields.integer(t.get("max_weight", 50), at("max_weight"), 1, 100)
            if mw < sw:
                raise Invalid(at("max_weight"), f"must be >= step_weight ({sw}), got {mw}")
            o["step_weight"], o["max_weight"] = sw, mw
        interval = fields.seconds(t.get("interval", "1m"), at("interval"))
    elif strategy == "linear":
        if "percent" not in t:
            raise Invalid(at("percent"), "required: the share added each time, e.g. 10")
        if "every" not in t:
            raise Invalid(at("every"), 'required: how often, e.g. "1m"')
        o["percent"] = fields.integer(t["percent"], at("percent"), 1, 100)
        o["every"] = interval = fields.seconds(t["every"], at("every"))
    elif strategy.startswith("rolling"):
        o["batch_size"] = fields.integer(t.get("batch_size", 1), at("batch_size"), 1, 1000)
        o["interval"] = interval = fields.seconds(t.get("interval", "1m"), at("interval"))
    else:  # bluegreen
        o["smoke"] = fields.flag(t.get("smoke", False), at("smoke"))
        interval = fields.seconds(t.get("smoke_duration", "30s"), at("smoke_duration"))
    wants_analysis = strategy == "canary" or (
        (strategy == "bluegreen" and o["smoke"]) or any(k in t for k in (*_BOUND_KEYS, "metrics"))
    )
    if wants_analysis:
        o["analysis"] = _analysis(t, interval, path)
    return o


def _analysis(t: Mapping[str, Any], interval: float, path: KeyPath) -> Analysis:
    """The bounds given, the defaults for the rest (None switches a bound off)."""

    def bound(name: str, check: Any, default: float | None) -> float | None:
        return check(t[name], (*path, name)) if name in t else default

    d = Analysis(interval=interval)
    min_requests = t.get("min_requests", d.min_requests)
    return Analysis(
        interval=interval,
        min_requests=fields.integer(min_requests, (*path, "min_requests"), 1, 10**9),
        min_success_rate=bound("min_success_rate", fields.fraction, d.min_success_rate),
        max_p99_ms=bound("max_p99_ms", fields.positive, d.max_p99_ms),
        max_p99_ratio=bound("max_p99_ratio", fields.positive, d.max_p99_ratio),
        p99_floor_ms=bound("p99_floor_ms", fields.positive, d.p99_floor_ms) or 0.0,
        max_success_drop=bound("max_success_drop", fields.fraction, d.max_success_drop),
        max_inconclusive=fields.integer(
            t.get("max_inconclusive", d.max_inconclusive), (*path, "max_inconclusive"), 0, 1000
        ),
        judge=parse_judge(t, path),
    )


def _urls(value: Any, path: KeyPath) -> tuple[str, ...]:
    """Upstream origins (the proxy's own rule, `parse_http_origin`), each listed once;
    or one registry (`srv://RESOLVER:PORT/NAME`, `srv:///NAME`, `file:///PATH`)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple) and any(
        isinstance(v, str) and is_registry(v) for v in value
    ):
        try:
            parse_source(list(value), format_key(path))
        except ConfigError as exc:
            raise Invalid(path, exc.message) from None
        return tuple(value)
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(path, f"expected a non-empty list of URLs, got {describe(value)}")
    out: list[str] = []
    for i, url in enumerate(value):
        where = (*path, i)
        if not isinstance(url, str):
            raise Invalid(where, f"expected a URL string, got {describe(url)}")
        try:
            parse_http_origin(url, format_key(where))
        except ConfigError as exc:
            raise Invalid(where, exc.message) from None
        if url in out:
            raise Invalid(where, f"duplicate upstream {url!r}")
        out.append(url)
    return tuple(out)
