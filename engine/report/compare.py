"""Comparing two reports: every figure side by side, its change, and a verdict.

Pure functions over typed reports (as `read_report` returns them), so the rules can
be table-tested and the CLI and the app show the same judgement.

The rules, and why:
- Only p95/p99 latency, error rate and throughput (rps) can be a *regression*: they
  are what users feel and what capacity plans rest on. Every other figure is shown
  and colored, but never fails a build: p50 hides tails, max is one request.
- A tail percentile is judged only on enough requests: at least MIN_TAIL_SAMPLES
  beyond it in both runs (p95: 200 requests, p99: 1000). The p99 of 190 requests
  is the second-slowest request; failing a build on it makes CI flaky, and flaky
  gates get switched off. Such a row is still shown, marked "too few requests".
- A change within the tolerance is "same": two runs of one build never give equal
  figures, and coloring noise red teaches people to ignore red.
- Latency and rps changes are relative (`tolerance=0.1`: more than 10%).
- Error rate is judged on its absolute growth, because a relative change from 0 is
  infinite: it is worse when it grows by more than `max(tolerance * base,
  tolerance / 100)`. At 10% that is 0.1 percentage point from a clean base (0% ->
  0.05% is noise, 0% -> 1% is a regression) and 10% relative above 1% errors.
- Per scenario, group, step and upstream, paired by name, when both reports have
  them, except a lone one of a kind present in both: it is the total again, and
  would double every line. A figure a section does not carry (a step's iterations)
  is left out of it.
- Reports of different executors, targets or test types are compared anyway, with
  a warning: comparing staging with production, or a new executor with the old,
  is a legitimate question; only the reader knows whether the answer means much.
- Significance, per section, from the reports' own histograms (engine/stats.py):
  Mann-Whitney U on the latency histogram for the rows it speaks for (latency mean
  and p50: it is a location test), a two-proportion z-test for the error rate,
  Holm-corrected over the two. With `only_significant` (`--significant`) an error-rate
  regression counts only when its change is significant. The tail rows (p95/p99) have
  no test: a regression of the tail alone reads "not significant" to a location test,
  so they stay judged by the tolerance, as rps and a report without histograms are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from engine.load.steering import steering_words
from engine.report.buckets import read_histogram
from engine.report.model import Meta, Report, ScenarioSection, Section
from engine.report.text import fmt_bytes, fmt_ms
from engine.stats import PairTests, hdr_counts, pair_tests

Better = Literal["lower", "higher"] | None
Direction = Literal["better", "worse", "same", "changed"]

# Units decide formatting and, for "ratio", the absolute error-rate rule.
MS, PER_S, RATIO, COUNT, BYTES = "ms", "/s", "ratio", "count", "bytes"

DEFAULT_TOLERANCE = 0.10
MIN_TAIL_SAMPLES = 10
FEW_SAMPLES = "too few requests to judge"
_MEANINGFUL_META = ("executor", "target", "test_type", "client", "environment")


@dataclass(frozen=True)
class Figure:
    """One comparable figure: its attribute path in a report Section, how to judge it."""

    name: str
    path: tuple[str, ...]
    better: Better
    unit: str
    gated: bool = False  # may be a regression (p95/p99 latency, error rate, rps)
    tail: float | None = None  # share of requests beyond a percentile (p95: 0.05)

    def judgeable(self, requests: float | None) -> bool:
        """Enough requests beyond the percentile in the smaller run to mean something."""
        if self.tail is None or requests is None:
            return True
        return requests * self.tail >= MIN_TAIL_SAMPLES


def _latency(prefix: str, attr: str, gated: bool) -> list[Figure]:
    names = (("mean", "mean"), ("p50", "p50"), ("p90", "p90"), ("p95", "p95"))
    names += (("p99", "p99"), ("p99.9", "p99_9"), ("max", "max"))
    tails = {"p95": 0.05, "p99": 0.01}
    return [
        Figure(
            f"{prefix} {label}",
            (attr, field),
            "lower",
            MS,
            gated=gated and label in tails,
            tail=tails.get(label) if gated else None,
        )
        for label, field in names
    ]


FIGURES: tuple[Figure, ...] = (
    Figure("requests", ("requests",), None, COUNT),
    Figure("rps", ("rps",), "higher", PER_S, gated=True),
    Figure("error rate", ("error_rate",), "lower", RATIO, gated=True),
    *_latency("latency", "latency", gated=True),
    *_latency("http_req_duration", "http_req_duration", gated=False),
    Figure("iterations", ("iterations",), None, COUNT),
    Figure("dropped iterations", ("dropped_iterations",), "lower", COUNT),
    Figure("iteration p95", ("iteration_duration", "p95"), "lower", MS),
    Figure("group_duration p95", ("group_duration", "p95"), "lower", MS),
    Figure("checks", ("checks_rate",), "higher", RATIO),
    Figure("vus max", ("vus_max",), None, COUNT),
    Figure("data received", ("data_received_bytes",), None, BYTES),
    Figure("data sent", ("data_sent_bytes",), None, BYTES),
)


@dataclass(frozen=True)
class Row:
    """One figure of one section in both reports, judged."""

    section: str  # "total", "scenario NAME", "group ::NAME", "step NAME", "upstream NAME"
    figure: str
    base: float
    new: float
    change: float | None  # (new - base) / base; None when base is 0 and new is not
    direction: Direction
    regression: bool
    unit: str
    note: str = ""

    @property
    def label(self) -> str:
        return self.figure if self.section == "total" else f"{self.section} {self.figure}"


@dataclass(frozen=True)
class Significance:
    """One row's test: its name and Holm-adjusted p-value (None: too few to judge)."""

    test: str  # MANN_WHITNEY or TWO_PROPORTIONS
    p: float | None
    confidence: float

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < 1 - self.confidence

    @property
    def word(self) -> str:
        if self.p is None:
            return "too few to judge"
        return "significant" if self.significant else "not significant"


