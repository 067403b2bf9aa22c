"""Reading a source once: DNS SRV through dnspython, file_sd JSON from disk.

Each returns the targets and how long they may be trusted (the SRV record's TTL; a
file is re-checked by mtime every poll). Any failure is `RegistryError`, so the
watcher keeps the last good pool.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from engine.discovery.sources import FileSource, Source, SrvSource, StaticSource, Target

__all__ = ["RegistryError", "Resolution", "read_file_sd", "resolve", "resolve_srv"]

DNS_TIMEOUT_S = 2.0


class RegistryError(RuntimeError):
    """The registry could not be read (unreachable, no such name, a bad file)."""


@dataclass(frozen=True)
class Resolution:
    targets: tuple[Target, ...]
    ttl: float | None = None  # seconds the answer holds (SRV); None: poll (files)
    stamp: float | None = None  # the file's mtime when read


async def resolve(source: Source) -> Resolution:
    if isinstance(source, StaticSource):
        return Resolution(source.targets)
    if isinstance(source, SrvSource):
        return await resolve_srv(source)
    return read_file_sd(source)


def _resolver(source: SrvSource) -> dns.asyncresolver.Resolver:
    if source.resolver is None:
        resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [source.resolver]
        resolver.port = source.port
    resolver.lifetime = DNS_TIMEOUT_S
    resolver.timeout = DNS_TIMEOUT_S
    resolver.cache = None  # the watcher decides when to ask again
    return resolver


async def resolve_srv(source: SrvSource) -> Resolution:
    """SRV records, their targets resolved to addresses (the answer's additional
    section when the server gives it, else an A query each)."""
    resolver = _resolver(source)
    try:
        answer = await resolver.resolve(source.name, "SRV", search=False)
    except (dns.exception.DNSException, OSError) as exc:
        raise RegistryError(f"{source.describe()}: {exc or type(exc).__name__}") from exc
    glue: dict[str, list[str]] = {}
    for rrset in answer.response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue.setdefault(str(rrset.name).rstrip("."), []).extend(r.address for r in rrset)
    targets: list[Target] = []
    for record in answer:
        host = str(record.target).rstrip(".")
        addresses = glue.get(host)
        if not addresses:
            addresses = await _addresses(resolver, host, source)
        targets.extend(Target(a, int(record.port)) for a in addresses[:1])
    ttl = float(answer.rrset.ttl) if answer.rrset is not None else None
    return Resolution(tuple(sorted(set(targets))), ttl)


async def _addresses(
    resolver: dns.asyncresolver.Resolver, host: str, source: SrvSource
) -> list[str]:
    try:
        a = await resolver.resolve(host, "A", search=False)
    except (dns.exception.DNSException, OSError) as exc:
        raise RegistryError(f"{source.describe()}: target {host}: {exc}") from exc
    return [r.address for r in a]


def read_file_sd(source: FileSource) -> Resolution:
    """Prometheus file_sd: a JSON list of {"targets": ["host:port", ...], "labels": {...}}."""
    try:
        stamp = os.stat(source.path).st_mtime
        with open(source.path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{source.describe()}: {exc}") from exc
    if not isinstance(data, list):
        raise RegistryError(f"{source.describe()}: expected a JSON list of target groups")
    targets: list[Target] = []
    for group in data:
        listed = group.get("targets") if isinstance(group, dict) else None
        if not isinstance(listed, list):
            raise RegistryError(f'{source.describe()}: each group needs a "targets" list')
        targets.extend(_target(t, source) for t in listed)
    return Resolution(tuple(sorted(set(targets))), None, stamp)


def _target(text: object, source: FileSource) -> Target:
    if not isinstance(text, str) or ":" not in text:
        raise RegistryError(f"{source.describe()}: target {text!r} is not host:port")
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise RegistryError(f"{source.describe()}: target {text!r} is not host:port")
    return Target(host, int(port))
