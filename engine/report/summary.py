"""The end-of-run summary and the live progress line, as text (k6's spirit)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from engine.load.metrics import PHASES
from engine.load.model import Figures, LatencyStats, RunModel
from engine.load.run import RunResult, Snapshot

_DOTS = 32
CPU_WARN = 90.0


def fmt_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f}s"
    if ms >= 100:
        return f"{ms:.0f}ms"
    if ms >= 1:
        return f"{ms:.2f}ms"
    return f"{ms * 1000:.0f}µs"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def line(name: str, value: str) -> str:
    return f"    {name}{'.' * max(_DOTS - len(name), 2)}: {value}"


def trend(stats: LatencyStats) -> str:
    s = stats
    return (
        f"avg={fmt_ms(s.mean)} min={fmt_ms(s.min)} med={fmt_ms(s.p50)} p(90)={fmt_ms(s.p90)} "
        f"p(95)={fmt_ms(s.p95)} p(99)={fmt_ms(s.p99)} max={fmt_ms(s.max)}"
    )


class Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def ok(self, ok: bool) -> str:
        return self("✓", "32") if ok else self("✗", "31")


def render_summary(result: RunResult, *, color: bool = False) -> str:
    model = result.model
    paint = Paint(color)
    out: list[str] = []
    plan = result.plan
    cfg = plan.work.executor
    out.append(f"  {paint('surge', '1')} {plan.name} → {plan.work.base_url}")
    kind = f" ({plan.test_type} test)" if plan.test_type else ""
    out.append(f"    {cfg.describe()}{kind}")
    if result.stop_reason:
        out.append(f"    {paint('stopped: ' + result.stop_reason, '33')}")
    if result.error:
        out.append(f"    {paint('error: ' + result.error, '31')}")
    for failure in result.failures:
        out.append(f"    {paint('worker failed: ' + failure, '31')}")
    totals = model.figures()
    banner = failure_banner(totals.requests, totals.failed, totals.errors, plan.work.base_url)
    if banner:
        out.append(f"    {paint('⚠ ' + banner, '1;31')}")
    cpu = f"{result.workers} worker{'s' if result.workers > 1 else ''}, busiest at "
    cpu += f"{result.cpu_percent_max:.0f}% CPU"
    if result.cpu_percent_max > CPU_WARN:
        cpu += " ⚠ saturated: latency includes the generator's own delay; add --workers"
        cpu = paint(cpu, "33")
    out.append(f"    {cpu}")
    out.append("")
    if model.states:
        out.append(f"  {paint('█ THRESHOLDS', '1')}")
        for key in dict.fromkeys(s.threshold.key for s in model.states):
            out.append("")
            out.append(f"    {key}")
            for s in model.states:
                if s.threshold.key == key:
                    note = " (abortOnFail)" if s.threshold.abort_on_fail else ""
                    out.append(
                        f"    {paint.ok(s.ok)} '{s.threshold.expression}' "
                        f"{s.describe_observed()}{note}"
                    )
        out.append("")
    out.append(f"  {paint('█ TOTAL RESULTS', '1')}")
    out.append("")
    out.extend(_figures_block(model, totals, result.duration, paint))
    note = latency_note(totals.latency, totals.duration, model.total.dropped, cfg.options())
    if note:
        out.append(f"    {paint('⚠ ' + note, '33')}")
    if result.breaking_point_rps is not None:
        out.append(line("breaking_point_rps", f"{result.breaking_point_rps:.1f}/s"))
    for title, tags in (
        *((f"step {s}", (("step", s),)) for s in model.steps() if len(model.steps()) > 1),
        *((f"upstream {u}", (("upstream", u),)) for u in model.upstreams()),
    ):
        f = model.figures(tags)
        out.append("")
        out.append(f"  {paint('█ ' + title.upper(), '1')}")
        out.append(
            line(
                "http_reqs",
                f"{f.requests} {f.rps:.1f}/s  failed {f.error_rate:.2%}  "
                f"p50={fmt_ms(f.latency.p50)} p95={fmt_ms(f.latency.p95)} "
                f"p99={fmt_ms(f.latency.p99)}",
            )
        )
        if f.errors:
            out.append(line("errors", "  ".join(f"{k}: {v}" for k, v in f.errors.items())))
    out.append("")
    return "\n".join(out)


def _figures_block(model: RunModel, f: Figures, seconds: float, paint: Paint) -> list[str]:
    lines = []
    checks = model.checks()
    if checks:
        p = sum(v[0] for v in checks.values())
        total = p + sum(v[1] for v in checks.values())
        lines.append(line("checks", f"{p / total:.2%} {p} out of {total}"))
        for name, (ok, bad) in checks.items():
            lines.append(f"      {paint.ok(bad == 0)} {name}: {ok}/{ok + bad}")
    total = model.total
    phases = {k: LatencyStats.of(h, total.phase_sums[k]) for k, h in total.phases.items()}
    lines.extend(http_lines(f.duration, f.expected, f.latency, phases, f.failed, f.requests, f.rps))
    lines.append(
        line(
            "iteration_duration",
            trend(LatencyStats.of(total.iteration_duration, total.iteration_sum)),
        )
    )
    lines.append(
        line("iterations", f"{total.iterations} {total.iterations / max(seconds, 1e-9):.1f}/s")
    )
    if total.dropped:
        lines.append(line("dropped_iterations", str(total.dropped)))
    if total.interrupted:
        lines.append(line("interrupted_iterations", str(total.interrupted)))
    vus_max = max((r.vus_max for r in model.timeline), default=0)
    lines.append(line("vus_max", str(vus_max)))
    lines.append(
        line(
            "data_received",
            f"{fmt_bytes(f.bytes_in)} {fmt_bytes(f.bytes_in / max(seconds, 1e-9))}/s",
        )
    )
    lines.append(
        line(
            "data_sent", f"{fmt_bytes(f.bytes_out)} {fmt_bytes(f.bytes_out / max(seconds, 1e-9))}/s"
        )
    )
    if f.status:
        lines.append(line("status", "  ".join(f"{k}: {v}" for k, v in f.status.items())))
    if f.errors:
        lines.append(line("errors", "  ".join(f"{k}: {v}" for k, v in f.errors.items())))
    return lines


def http_lines(
    duration: LatencyStats,
    expected: LatencyStats | None,
    latency: LatencyStats,
    phases: Mapping[str, LatencyStats],
    failed: float,
    requests: float,
    rps: float,
) -> list[str]:
    """k6's http_req_* lines in k6's order, then Surge's own `latency`; shared by the live
    summary and `surge report show`."""

    def phase(name: str) -> list[str]:
        return [line(name, trend(phases[name]))] if name in phases else []

    out = [*phase(PHASES[0]), *phase(PHASES[1])]
    out.append(line("http_req_duration", trend(duration)))
    if expected is not None:
        out.append(line("  { expected_response:true }", trend(expected)))
    rate = failed / requests if requests else 0.0
    out.append(line("http_req_failed", f"{rate:.2%} {failed:.0f} out of {requests:.0f}"))
    for name in PHASES[5], PHASES[3], PHASES[2], PHASES[4]:  # receiving .. waiting
        out.extend(phase(name))
    out.append(line("http_reqs", f"{requests:.0f} {rps:.1f}/s"))
    out.append(line("latency (from due time)", trend(latency)))
    return out


def failure_banner(
    requests: float, failed: float, errors: Mapping[str, float], target: str
) -> str | None:
    """Said first when most requests failed: "all 212,988 requests failed: connection
    refused at 127.0.0.1:1" (k6 exits 0 then too, unless a threshold says otherwise)."""
    if not requests or failed < requests / 2:
        return None
    kinds = sorted(errors.items(), key=lambda kv: -kv[1])
    why = ", ".join(f"{kind} ({n:,.0f})" for kind, n in kinds[:3]) if len(kinds) > 1 else ""
    if len(kinds) == 1:
        why = kinds[0][0]
    where = urlsplit(target).netloc or target
    share = "all" if failed == requests else f"{failed / requests:.0%} of"
    return f"{share} {requests:,.0f} requests failed{': ' + why if why else ''} at {where}"


