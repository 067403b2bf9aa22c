"""A report's histograms read back into the run's own `Bucket`.

Merge and the summary screen's review read a report's histograms this one way, so a
section read back is the bucket its run wrote: the same histograms, the same exact
sums, and so the same figures and threshold values.
"""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

from engine.load.metrics import Bucket, decode_histogram, new_histogram
from engine.load.model import LatencyStats
from engine.report.model import Histograms, ReportError, Section

# The expected responses' part of http_req_duration ({expected_response:true}); format 1
# reports do not keep it.
EXPECTED = "http_req_duration_expected"


def read_bucket(h: Histograms | None, figures: Section, where: str) -> Bucket:
    """A section's histograms and sums as a Bucket (its counters are the caller's to read).

    A report keeps every request's http_req_duration and the expected responses' part,
    so the failed requests' part is the difference. Without that split (format 1) every
    request counts as expected: the durations stay exact, the split is unknown.
    ReportError names `where`."""
    if h is None:
        raise ReportError(f"{where}: missing (cannot merge exactly without it)")
    b = Bucket()
    b.waited = read_histogram(h.latency, f"{where}.latency")
    b.waited_sum = exact_sum(h.latency_sum_us, b.waited, figures.latency)
    duration = read_histogram(h.http_req_duration, f"{where}.http_req_duration")
    duration_sum = exact_sum(h.http_req_duration_sum_us, duration, figures.http_req_duration)
    if h.http_req_duration_expected is None:
        b.expected, b.expected_sum = duration, duration_sum
        return b
    b.expected = read_histogram(h.http_req_duration_expected, f"{where}.{EXPECTED}")
    b.expected_sum = exact_sum(
        h.http_req_duration_expected_sum_us, b.expected, figures.http_req_duration_expected
    )
    if h.http_req_duration_expected != h.http_req_duration:  # the same text: no request failed
        b.unexpected = _less(duration, b.expected, f"{where}.{EXPECTED}")
    b.unexpected_sum = duration_sum - b.expected_sum
    return b


def _less(whole: HdrHistogram, part: HdrHistogram, where: str) -> HdrHistogram | None:
    """`whole` without the values of `part`, which it holds; None when nothing is left."""
    out = new_histogram()
    first = whole.get_counts_array_index(whole.get_min_value())  # its slots only: ~1 ms
    for i in range(first, whole.get_counts_array_index(whole.get_max_value()) + 1):
        n = whole.counts[i] - part.counts[i]
        if n > 0:
            out.record_value(whole.get_value_from_index(i), n)
        elif n < 0:
            break
    else:
        if out.get_total_count() == whole.get_total_count() - part.get_total_count():
            return out if out.get_total_count() else None
    raise ReportError(f"{where}: holds values http_req_duration does not (damaged or edited)")


def read_histogram(text: str | None, where: str) -> HdrHistogram:
    if text is None:
        raise ReportError(f"{where}: missing histogram")
    try:
        return decode_histogram(text)
    except Exception as exc:  # hdrh raises its own classes, binascii's and zlib's
        raise ReportError(f"{where}: damaged histogram ({type(exc).__name__})") from None


def exact_sum(value: int | None, hist: HdrHistogram, stats: LatencyStats | None) -> int:
    """The exact sum of values (us) for the mean; rebuilt from the mean when absent.

    Reports written before the sums were kept carry only the mean (ms, 3 decimals),
    which gives the sum to within half a microsecond per value.
    """
    if value is not None:
        return value
    count = hist.get_total_count()
    if stats is not None and math.isfinite(stats.mean) and stats.mean:
        return round(stats.mean * 1000 * count)
    return round(hist.get_mean_value() * count) if count else 0
