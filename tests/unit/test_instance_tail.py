"""The tail of an instance's log, as the console's log screen shows it."""

from __future__ import annotations

from pathlib import Path

from tui.app.instances import TAIL_BYTES, tail


def test_the_last_lines_of_a_log_and_none_of_a_missing_one(tmp_path: Path) -> None:
    log = tmp_path / "blue-0.log"
    log.write_text("".join(f"line {i}\n" for i in range(300)))
    assert tail(log) == [f"line {i}" for i in range(100, 300)]
    assert tail(log, 2) == ["line 298", "line 299"]
    assert tail(tmp_path / "green-0.log") == []


def test_a_huge_log_is_read_from_its_end_only_whole_lines_kept(tmp_path: Path) -> None:
    log = tmp_path / "blue-0.log"
    line = "x" * 99 + "\n"
    log.write_text(line * (2 * TAIL_BYTES // len(line)) + "the end\n")
    lines = tail(log, 10_000)
    assert lines[-1] == "the end" and all(len(s) == 99 for s in lines[:-1])
    assert len(lines) < TAIL_BYTES // 100 + 2