def latency_note(
    latency: LatencyStats, duration: LatencyStats, dropped: float, options: Mapping[str, object]
) -> str | None:
    """Why `latency` and http_req_duration differ, or what was dropped, in plain words."""
    if "preAllocatedVUs" not in options:
        return None  # a closed model: the two are one figure
    max_vus = options.get("maxVUs")
    if options.get("queue"):
        if latency.p95 > duration.p95 * 1.1 + 1:
            return (
                f"iterations waited for a free VU (queue, maxVUs {max_vus}): latency p95 "
                f"{fmt_ms(latency.p95)} counts the wait, http_req_duration p95 "
                f"{fmt_ms(duration.p95)} does not"
            )
        return None
    if dropped:
        return (
            f"{dropped:.0f} iterations dropped: no free VU at their due time (maxVUs "
            f"{max_vus}); raise maxVUs, or queue them (--queue) to measure the wait"
        )
    return None


def progress_line(s: Snapshot, width: int = 200) -> str:
    """One line, rewritten in place each interval on a terminal: at most `width - 1`
    columns (a line that wraps cannot be rewritten in place, and piles up), the least
    needed parts dropped first. The finished run's line shows no CPU (its workers are
    gone: 0% would mislead)."""
    r = s.row
    bad = sum(1 for t in s.thresholds if not t.ok)
    state = "" if s.state == "running" else f" [{s.state}]"
    parts = [
        f"{s.elapsed:6.1f}s {s.progress:4.0%}{state}",
        f"{r.rps:8.1f} req/s",
        f"p95 {fmt_ms(r.p95):>8}",
        f"errors {r.error_rate:6.2%}",
        f"thresholds ✗{bad}" if bad else "",
        f"VUs {r.vus:>4}/{r.vus_max:<4}",
        ""
        if s.state == "finished"
        else f"cpu {s.cpu_percent:3.0f}%{' ⚠' if s.cpu_percent > CPU_WARN else ''}",
    ]
    parts = [p for p in parts if p]
    while len(parts) > 1 and len("  ".join(parts)) > width - 1:
        parts.pop()  # the least needed is last
    return "  ".join(parts)[: max(width - 1, 1)]


def tick_label(ms: float) -> str:
    """Round tick values need no decimals: 1ms, 20ms, 500µs, 2s."""
    if ms >= 1000:
        return f"{ms / 1000:g}s"
    if ms >= 1:
        return f"{ms:g}ms"
    return f"{ms * 1000:g}µs"
