"""`[deploy] judge`: chosen once when the profile is read; each mistake one line naming
the key (engine/profile/deploy_judge.py)."""

from __future__ import annotations

import pytest

from engine.deploy.strategies.analysis import Analysis, BoundsJudge, StatisticalJudge
from engine.profile import parse_profile
from engine.profile.model import ProfileError

HEAD = 'name = "t"\nbase_url = "http://127.0.0.1:8080"\n'
DEPLOY = "[deploy]\nblue = ['http://127.0.0.1:1']\ngreen = ['http://127.0.0.1:2']\n"


def analysis_of(extra: str, strategy: str = "canary") -> Analysis:
    text = HEAD + DEPLOY + f"strategy = '{strategy}'\n" + extra
    plan = parse_profile(text, "p.toml").deploy
    assert plan is not None
    analysis = plan.options["analysis"]
    assert isinstance(analysis, Analysis)
    return analysis


def test_the_bounds_judge_by_default() -> None:
    assert isinstance(analysis_of("").judge, BoundsJudge)
    assert isinstance(analysis_of("judge = 'bounds'\n").judge, BoundsJudge)


def test_statistical_with_its_settings_and_defaults() -> None:
    assert analysis_of("judge = 'statistical'\n").judge == StatisticalJudge(0.99, 0.10, 0.01)
    given = "judge = 'statistical'\nconfidence = 0.95\nmin_latency_shift = 0.2\n"
    given += "min_error_shift = 0.005\n"
    assert analysis_of(given).judge == StatisticalJudge(0.95, 0.2, 0.005)
    # a linear rollout judges its windows once a judge is named
    linear = analysis_of("judge = 'statistical'\npercent = 10\nevery = '10s'\n", "linear")
    assert isinstance(linear.judge, StatisticalJudge)


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ("judge = 'kayenta'\n", "deploy.judge", "expected one of bounds, statistical"),
        ("confidence = 0.9\n", "deploy.confidence", 'applies to judge = "statistical"'),
        ("judge = 'statistical'\nmax_p99_ms = 30\n", "deploy.max_p99_ms", 'judge = "bounds"'),
        ("judge = 'statistical'\nconfidence = 1\n", "deploy.confidence", "0.5 <= confidence < 1"),
        ("judge = 'statistical'\nconfidence = 99\n", "deploy.confidence", "fraction 0..1"),
        ("judge = 'statistical'\nmin_latency_shift = -1\n", "deploy.min_latency_shift", "0..1"),
        ("judge = 'statistical'\nmin_error_shift = 'x'\n", "deploy.min_error_shift", "number"),
    ],
)
def test_mistakes_name_file_line_and_key(extra: str, key: str, message: str) -> None:
    text = HEAD + DEPLOY + extra
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "p.toml")
    assert err.value.key == key and message in err.value.message
    assert key.split(".")[1] in text.splitlines()[err.value.line - 1]
