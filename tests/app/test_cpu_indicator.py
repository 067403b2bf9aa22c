"""The CPU indicator names each machine of a Ray cluster with its busiest worker."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.app.widgets.cpu import CpuIndicator


class _One(App[None]):
    def compose(self) -> ComposeResult:
        yield CpuIndicator()


async def test_workers_on_nodes_show_each_nodes_busiest_cpu() -> None:
    app = _One()
    async with app.run_test(size=(100, 5)) as pilot:
        cpu = app.query_one(CpuIndicator)
        cpu.show(71.0, 3, ("vm-a", "vm-a", "vm-b"), (40.0, 71.0, 12.0))
        await pilot.pause()
        assert str(cpu.render()) == "3 workers on 2 nodes (vm-a 71%, vm-b 12%) CPU 71%"
        cpu.show(95.0, 2)
        await pilot.pause()
        assert "generator saturated" in str(cpu.render()) and cpu.has_class("-warning")
