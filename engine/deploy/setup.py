"""From a profile's `[deploy]` table to a driver steering the router it names.

One place, so `surge run PROFILE`, the app and `surge demo` attach to the same router
the same way: Surge's proxy on `admin_port`, HAProxy on its runtime API socket,
Envoy on its admin socket (`socket`, or the path `surge router start` uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine.deploy.discovery import DiscoverySync
from engine.deploy.driver import DeployDriver, EventHook
from engine.deploy.fleet import BASELINE, Fleet
from engine.deploy.gates.rollout import RolloutGates
from engine.deploy.instances import Launcher
from engine.deploy.router_figures import RouterFigures
from engine.deploy.routers import Router, SurgeProxyRouter
from engine.deploy.smoke import SmokeTarget
from engine.deploy.strategies import Strategy
from engine.discovery import StaticSource, is_registry, parse_source
from engine.profile import Profile
from engine.profile.deploy import DeployPlan

__all__ = ["attach_discovery", "make_router", "profile_driver"]


def make_router(plan: DeployPlan) -> Router:
    """The router a `[deploy]` table names, with its connection settings."""
    if plan.router == "haproxy":
        from engine.deploy.routers.haproxy import HaproxyRouter, default_socket, routes_map

        socket = plan.socket or str(default_socket(plan.proxy_port))
        return HaproxyRouter(
            socket, plan.backend, routes=plan.routes, routes_map=routes_map(socket)
        )
    if plan.router == "envoy":
        from engine.deploy.routers import launch
        from engine.deploy.routers.envoy import EnvoyRouter

        # the endpoint files `surge router start envoy` wrote, for discovery and rolling
        static = {c: () if any(map(is_registry, urls)) else urls for c, urls in _pools(plan)}
        setup = launch.envoy_setup(
            static["blue"], static["green"], listen_port=plan.proxy_port, admin_socket=plan.socket
        )
        endpoints = {c: setup.endpoints_path(c) for c in setup.pools}
        return EnvoyRouter(
            setup.admin_socket,
            pools=setup.pools,
            endpoints=endpoints,
            routes=plan.routes,
            mirror_methods=plan.mirror_methods,
        )
    return SurgeProxyRouter(f"http://127.0.0.1:{plan.admin_port}")


def _pools(plan: DeployPlan) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (("blue", plan.blue), ("green", plan.green))


def profile_driver(
    profile: Profile,
    *,
    strategy: Strategy | None = None,
    router: Router | None = None,
    proxy_url: str | None = None,
    autostart: bool = False,
    on_event: EventHook | None = None,
    log_dir: Path | None = None,
) -> DeployDriver:
    """A driver for the profile's rollout; the smoke run goes to the router's public port
    (`proxy_url`, default 127.0.0.1:proxy_port) on the profile's first GET path. Colors
    given as recipes get a fleet: their instances' logs go to `log_dir` (default
    engine.deploy.instances.default_log_dir)."""
    plan = profile.deploy
    assert plan is not None, "the profile has no [deploy] table"
    url = proxy_url or f"http://127.0.0.1:{plan.proxy_port}"
    router = router or make_router(plan)
    fleet = None
    if plan.recipes:  # Surge starts the instances itself (engine.deploy.instances)
        recipes = dict(plan.recipes)
        if plan.baseline:  # one more of blue's, beside the canary
            recipes[BASELINE] = replace(recipes["blue"], instances=1)
        fleet = Fleet(Launcher(recipes, log_dir), router)
    driver = DeployDriver(
        strategy or plan.build(),
        router,
        autostart=autostart,
        smoke_target=SmokeTarget.for_profile(profile, url),
        on_exit=plan.on_exit,
        on_event=on_event,
        figures_of=RouterFigures(router) if plan.figures == "router" else None,
        fleet=fleet,
        canary_instances=plan.canary_instances,
        scale_down_delay=plan.scale_down_delay,
        routes=plan.routes,
        mirror_methods=plan.mirror_methods,
    )
    if not plan.recipes:  # a recipe's instances are registered by the fleet itself
        attach_discovery(driver, plan.blue, plan.green)
    if plan.gates:  # [[deploy.metrics]], [deploy.hooks]: hooks run in the profile's folder
        cwd = Path(profile.source).parent if profile.source != "<url>" else Path.cwd()
        gates = RolloutGates(
            plan.gates,
            cwd=cwd,
            name=profile.name,
            note=driver.note,
            state=driver.state,
            clock=driver.clock,
        )
        driver.attach_gates(gates)
    return driver


def attach_discovery(driver: DeployDriver, blue: Sequence[str], green: Sequence[str]) -> None:
    """A registry pool is kept up to date in the router by the driver (HAProxy, Envoy);
    Surge's proxy watches its registries itself (`surge proxy --green srv://...`), so
    for it the driver only watches the same registry to put the changes on record."""
    router = driver.router
    if router is None:
        return
    apply = not isinstance(router, SurgeProxyRouter)  # the proxy follows them itself
    for color, values in (("blue", blue), ("green", green)):
        source = parse_source(list(values), color)
        if not isinstance(source, StaticSource):
            sync = DiscoverySync(router, color, source, driver.note, apply=apply)
            driver.discovery.append(sync)
