"""The interface every `--out` kind implements, and the parser of `--out` values."""

from __future__ import annotations

from abc import ABC, abstractmethod

from engine.errors import ConfigError
from engine.load.model import RunModel
from engine.load.run import Snapshot
from engine.report.model import Report


class Output(ABC):
    """Fed on the event loop: `interval` after each interval, `finish` with the report."""

    @abstractmethod
    def start(self) -> None:
        """Open files, bind sockets: before the run, so a bad target fails it at once."""

    @abstractmethod
    def interval(self, snapshot: Snapshot, model: RunModel) -> None: ...

    @abstractmethod
    def finish(self, report: Report) -> None:
        """The run's final figures (the report, as written)."""

    async def linger(self) -> None:  # noqa: B027 - most outputs have nothing to wait for
        """Wait before the process exits (a scrape endpoint serves its last figures)."""

    @abstractmethod
    def close(self) -> None: ...


def parse_out(spec: str) -> Output:
    """`json=FILE`, `html=FILE` or `prometheus=HOST:PORT[,linger=5s]`; ConfigError names
    the problem."""
    kind, sep, where = spec.partition("=")
    if not sep or not where:
        raise ConfigError(
            "--out",
            f"expected KIND=WHERE (json=FILE, html=FILE, prometheus=HOST:PORT), got {spec!r}",
        )
    if kind == "json":
        from engine.outputs.json_lines import JsonLinesOutput

        return JsonLinesOutput(where)
    if kind == "html":
        from engine.outputs.html import HtmlOutput

        return HtmlOutput(where)
    if kind == "prometheus":
        from engine.outputs.prometheus import PrometheusOutput

        return PrometheusOutput.parse(where)
    raise ConfigError("--out", f"unknown output {kind!r} (known: json, html, prometheus)")