MANN_WHITNEY = "mann-whitney-u"
TWO_PROPORTIONS = "two-proportion-z"
DEFAULT_CONFIDENCE = 0.99
NO_HISTOGRAMS = "no histograms: significance not judged"
LOCATION_ROWS = ("latency mean", "latency p50")  # what Mann-Whitney U speaks for


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]
    tolerance: float
    tests: Mapping[str, PairTests] | None = None  # per section; None: a report had no histograms
    only_significant: bool = False  # --significant: noise fails no build
    confidence: float = DEFAULT_CONFIDENCE

    def significance(self, row: Row) -> Significance | None:
        """The row's test: latency mean and p50 (the rank test's location) and error
        rate; None for the others, the tails too."""
        tests = None if self.tests is None else self.tests.get(row.section)
        if tests is None:
            return None
        if row.figure in LOCATION_ROWS:
            return Significance(MANN_WHITNEY, tests.latency_p, self.confidence)
        if row.figure == "error rate":
            return Significance(TWO_PROPORTIONS, tests.errors_p, self.confidence)
        return None

    def counts(self, row: Row) -> bool:
        """A regression that fails the build: with only_significant, a tested one only
        when significant."""
        if not row.regression:
            return False
        sig = self.significance(row) if self.only_significant else None
        return sig is None or sig.significant

    @property
    def regressions(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if self.counts(r))

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def unjudged(self) -> tuple[Row, ...]:
        """Worse beyond the tolerance, but on too few requests to fail a build."""
        return tuple(r for r in self.rows if r.note == FEW_SAMPLES and r.direction == "worse")

    @property
    def verdict(self) -> str:
        """One line a CI log can show as is."""
        tol = format_tolerance(self.tolerance)
        if self.regressed:
            worst = ", ".join(f"{r.label} {format_change(r)}" for r in self.regressions)
            text = f"REGRESSION beyond {tol}: {worst}"
        else:
            text = f"no regression beyond {tol} in p95/p99 latency, error rate or throughput"
        if self.only_significant:
            text += f" (error rate: significant at {self.confidence:g} only)"
        if self.unjudged:
            text += f" ({FEW_SAMPLES}: {', '.join(r.label for r in self.unjudged)})"
        return text


