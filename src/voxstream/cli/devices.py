"""``voxstream devices``: the input devices PortAudio sees, with their default rates."""

from __future__ import annotations

import argparse

from voxstream.audio.devices import input_devices


def register(sub) -> None:
    p = sub.add_parser("devices", help="list input devices (for --device)")
    p.set_defaults(func=cmd_devices)


def cmd_devices(args: argparse.Namespace) -> int:
    devices = input_devices()
    if not devices:
        print("no input devices found (is a microphone connected, or PulseAudio running?)")
        return 1
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.default_rate:.0f} Hz, {d.hostapi})")
    print("* = default; pass the index or part of the name to `voxstream run --device`")
    return 0
