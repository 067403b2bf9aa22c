"""An HTML report's markup: every figure and table, written here from the typed report.

The text of each figure is what `surge report show` prints (its own formatting
functions: ms_cell, fmt_bytes, the threshold's describe_observed, verdict_line), so a
reader, a test and a PDF see the same numbers without running the page's script.
Every string from the report passes through `html.escape` (`esc`): a step named
`<script>` is text. The elements tests read carry `data-figure`, `data-threshold`,
`data-verdict` and `data-change` (docs/ARCHITECTURE.md: the HTML report's contract).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.durations import clock
from engine.errors import ConfigError, in_http_req_failed
from engine.load.metrics import PHASES
from engine.load.model import LatencyStats
from engine.load.states import StopReason
from engine.load.steering import steering_words
from engine.report.capacity_section import capacity_line
from engine.report.compare import Comparison, Row, format_change, format_value
from engine.report.model import Report, Section, ThresholdEntry
from engine.report.observe_section import fmt_value as fmt_series
from engine.report.review import executor_of, threshold_state
from engine.report.summary import failure_banner, latency_note, verdict_line
from engine.report.text import fmt_bytes, fmt_ms, ms_cell

STATS = (("avg", "mean"), ("min", "min"), ("med", "p50"), ("p90", "p90"))
STATS += (("p95", "p95"), ("p99", "p99"), ("p99.9", "p99_9"), ("max", "max"))
_LABEL = {"p99_9": "p99.9"}  # a stat's name in report compare's figures


def esc(text: object) -> str:
    """Any report string as HTML text or an attribute's value."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Headline:
    """One figure of the verdict's cards: its `data-figure` name, label, text and unit;
    `compared` names the comparison's figure that is its change (total section)."""

    name: str
    label: str
    text: str
    unit: str = ""
    compared: str = ""


def headlines(report: Report) -> list[Headline]:
    """The run's headline figures, worded as `report show` prints them."""
    meta, s = report.meta, report.summary
    seconds = max(meta.duration_s, 1e-9)
    has = s.requests > 0
    rate = s.failed / s.requests if s.requests else 0.0
    d = s.http_req_duration
    out = [
        Headline("requests", "requests", f"{s.requests:,.0f}", "", "requests"),
        Headline("rps", "requests/s", f"{s.requests / seconds:,.1f}", "/s", "rps"),
        Headline("error_rate", "failed", f"{rate:.2%}", "", "error rate"),
        *(
            Headline(
                k,
                f"http_req_duration {k}",
                ms_cell(getattr(d, k) if has else None),
                "ms",
                f"http_req_duration {k}",
            )
            for k in ("p50", "p95", "p99")
        ),
        Headline("iterations", "iterations", f"{s.iterations:,.0f}", "", "iterations"),
        Headline("vus_max", "VUs max", f"{s.vus_max:,.0f}", "", "vus max"),
    ]
    if s.dropped_iterations:
        out.append(
            Headline(
                "dropped_iterations",
                "dropped iterations",
                f"{s.dropped_iterations:,.0f}",
                "",
                "dropped iterations",
            )
        )
    code = meta.exit_code
    out.append(Headline("exit_code", "exit code", "–" if code is None else str(code)))
    out.append(Headline("ended", "the run", str(meta.ended)))
    return out


