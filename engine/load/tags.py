"""Which figures a threshold's tags select, resolved from the plan: no tag travels with
a request.

k6 puts tags on every sample, and `metric{tag:value}` judges the samples that carry
them. Surge's workers keep figures per lane (a scenario, setup, teardown) and per step
within it, and every tag such a figure would carry in k6 is known from the plan
(docs/design/scenarios-and-vocabulary.md, facts 4, 7, 8). So each threshold is
resolved once to the lanes and steps it selects. Which tags a figure carries, as in
k6 (internal/js/runner.go, lib/executor/base_executor.go):

- a request (http_*, data_*): run tags < scenario tags < step tags, then `scenario`,
  `group`, `step` (k6's `name`) and `method` on top;
- a check: run and scenario tags, `scenario`, `group`, and Surge's `step`;
- an iteration (iterations, iteration_duration): run and scenario tags, `scenario`;
- a group's duration (group_duration): those and the group's own path as `group`;
- a dropped iteration: run tags and `scenario` only, not the scenario's tags;
- vus, vus_max and the timing breakdown: the whole run's, run tags only.
Setup and teardown carry run tags and `group` ::setup / ::teardown, no `scenario`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from engine.errors import ConfigError
from engine.load.flow import GROUP_ROOTS, Flow
from engine.load.thresholds import INNER, WHOLE_RUN, Threshold

if TYPE_CHECKING:
    from engine.load.run import WorkPlan

DEFAULT_LANE = "default"  # k6's one scenario of a test without `scenarios`
SETUP, TEARDOWN = "(setup)", "(teardown)"  # run.py's SETUP_LANE, TEARDOWN_LANE

Tags = tuple[tuple[str, str], ...]


class Level(StrEnum):
    """What a metric's figures are kept per, and so which tags they carry."""

    REQUEST = "request"  # per lane and step (and upstream)
    CHECK = "check"  # per lane, step and check name
    ITERATION = "iteration"  # per lane
    GROUP = "group"  # per lane and group path
    DROPPED = "dropped"  # per lane, without the scenario's tags
    RUN = "run"  # the whole run


_LEVELS: dict[str, Level] = {
    "checks": Level.CHECK,
    "iterations": Level.ITERATION,
    "iteration_duration": Level.ITERATION,
    "group_duration": Level.GROUP,
    "dropped_iterations": Level.DROPPED,
    **dict.fromkeys(WHOLE_RUN, Level.RUN),
}


def level_of(metric: str) -> Level:
    return _LEVELS.get(metric, Level.REQUEST)


def group_path(parent: str, name: str) -> str:
    """k6's group tag: the parent's path, `::`, the name (`::checkout`, `::setup::login`)."""
    return f"{parent}::{name}" if name else parent


@dataclass(frozen=True)
class StepTags:
    """What a step's figures carry besides its lane's tags."""

    name: str
    method: str = ""
    group: str = ""  # k6's group path, "" at the root
    tags: Tags = ()  # the step's own `tags`


@dataclass(frozen=True)
class LaneTags:
    """A lane: a scenario (its name is the `scenario` tag), or setup/teardown (none)."""

    name: str
    tags: Tags = ()  # the scenario's `tags`
    steps: tuple[StepTags, ...] = ()
    scenario: bool = True
    group: str = ""  # the root group of its steps: "::setup" for setup


