"""Service discovery: a color's pool from a registry instead of a list of URLs.

Two sources: DNS SRV (`srv://RESOLVER:PORT/NAME`, `srv:///NAME` for the system
resolver: what Consul's DNS, AWS Cloud Map and Kubernetes headless services speak)
and a watched file in Prometheus's file_sd JSON (`file:///path/targets.json`). A
`PoolWatcher` re-reads its source (SRV at the record's TTL, bounded; the file when its
mtime changes) and reports what appeared and what went; a source that cannot be read
keeps the last good pool and says so. Stands alone (no router, load engine or
profile), so `surge proxy` runs it in its own process as the deploy driver does.
The package's face is light (sources and diffs); dnspython loads with
`engine.discovery.watcher` / `.resolve`, only where a registry is used.
"""

from __future__ import annotations

from engine.discovery.diff import PoolChange, diff_pools
from engine.discovery.sources import (
    FileSource,
    Source,
    SrvSource,
    StaticSource,
    Target,
    is_registry,
    parse_source,
)

__all__ = [
    "FileSource",
    "PoolChange",
    "Source",
    "SrvSource",
    "StaticSource",
    "Target",
    "diff_pools",
    "is_registry",
    "parse_source",
]
