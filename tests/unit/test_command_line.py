"""The command line as oha, hey, k6 and curl users type it: parsed in process (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.addresses import is_url
from tui.cli.deploy_cmd import strategies_of
from tui.cli.main import build_parser, main
from tui.cli.proxy_cmd import weights_words
from tui.cli.router_cmd import then
from tui.cli.run_cmd import BadInput, load_target


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`surge ARGV` in process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("surge 0.") and out.count("\n") == 1


@pytest.mark.parametrize(
    ("flag", "said"),
    [
        ("-c", "-c is oha's connections (hey's workers): use -u/--vus"),
        ("-n", "-n is oha's and hey's request count: use -i/--iterations"),
        ("-z", "-z is oha's and hey's duration: use -d/--duration"),
        ("-m", "-m is oha's and hey's method: use --method"),
    ],
)
def test_oha_flags_name_surges_flag(
    capsys: pytest.CaptureFixture[str], flag: str, said: str
) -> None:
    code, out, err = run(capsys, "run", "http://127.0.0.1:9/", flag, "50")
    assert code == 2 and not out
    first, second = err.splitlines()
    assert first == f"surge run: error: {said}"
    assert second == "  see: surge run --help"


@pytest.mark.parametrize("argv", [["-q", "100"], ["-q100"], ["-q", "2.5"]])
def test_q_with_a_number_is_ohas_rate(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, "run", *argv, "http://127.0.0.1:9/")
    assert code == 2
    assert err.splitlines()[0].startswith("surge run: error: -q is k6's --quiet here; oha's -q ")
    assert "--rate" in err.splitlines()[0]


def test_q_alone_stays_quiet_and_h_is_header() -> None:
    args = build_parser().parse_args(
        ["run", "-q", "http://127.0.0.1:9/", "-H", "x-a: 1", "--header", "x-b: 2"]
    )
    assert args.quiet is True and args.header == ["x-a: 1", "x-b: 2"]


def test_a_url_without_scheme_suggests_http(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", "127.0.0.1:8080/api")
    assert code == 2 and not out
    assert err == (
        "surge run: error: 127.0.0.1:8080/api: no such profile; as a URL it needs a scheme: "
        "http://127.0.0.1:8080/api\n"
    )


def test_errors_say_the_line_first_under_the_commands_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "run", "http://127.0.0.1:9/", "--vus", "0")
    assert code == 2
    assert err.splitlines() == [
        "surge run: error: argument -u/--vus: must be at least 1, got 0",
        "  see: surge run --help",
    ]
    code, _, err = run(capsys, "run", "http://127.0.0.1:9/", "--threshold", "nonsense")
    assert code == 2 and err.startswith("surge run: error: ") and err.count("\n") == 1


def test_a_mistyped_choice_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--strategy", "canery")
    assert code == 2
    assert err.splitlines()[0].endswith("(did you mean 'canary'?)")


def test_a_profile_saying_switch_runs_as_bluegreen_with_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    profile = tmp_path / "old.toml"
    profile.write_text(
        'name = "old"\nbase_url = "http://127.0.0.1:9"\n\n[deploy]\n'
        'blue = ["http://127.0.0.1:8081"]\ngreen = ["http://127.0.0.1:8082"]\n'
        'strategy = "switch"\n'
    )
    args = build_parser().parse_args(["run", str(profile)])
    assert load_target(args).deploy.strategy == "bluegreen"  # type: ignore[union-attr]
    assert capsys.readouterr().err == (
        f"surge run: note: {profile}:7: deploy.strategy: 'switch' is now called 'bluegreen' "
        "(still read, for now)\n"
    )


def test_strategy_names_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["demo", "--strategy", "switch"])
    assert args.strategy == "bluegreen"
    assert capsys.readouterr().err == (
        "surge demo: note: --strategy: 'switch' is now called 'bluegreen' (still read, for now)\n"
    )
    assert strategies_of("canary,switch") == ["canary", "bluegreen"]
    with pytest.raises(BadInput, match=r"unknown strategy 'bluegren' \(did you mean 'bluegreen'"):
        strategies_of("bluegren")
    assert build_parser().parse_args(["deploy", "compare", "demo"]).green_flaw == "latency"
    assert build_parser().parse_args(["demo"]).green_flaw == "latency"


def test_weights_in_words() -> None:
    instances = [
        {"color": "blue", "in_service": True, "healthy": True},
        {"color": "blue", "in_service": True, "healthy": False},
        {"color": "blue", "in_service": False, "healthy": True},  # drained: not counted
        {"color": "green", "in_service": True, "healthy": True},
    ]
    words = weights_words({"blue": 90, "green": 10}, instances)
    assert words == "blue 90% (2 instances, 1 unhealthy), green 10% (1 instance)"
    assert weights_words({"blue": 90, "green": 10}, None) == "blue 90%, green 10%"


@pytest.mark.parametrize(
    ("command", "default"),
    [
        (["proxy"], "--weights B:G         e.g. 90:10 (default 100:0)"),
        (["sut"], "--port PORT           port to bind; 0 picks a free port (default 8080)"),
        (["weights"], "--admin ADDR         the proxy's admin API (default 127.0.0.1:8001)"),
        (["demo"], "(default latency)"),
        (["report", "export"], "(default json)"),
    ],
)
def test_help_gives_defaults_and_an_example(
    capsys: pytest.CaptureFixture[str], command: list[str], default: str
) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and default in out
    assert f"\nexample: surge {' '.join(command)} " in out


def test_client_help_says_what_each_speaks(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "run", "--help")
    client = " ".join(out.split("  --client {wire,httpx}\n", 1)[1].split("\n  -", 1)[0].split())
    assert "wire (the default: Surge's own, HTTP/1.1 and h2" in client
    assert "httpx (the httpx library: HTTP/1.1 and h2" in client


def test_run_help_paragraphs_are_filled(capsys: pytest.CaptureFixture[str]) -> None:
    """The epilog is printed as written: no line ends a few words into its paragraph."""
    _, out, _ = run(capsys, "run", "--help")
    epilog = out.split("\nexamples:\n", 1)[1]
    for para in epilog.split("\n\n"):
        lines = para.splitlines()
        assert all(len(line) > 60 for line in lines[:-1] if not line.startswith("  ")), para


@pytest.mark.parametrize("url", ["HTTP://127.0.0.1:8080/a", "Https://127.0.0.1:8443/"])
def test_a_url_is_a_url_in_any_case_for_run_and_the_console(url: str) -> None:
    """One test of "is this a URL" for `surge run URL` and `surge URL`: the scheme's case
    does not make either of them look for a profile file."""
    assert is_url(url) and not is_url("http.toml") and not is_url("profiles/http")
    args = build_parser().parse_args(["run", url])
    profile = load_target(args)
    assert profile.source == "<url>" and profile.base_url == url.lower().rsplit("/", 1)[0]


def test_router_start_says_what_drives_it_next() -> None:
    """`surge router start haproxy profiles/demo.toml`: the demo's [deploy] names `surge
    proxy`, so `surge run profiles/demo.toml` would not steer this HAProxy: it says so."""
    assert then("p.toml", "haproxy", "haproxy") == "Then: surge run p.toml"
    assert then("profiles/demo.toml", "surge", "haproxy") == (
        'Then: surge run a copy of profiles/demo.toml with router = "haproxy" in [deploy] '
        '(it says "surge")'
    )