@dataclass
class TagIndex:
    """Every lane's and step's tags, per level; pure, built once per run."""

    run_tags: Tags = ()
    lanes: Mapping[str, LaneTags] = field(default_factory=dict)
    _cache: dict[tuple[Level, str, str], dict[str, str]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def of(cls, run_tags: Tags, lanes: Iterable[LaneTags]) -> TagIndex:
        return cls(run_tags, {lane.name: lane for lane in lanes})

    @classmethod
    def of_plan(cls, work: WorkPlan) -> TagIndex:
        """The lanes of a plan: its scenarios, and setup and teardown when it has them."""
        lanes = []
        for sc in work.scenarios:
            if sc.flow is not None:
                steps = _flow_steps(sc.flow, "")
            else:
                steps = tuple(StepTags(r.name, r.method, "", r.tags) for r in sc.requests)
            lanes.append(LaneTags(sc.name, sc.tags, steps))
        for name, flow in ((SETUP, work.setup), (TEARDOWN, work.teardown)):
            if flow is not None:
                root = GROUP_ROOTS[name]
                lanes.append(LaneTags(name, (), _flow_steps(flow, root), False, root))
        return cls.of(work.run_tags, lanes)

    def tags(self, level: Level, lane: str, item: str = "") -> dict[str, str]:
        """The tags of a lane's figures at `level`; `item` is the step (REQUEST, CHECK)
        or the group path (GROUP). A lane or step the plan does not name carries what
        its name says (a report read back, a hop)."""
        key = (level, lane, item)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._tags(level, lane, item)
        return found

    def _tags(self, level: Level, lane_name: str, item: str) -> dict[str, str]:
        out = dict(self.run_tags)
        if level == Level.RUN:
            return out
        lane = self.lanes.get(lane_name) or LaneTags(lane_name)
        if level != Level.DROPPED:
            out.update(lane.tags)
        if lane.scenario:
            out["scenario"] = lane.name
        if level == Level.GROUP:
            out["group"] = item
            return out
        if level in (Level.DROPPED, Level.ITERATION):
            if not lane.scenario:
                out["group"] = lane.group
            return out
        step = next((s for s in lane.steps if s.name == item), None)
        step = step or StepTags(item, "", lane.group)
        if level == Level.REQUEST:
            out.update(step.tags)
            if step.method:
                out["method"] = step.method
        out["group"] = step.group
        out["step"] = step.name
        return out

    def select(self, th: Threshold) -> Selection:
        """The threshold resolved: the tags its lanes and steps must carry."""
        want = tuple((n, v) for n, v in th.tags if n not in INNER)
        return Selection(level_of(th.metric), want, self)

    def check(self, th: Threshold) -> None:
        """ConfigError for a tag a whole-run figure cannot carry (not a run tag)."""
        sel = self.select(th)
        if sel.level == Level.RUN and sel.want and not sel.lane(""):
            names = ", ".join(n for n, _ in sel.want)
            raise ConfigError(
                th.key,
                f"{th.metric} is kept for the whole run: a tag selects it only when the "
                f"run has it (--tag or the profile's tags), not {names}",
            )


def check_thresholds(work: WorkPlan, thresholds: Iterable[Threshold]) -> None:
    """ConfigError for a threshold whose tags a plan's figures cannot carry (at plan time,
    so the run is refused before it starts, exit 2)."""
    index = TagIndex.of_plan(work)
    for th in thresholds:
        index.check(th)


@dataclass(frozen=True)
class Selection:
    """One threshold's lanes and steps: those whose tags include `want`."""

    level: Level
    want: Tags
    index: TagIndex = field(repr=False, compare=False)

    @property
    def everything(self) -> bool:
        return not self.want

    def lane(self, lane: str) -> bool:
        """A lane's figures at ITERATION, DROPPED or RUN level."""
        return self._takes(self.index.tags(self.level, lane))

    def item(self, lane: str, item: str) -> bool:
        """A step's figures (REQUEST, CHECK) or a group's (GROUP) in a lane."""
        return self._takes(self.index.tags(self.level, lane, item))

    def _takes(self, tags: Mapping[str, str]) -> bool:
        return all(tags.get(n) == v for n, v in self.want)


def _flow_steps(flow: Flow, root: str) -> tuple[StepTags, ...]:
    """A flow's steps with their group paths and own tags."""
    return tuple(StepTags(s.name, s.method, group_path(root, s.group), s.tags) for s in flow.steps)
