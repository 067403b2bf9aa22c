"""What a worker away from the Controller does with a command: one body for the worker
processes and the Ray actors, so both obey the same messages the same way."""

from __future__ import annotations

from engine.load import messages as msg
from engine.load.crew import Crew


def apply_start(crew: Crew, start: msg.Start) -> None:
    """Commands given while the worker was being placed, folded into its start."""
    crew.set_setup(start.setup)
    if start.paused:
        crew.pause()
    if start.scale != 1.0:
        crew.set_scale(start.scale)
    for command in start.lanes:
        apply_command(crew, command)
    match start.ending:
        case msg.Stop(reason=reason):
            crew.stop(reason)
        case msg.Abort(reason=reason):
            crew.abort(reason)


def apply_command(crew: Crew, command: msg.Command) -> None:
    """Pause, Resume, Scale, Stop, Abort (Start and Harvest are the caller's)."""
    match command:
        case msg.Pause(scenario=scenario):
            crew.pause(scenario)
        case msg.Resume(scenario=scenario):
            crew.resume(scenario)
        case msg.Scale(scale=scale, scenario=scenario):
            crew.set_scale(scale, scenario)
        case msg.Stop(reason=reason):
            crew.stop(reason)
        case msg.Abort(reason=reason):
            crew.abort(reason)
