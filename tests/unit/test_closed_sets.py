"""A profile's closed sets are read into their enums (the code matches on members, not
text), a value outside the set is still one line naming its key, and the plan carries
its options as the typed values they were built as."""

from __future__ import annotations

import pytest

from engine.deploy.strategies import OnExit
from engine.http.tls import TlsOptions
from engine.load.run import ClientKind, OnWorkerLoss
from engine.profile import ProfileError, parse_profile
from engine.profile.plan import Overrides, build_plan

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:1"\n[[endpoints]]\npath = "/"\n'
DEPLOY = "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"


def test_the_closed_sets_are_read_as_their_members() -> None:
    text = 'client = "httpx"\non_worker_loss = "abort"\n' + HEAD + DEPLOY + 'on_exit = "keep"\n'
    profile = parse_profile(text, "p.toml")
    assert profile.client is ClientKind.HTTPX
    assert profile.on_worker_loss is OnWorkerLoss.ABORT
    assert profile.deploy is not None and profile.deploy.on_exit is OnExit.KEEP
    plan = build_plan(profile, Overrides(duration=1.0))
    assert plan.work.client is ClientKind.HTTPX and plan.on_worker_loss is OnWorkerLoss.ABORT
    # --client on the command line is text: the plan holds the member all the same
    assert build_plan(profile, Overrides(client="wire")).work.client is ClientKind.WIRE


@pytest.mark.parametrize(
    ("line", "key", "said"),
    [
        ('client = "curl"', "client", "unknown client 'curl' (known: wire, httpx)"),
        (
            'on_worker_loss = "retry"',
            "on_worker_loss",
            'expected "continue" or "abort", got \'retry\'',
        ),
    ],
)
def test_a_value_outside_the_set_is_one_line(line: str, key: str, said: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(line + "\n" + HEAD, "p.toml")
    assert str(err.value) == f"p.toml:1: {key}: {said}"


def test_on_exit_outside_its_set_names_its_key() -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(HEAD + DEPLOY + 'on_exit = "stay"\n', "p.toml")
    assert (
        str(err.value)
        == "p.toml:8: deploy.on_exit: expected one of rollback, keep, got string 'stay'"
    )


def test_the_plan_carries_the_tls_options_it_checked() -> None:
    """Built once from the profile and the flags, carried as one value to the clients."""
    profile = parse_profile("insecure = true\n" + HEAD, "p.toml")
    assert build_plan(profile, Overrides(duration=1.0)).work.tls == TlsOptions(insecure=True)
    flags = Overrides(duration=1.0, insecure=False)
    assert build_plan(profile, flags).work.tls == TlsOptions(insecure=False)