def verdict_section(report: Report, comparison: Comparison | None, base_name: str = "") -> str:
    """What a reader wants first: the verdict line, the headline cards, the thresholds,
    the rollout's outcome, the steering by hand and the run's ending."""
    meta = report.meta
    changes = changes_of(comparison)
    cards = []
    for h in headlines(report):
        row = changes.get(("total", h.compared)) if h.compared else None
        change = _change_span(row, f' data-figure-change="{h.name}"') if row else ""
        unit = f'<span class="unit">{esc(h.unit)}</span>' if h.unit else ""
        cards.append(
            f'<div class="card"><dt>{esc(h.label)}</dt><dd><span data-figure="{h.name}">'
            f"{esc(h.text)}</span>{unit}{change}</dd></div>"
        )
    out = ['<section id="verdict" aria-labelledby="verdict-h">', '<h2 id="verdict-h">Verdict</h2>']
    if meta.exit_code is not None:
        words = verdict_line(report, meta.exit_code).removeprefix("verdict: ")
        tone = "pass" if meta.exit_code == 0 else "fail"
        out.append(f'<p class="verdict {tone}" data-figure="verdict">{esc(words)}</p>')
    if report.deploy is not None:
        outcome = report.deploy.outcome.value
        out.append(
            f'<p class="rollout">rollout: <strong class="outcome-{esc(outcome)}" '
            f'data-figure="rollout">{esc(outcome.replace("_", " "))}</strong></p>'
        )
    if comparison is not None:
        tone = "fail" if comparison.regressed else "pass"
        out.append(
            f'<p class="verdict {tone}">against {esc(base_name)}: '
            f'<span data-figure="compare">{esc(comparison.verdict)}</span></p>'
        )
    for label, text in _problems(report):
        out.append(f'<p class="problem"><strong>{esc(label)}</strong> {esc(text)}</p>')
    out.append(f'<dl class="cards">{"".join(cards)}</dl>')
    if report.thresholds:
        out.append(thresholds_table(report.thresholds))
    if steered := steering_words(meta.steering):
        items = "".join(f"<li>{esc(w)}</li>" for w in steered)
        out.append(f'<h3>Steered by hand</h3><ul class="steering">{items}</ul>')
    out.append("</section>")
    return "\n".join(out)


def _problems(report: Report) -> list[tuple[str, str]]:
    """What `report show` says under its header: the stop, the error, lost workers,
    most requests failing, and why latency and http_req_duration differ."""
    meta, s = report.meta, report.summary
    out = []
    if meta.stop_reason and meta.stop_reason != StopReason.USER_STOP:  # the ending says it
        out.append(("stopped:", meta.stop_reason))
    out += [("error:", meta.error)] if meta.error else []
    out += [("worker failed:", f) for f in meta.worker_failures]
    if banner := failure_banner(s.requests, s.failed, s.errors, meta.target):
        out.append(("⚠", banner))
    note = latency_note(s.latency, s.http_req_duration, s.dropped_iterations, executor_of(meta))
    return out + ([("⚠", note)] if note else [])


def observed(entry: ThresholdEntry) -> str:
    """The observed value as k6 words it (p(95)=12.3ms), as `report show` does."""
    try:
        return threshold_state(entry).describe_observed()
    except ConfigError:
        return str(entry.observed if entry.observed is not None else "no data")


def thresholds_table(entries: Sequence[ThresholdEntry]) -> str:
    rows = []
    for t in entries:
        verdict = "pass" if t.ok else "fail"
        notes = " (abortOnFail)" if t.abort_on_fail else ""
        if t.recomputed is False:
            notes += " (verdict kept from the merged runs)"
        rows.append(
            f'<tr data-threshold="{esc(f"{t.metric}: {t.expression}")}" data-verdict="{verdict}">'
            f'<td class="{verdict}">{"✓ pass" if t.ok else "✗ fail"}</td><td>{esc(t.metric)}</td>'
            f"<td><code>{esc(t.expression)}</code></td><td>{esc(observed(t))}{esc(notes)}</td></tr>"
        )
    return table("Thresholds", ("verdict", "metric", "threshold", "observed"), rows, "thresholds")


