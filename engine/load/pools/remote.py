"""What a worker away from the Controller does with a command: one body for the worker
processes and the Ray actors, so both obey the same messages the same way."""

from __future__ import annotations

from engine.load import messages as msg
from engine.load.worker import Worker


def apply_start(worker: Worker, start: msg.Start) -> None:
    """Commands given while the worker was being placed, folded into its start."""
    if start.paused:
        worker.pause()
    if start.scale != 1.0:
        worker.set_scale(start.scale)
    match start.ending:
        case msg.Stop(reason=reason):
            worker.stop(reason)
        case msg.Abort(reason=reason):
            worker.abort(reason)


def apply_command(worker: Worker, command: msg.Command) -> None:
    """Pause, Resume, Scale, Stop, Abort (Start and Harvest are the caller's)."""
    match command:
        case msg.Pause():
            worker.pause()
        case msg.Resume():
            worker.resume()
        case msg.Scale(scale=scale):
            worker.set_scale(scale)
        case msg.Stop(reason=reason):
            worker.stop(reason)
        case msg.Abort(reason=reason):
            worker.abort(reason)
