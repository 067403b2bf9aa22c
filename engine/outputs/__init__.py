"""Where a run's figures go besides the summary and the report: `--out KIND=WHERE`.

One type per kind behind `Output` (`json=FILE`: one JSON object per interval, then
the summary; `html=FILE`: the final report as one HTML page; `prometheus=HOST:PORT`:
a live scrape endpoint). Outputs are fed on the event loop, once per interval and once
at the end, never per request.
"""

from __future__ import annotations

from engine.outputs.base import Output, parse_out

__all__ = ["Output", "parse_out"]