def table(caption: str, head: Iterable[str], rows: Sequence[str], name: str) -> str:
    """A table in a focusable, scrollable region (keyboard users scroll it with arrows)."""
    cells = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    return (
        f'<div class="table" role="region" tabindex="0" aria-label="{esc(caption)}">'
        f'<table data-table="{esc(name)}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


# ------------------------------------------------------------------ comparisons


def changes_of(comparison: Comparison | None) -> dict[tuple[str, str], Row]:
    if comparison is None:
        return {}
    return {(r.section, r.figure): r for r in comparison.rows}


def _change_span(row: Row, attrs: str = "") -> str:
    """A figure's change against the base, as `report compare` words it."""
    text = format_change(row) if row.new != row.base else "same"
    mark = " ✗" if row.regression else ""
    return f' <small class="change {row.direction}"{attrs}>{esc(text)}{mark}</small>'


def comparison_section(comparison: Comparison, base_name: str) -> str:
    """Every figure `report compare` judges: base, new, change and direction."""
    rows = []
    for r in comparison.rows:
        note = "regression" if r.regression else r.note
        rows.append(
            f'<tr class="{r.direction}"><td>{esc(r.section)}</td><th scope="row">{esc(r.figure)}'
            f"</th><td>{esc(format_value(r.base, r.unit))}</td>"
            f"<td>{esc(format_value(r.new, r.unit))}</td>"
            f'<td data-change="{esc(r.label)}">{esc(format_change(r))}</td>'
            f"<td>{esc(r.direction)}</td><td>{esc(note)}</td></tr>"
        )
    warnings = "".join(f"<li>{esc(w)}</li>" for w in comparison.warnings)
    return "\n".join(
        [
            '<section id="compare" aria-labelledby="compare-h">',
            f'<h2 id="compare-h">Compared with {esc(base_name)}</h2>',
            f'<ul class="warnings">{warnings}</ul>' if warnings else "",
            table(
                "Every figure, base and new",
                ("section", "figure", "base", "new", "change", "direction", "note"),
                rows,
                "compare",
            ),
            "</section>",
        ]
    )


# ------------------------------------------------------------------ the tables


def trends_section(report: Report, changes: Mapping[tuple[str, str], Row]) -> str:
    """k6's trends as `report show` lays them out (avg, min, med, p90..max in ms), each
    with its change where `report compare` judges that figure."""
    s = report.summary
    has, every = s.requests > 0, tuple(k for _, k in STATS)
    trends: list[tuple[str, LatencyStats | None, bool, str, tuple[str, ...]]] = [
        ("http_req_duration", s.http_req_duration, has, "total http_req_duration", every)
    ]
    if s.http_req_duration_expected is not None:
        ok = s.requests > s.failed
        trends.append(("{expected_response:true}", s.http_req_duration_expected, ok, "", ()))
    trends += [(n, s.phases[n], has, "", ()) for n in PHASES if n in s.phases]
    trends.append(("latency (from due time)", s.latency, has, "total latency", every))
    ok = s.iterations > 0
    trends.append(("iteration_duration", s.iteration_duration, ok, "total iteration", ("p95",)))
    trends += [
        (f"group {n}", g.group_duration, g.group_duration.max > 0, f"group {n} group_duration",
         ("p95",))
        for n, g in report.groups.items()
    ]  # fmt: skip
    rows = []
    for name, st, ok, compared, judged in trends:
        section, _, prefix = compared.rpartition(" ")
        cells = "".join(
            cell(
                ms_cell(getattr(st, k) if ok and st else None),
                changes.get((section, f"{prefix} {_LABEL.get(k, k)}")) if k in judged else None,
            )
            for _, k in STATS
        )
        rows.append(f'<tr><th scope="row">{esc(name)}</th>{cells}</tr>')
    seconds = max(report.meta.duration_s, 1e-9)
    network = [
        f"<li>{name} {fmt_bytes(n)} {fmt_bytes(n / seconds)}/s</li>"
        for name, n in (("data_received", s.data_received_bytes), ("data_sent", s.data_sent_bytes))
    ]
    return (
        table("Trends (ms)", ("", *(label for label, _ in STATS)), rows, "trends")
        + f'<ul class="network">{"".join(network)}</ul>'
    )


def cell(text: str, change: Row | None) -> str:
    """A table's figure, its change against the base beside it when there is one."""
    return f"<td>{esc(text)}{_change_span(change) if change else ''}</td>"


def sections_table(
    title: str,
    kind: str,
    named: Mapping[str, Section],
    seconds: float,
    changes: Mapping[tuple[str, str], Row],
) -> str:
    """Per step, upstream or scenario: requests, rate, failures and latency percentiles,
    each with its change against the base when there is one."""
    rows = []
    for name, f in named.items():
        lat = f.latency if f.requests else None
        key = f"{kind} {name}"
        cells = [
            (f"{f.requests:,.0f}", "requests"),
            (f"{f.requests / seconds:,.1f}", "rps"),
            (f"{f.error_rate:.2%}", "error rate"),
            *(
                (ms_cell(getattr(lat, k) if lat else None), f"latency {k}")
                for k in ("p50", "p95", "p99", "max")
            ),
        ]
        tds = "".join(cell(text, changes.get((key, fig))) for text, fig in cells)
        rows.append(f'<tr><th scope="row">{esc(name)}</th>{tds}</tr>')
    head = (kind, "requests", "req/s", "failed", "p50 ms", "p95 ms", "p99 ms", "max ms")
    return table(title, head, rows, kind)


def scenarios_table(report: Report, changes: Mapping[tuple[str, str], Row]) -> str:
    """One row per scenario (setup and teardown too): how it ran and what it measured."""
    rows = []
    for name, sc in report.scenarios.items():
        p95 = ms_cell(sc.http_req_duration.p95 if sc.requests else None)
        key = f"scenario {name}"
        cells = (
            (f"{sc.iterations:,}", "iterations"),
            (f"{sc.dropped_iterations:,}", "dropped iterations"),
            (f"{sc.rps:,.1f}" if sc.rps < 100_000 else f"{sc.rps:,.0f}", "rps"),  # as report show
            (p95, "http_req_duration p95"),
            (f"{sc.error_rate:.1%}", "error rate"),
        )
        tds = "".join(cell(text, changes.get((key, fig))) for text, fig in cells)
        rows.append(
            f'<tr><th scope="row">{esc(name)}</th><td>{esc(sc.executor or "–")}</td>{tds}</tr>'
        )
    head = ("scenario", "executor", "iterations", "dropped", "req/s", "p95 ms", "errors")
    return table("Scenarios (p95 of http_req_duration)", head, rows, "scenario")


def checks_table(report: Report) -> str:
    """The run's checks, and a scenario's own where the run's table lacks them ("" if none)."""
    checks = dict(report.checks)
    for sc in report.scenarios.values():
        checks |= {n: c for n, c in sc.checks.items() if n not in checks}
    if not checks:
        return ""
    rows = []
    for name, c in checks.items():
        total = c.passes + c.fails
        verdict = "pass" if c.fails == 0 else "fail"
        rows.append(
            f'<tr data-check="{esc(name)}" data-verdict="{verdict}">'
            f'<th scope="row">{esc(name)}</th>'
            f"<td>{c.passes:,}</td><td>{c.fails:,}</td>"
            f"<td>{c.passes / total if total else 0:.2%}</td></tr>"
        )
    return table("Checks", ("check", "passes", "fails", "rate"), rows, "checks")


def status_table(report: Report) -> str:
    """oha's status distribution, then the named errors, largest first."""
    s = report.summary
    total = s.requests
    rows = [
        f'<tr data-status="{esc(code)}"><th scope="row">{esc(code)}</th><td>{n:,}</td>'
        f'<td>{n / total if total else 0:.1%}</td><td><span class="bar" '
        f'style="width:{100 * n / total if total else 0:.1f}%"></span></td></tr>'
        for code, n in s.status.items()
    ]
    for kind, n in sorted(s.errors.items(), key=lambda kv: -kv[1]):
        aside = "" if in_http_req_failed(kind) else " (not in http_req_failed)"
        rows.append(
            f'<tr class="error" data-error="{esc(kind)}"><th scope="row">{esc(kind)}</th>'
            f"<td>{n:,}</td><td>{f'{n / total:.1%}' if total else ''}</td>"
            f"<td>{esc(aside)}</td></tr>"
        )
    return table("Status and errors", ("status / error", "count", "share", ""), rows, "status")


def deploy_section(report: Report) -> str:
    d = report.deploy
    if d is None:
        return ""
    weights = (
        f"{d.blue_weight}:{d.green_weight} (blue:green)"
        if d.blue_weight is not None and d.green_weight is not None
        else "unknown (the router confirmed none)"
    )
    rows = [
        f'<tr data-window="{i}" data-verdict="{esc(s.verdict)}"><td>{s.at_s:.1f}s</td>'
        f'<td>{s.blue_weight}:{s.green_weight}</td><td class="{esc(s.verdict)}">{esc(s.verdict)}'
        f"</td><td>{s.window_s:.1f}s</td>"
        + "".join(
            f"<td>{c.requests:,} req, {c.error_rate:.2%} err, p95 {fmt_ms(c.p95_ms)}, "
            f"p99 {fmt_ms(c.p99_ms)}</td>"
            for c in (s.blue, s.green)
        )
        + f"<td>{esc(s.reason)}</td></tr>"
        for i, s in enumerate(d.steps)
    ]
    events = "".join(
        f"<li>{e.at_s:.1f}s {esc(e.kind)}: {esc(e.message)}</li>"
        for e in d.events
        if "analysis" not in e.kind
    )
    notes = "".join(f"<li>note: {esc(n)}</li>" for n in d.notes)
    instances = "".join(
        f"<li>{esc(name)}: {', '.join(f'{v:,} {esc(k)}' for k, v in counts.items())}</li>"
        for name, counts in d.instances.items()
    )
    return "\n".join(
        [
            f"<p>{esc(d.strategy)} through {esc(d.router)}: <strong>"
            f"{esc(d.outcome.value.replace('_', ' '))}</strong>, final weights {esc(weights)}, "
            f"on_exit = {esc(d.on_exit)}; from {esc(d.start)} to {esc(d.end)}</p>",
            f"<ul>{notes}{instances}</ul>" if notes or instances else "",
            table(
                "Rollout windows",
                ("at", "blue:green", "verdict", "window", "blue", "green", "reason"),
                rows,
                "deploy",
            ),
            f'<ul class="events">{events}</ul>' if events else "",
        ]
    )


def observe_table(report: Report) -> str:
    """Each server-side series: min, mean, max, as `report show` words them."""
    rows = []
    for name, s in report.observe.items():
        if s.values:
            mean = sum(s.values) / len(s.values)
            cells = "".join(
                f"<td>{esc(fmt_series(v, s.unit))}</td>"
                for v in (min(s.values), mean, max(s.values))
            )
        else:
            cells = "<td>–</td>" * 3
        rows.append(
            f'<tr><th scope="row">{esc(name)}</th><td>{esc(s.source)}</td>{cells}'
            f"<td>{esc(s.problem)}</td></tr>"
        )
    return table(
        "Server side", ("series", "source", "min", "mean", "max", "problem"), rows, "observe"
    )


def insights_list(report: Report) -> str:
    items = "".join(
        f'<li data-insight="{esc(f.kind.value)}"><span class="at">{clock(f.at)}</span> '
        f"<strong>{esc(f.kind.value)}</strong> {esc(f.text)}</li>"
        for f in report.insights
    )
    return f'<h3>Insights</h3><ul class="insights">{items}</ul>' if items else ""


def capacity_table(report: Report) -> str:
    c = report.capacity
    if c is None:
        return ""
    rows = [
        f'<tr data-verdict="{"pass" if s.held else "fail"}"><th scope="row">{s.rate:,.0f}/s</th>'
        f"<td>{s.achieved_rate:,.1f}/s</td><td>{ms_cell(s.p95)}</td><td>{ms_cell(s.p99)}</td>"
        f"<td>{s.error_rate:.2%}</td><td>{s.dropped:,}</td>"
        f'<td class="{"pass" if s.held else "fail"}">{"held" if s.held else "failed"}'
        f"{' (generator-limited)' if s.generator_limited else ''}</td></tr>"
        for s in c.steps
    ]
    head = ("offered", "achieved", "p95 ms", "p99 ms", "errors", "dropped", "verdict")
    return f'<p data-figure="capacity">{esc(capacity_line(c))}</p>' + table(
        "Capacity steps", head, rows, "capacity"
    )