def compare(
    base: Report,
    new: Report,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    only_significant: bool = False,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Judge NEW against BASE, section by section (total, then shared scenarios, groups,
    steps, upstreams)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    warnings = meta_warnings(base.meta, new.meta)
    warnings += [
        f"scenario {name}: {w}"
        for name, sc in base.scenarios.items()
        if name in new.scenarios
        for w in _scenario_warnings(sc, new.scenarios[name])
    ]
    rows: list[Row] = []
    same_as_total = _same_as_total(base, new)
    base_sections = {k: v for k, v in sections(base).items() if k not in same_as_total}
    new_sections = {k: v for k, v in sections(new).items() if k not in same_as_total}
    for name, b in base_sections.items():
        n = new_sections.get(name)
        if n is None:
            warnings.append(f"{name} only in BASE: not compared")
            continue
        rows.extend(_section_rows(name, b, n, tolerance))
    warnings.extend(
        f"{name} only in NEW: not compared" for name in new_sections if name not in base_sections
    )
    tests = section_tests(base, new)
    result = Comparison(
        tuple(rows), tuple(warnings), tolerance, tests, only_significant, confidence
    )
    noise = {i: sig for i, r in enumerate(rows) if (sig := _noise(result, r)) is not None}
    if not noise:
        return result
    quiet = tuple(
        replace(r, regression=False, note=noise[i].word) if i in noise else r
        for i, r in enumerate(rows)
    )
    return replace(result, rows=quiet)


def _noise(result: Comparison, row: Row) -> Significance | None:
    """The test of a regression that `only_significant` does not count."""
    if not row.regression or result.counts(row):
        return None
    return result.significance(row)


def _histograms(report: Report) -> dict[str, str | None] | None:
    """Section name -> its encoded latency histogram, as `sections` names them."""
    h = report.histograms
    if h is None or h.total is None:
        return None
    out = {"total": h.total.latency}
    for kind, named in (("scenario", h.scenarios), ("group", h.groups), ("step", h.steps)):
        out.update({f"{kind} {name}": v.latency for name, v in named.items()})
    out.update({f"upstream {name}": v.latency for name, v in h.upstreams.items()})
    return out


def section_tests(base: Report, new: Report) -> dict[str, PairTests] | None:
    """NEW against BASE per section both have a latency histogram of: a rank test on
    latency, a proportion test on errors (engine/stats.py); None without histograms."""
    hb, hn = _histograms(base), _histograms(new)
    if hb is None or hn is None:
        return None
    out: dict[str, PairTests] = {}
    bs, ns = sections(base), sections(new)
    for name, b in bs.items():
        n = ns.get(name)
        if n is None or hb.get(name) is None or hn.get(name) is None:
            continue
        counts = [
            dict(hdr_counts(read_histogram(h.get(name), f"histograms: {name}"))) for h in (hn, hb)
        ]
        out[name] = pair_tests(counts[0], n.requests, n.failed, counts[1], b.requests, b.failed)
    return out


def significance_lines(result: Comparison) -> list[str]:
    """Per section: is the latency's and the error rate's change significant, by which
    test and p-value (Holm-adjusted)."""
    if result.tests is None:
        return [NO_HISTOGRAMS]
    out = [f"significance at {result.confidence:g} (Mann-Whitney U, two-proportion z; Holm):"]
    for name, t in result.tests.items():
        parts = []
        for what, test, p in (
            ("latency", MANN_WHITNEY, t.latency_p),
            ("errors", TWO_PROPORTIONS, t.errors_p),
        ):
            sig = Significance(test, p, result.confidence)
            parts.append(f"{what} {sig.word}" + ("" if p is None else f" (p {p:.2g})"))
        out.append(f"  {name}: {', '.join(parts)}")
    return out


def comparison_json(result: Comparison) -> dict[str, Any]:
    """`surge report compare --json`: every row, its test and p-value, the verdict."""
    rows = []
    for r in result.rows:
        row: dict[str, Any] = {
            "section": r.section,
            "figure": r.figure,
            "base": r.base,
            "new": r.new,
            "change": r.change,
            "direction": r.direction,
            "regression": result.counts(r),
            "unit": r.unit,
            "note": r.note,
        }
        sig = result.significance(r)
        if sig is not None:
            row["significance"] = {"test": sig.test, "p": sig.p, "result": sig.word}
        rows.append(row)
    return {
        "tolerance": result.tolerance,
        "confidence": result.confidence,
        "only_significant": result.only_significant,
        "regressed": result.regressed,
        "verdict": result.verdict,
        "warnings": list(result.warnings),
        "significance": significance_lines(result)[0],
        "rows": rows,
    }


def _scenario_warnings(base: ScenarioSection, new: ScenarioSection) -> list[str]:
    """What makes one scenario of two runs not quite comparable: how it was run."""
    if base.executor != new.executor:
        return [f"different executor: {base.executor or '-'} (BASE) vs {new.executor or '-'} (NEW)"]
    diff = _option_changes(base.executor_options, new.executor_options)
    return [f"different executor options: {diff}"] if diff else []


def _kinds(report: Report) -> dict[str, Mapping[str, Section]]:
    """A report's named sections by kind, in the order compare lists them."""
    return {
        "scenario": report.scenarios,
        "group": report.groups,
        "step": report.steps,
        "upstream": report.upstreams,
    }


def sections(report: Report) -> dict[str, Section]:
    """Section name -> figures: "total", then "scenario NAME", "group ::NAME", "step
    NAME", "upstream NAME"."""
    out: dict[str, Section] = {"total": report.summary}
    for kind, named in _kinds(report).items():
        out.update({f"{kind} {name}": figs for name, figs in named.items()})
    return out


def _same_as_total(base: Report, new: Report) -> set[str]:
    """A lone scenario, step or upstream in both reports is the total again: listing it
    twice would only double every line and every regression in the verdict. (A lone
    group is not: its requests are some of the run's.)"""
    out = set()
    kinds = _kinds(new)
    for kind, b in _kinds(base).items():
        n = kinds[kind]
        if kind != "group" and len(b) == 1 and b.keys() == n.keys():
            out.add(f"{kind} {next(iter(b))}")
    return out


def _section_rows(section: str, base: Section, new: Section, tolerance: float) -> Iterator[Row]:
    requests = min(base.requests, new.requests)
    for fig in FIGURES:
        b, n = _lookup(base, fig.path), _lookup(new, fig.path)
        if b is None or n is None:
            continue  # a figure one section lacks (checks, a step's iterations) is skipped
        change, direction, regression = judge(fig, b, n, tolerance)
        note = "" if fig.judgeable(requests) else FEW_SAMPLES
        regression = regression and not note
        yield Row(section, fig.name, b, n, change, direction, regression, fig.unit, note)


def _lookup(section: Section, path: tuple[str, ...]) -> float | None:
    """None for a figure the section does not have (checks_rate of a run without checks)."""
    value: Any = section
    for attr in path:
        value = getattr(value, attr, None)
    return None if value is None else float(value)


def judge(
    fig: Figure, base: float, new: float, tolerance: float
) -> tuple[float | None, Direction, bool]:
    """(relative change, direction, regression) of one figure; see the module docstring."""
    change = relative_change(base, new)
    if not _beyond(fig, base, new, change, tolerance):
        return change, "same", False
    if fig.better is None:
        return change, "changed", False
    worse = new > base if fig.better == "lower" else new < base
    direction: Direction = "worse" if worse else "better"
    return change, direction, fig.gated and worse


def relative_change(base: float, new: float) -> float | None:
    if base == 0:
        return 0.0 if new == 0 else None
    return (new - base) / abs(base)


def _beyond(fig: Figure, base: float, new: float, change: float | None, tolerance: float) -> bool:
    if fig.unit == RATIO and fig.better == "lower":
        return abs(new - base) > max(tolerance * base, tolerance / 100)
    if change is None:
        return True
    return abs(change) > tolerance


def meta_warnings(base: Meta, new: Meta, names: tuple[str, str] = ("BASE", "NEW")) -> list[str]:
    """What makes two runs not quite comparable (or mergeable): said, never refused."""
    out = []
    for key in _MEANINGFUL_META:
        a, b = getattr(base, key), getattr(new, key)
        if a != b:
            out.append(
                f"different {key.replace('_', ' ')}: {a or '-'} ({names[0]}) "
                f"vs {b or '-'} ({names[1]})"
            )
    if base.executor == new.executor:
        diff = _option_changes(base.executor_options, new.executor_options)
        if diff:
            out.append(f"different executor options: {diff}")
    for name, meta in zip(names, (base, new), strict=True):
        for note in meta.notes:  # e.g. read from an older format
            out.append(f"{name} report {note}")
        if meta.aborted:
            reason = meta.stop_reason or meta.error or "no reason recorded"
            out.append(f"{name} run {meta.ended} ({reason})")
        if steered := steering_words(meta.steering):  # its figures are not its shape's
            out.append(f"{name} was steered by hand: {', '.join(steered)}")
    return out


def _option_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    return ", ".join(f"{k} {a.get(k, '-')} → {b.get(k, '-')}" for k in keys)


# ------------------------------------------------------------------ formatting


def parse_tolerance(text: str) -> float:
    """Accept "10%" or "0.1"; refuse a bare number >= 1, as "10" too likely means 10%."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(
            f"expected a percentage like 10% or a fraction like 0.1, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"must be a finite number >= 0, got {text!r}")
    if not raw.endswith("%") and value >= 1:
        raise ValueError(f"ambiguous {text!r}: write {value:g}% or {value / 100:g}")
    return value


def format_tolerance(tolerance: float) -> str:
    return f"{tolerance * 100:g}%"


def format_change(row: Row) -> str:
    """Rates change in percentage points (relative change of 0 is meaningless)."""
    if row.unit == RATIO:
        return f"{(row.new - row.base) * 100:+.2f}pp"
    if row.change is None:
        return "new"
    return f"{row.change * 100:+.1f}%"


def format_value(value: float, unit: str) -> str:
    if unit == MS:
        return fmt_ms(value)
    if unit == PER_S:
        return f"{value:,.1f}/s"
    if unit == RATIO:
        return f"{value:.2%}"
    if unit == BYTES:
        return fmt_bytes(value)
    return f"{value:,.0f}"
