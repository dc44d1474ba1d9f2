"""Input devices through PortAudio (sounddevice): list them and resolve ``--device``."""

from __future__ import annotations

from dataclasses import dataclass

from voxstream.errors import AudioError


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    """Maximum input channels."""
    default_rate: float
    hostapi: str
    is_default: bool = False

    def describe(self) -> str:
        mark = " (default)" if self.is_default else ""
        return f"{self.index}: {self.name!r}, {self.channels} ch, {self.default_rate:.0f} Hz{mark}"


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # libportaudio2 missing
        raise AudioError(f"PortAudio library not found ({exc}); expected libportaudio2 installed") from None
    return sounddevice


def input_devices() -> list[InputDevice]:
    """Every device with at least one input channel (empty when there is no sound system)."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError:
        return []
    return [
        InputDevice(
            int(d["index"]),
            str(d["name"]),
            int(d["max_input_channels"]),
            float(d["default_samplerate"]),
            str(apis[d["hostapi"]]["name"]),
            int(d["index"]) == default_in,
        )
        for d in devices
        if d["max_input_channels"] > 0
    ]


def _listing(devices: list[InputDevice]) -> str:
    if not devices:
        return "no input devices found (is a microphone connected, or PulseAudio running?)"
    return "input devices: " + "; ".join(d.describe() for d in devices)


def resolve_device(spec: str | int | None, devices: list[InputDevice] | None = None) -> InputDevice:
    """``--device`` (index, name substring, or "" for the default) -> one input device.

    No match, several matches, or no input device at all raise one
    :class:`AudioError` line that lists the input devices.
    """
    devices = input_devices() if devices is None else devices
    spec = "" if spec is None else str(spec).strip()
    if not devices:
        raise AudioError(f"audio.device {spec!r}: {_listing(devices)}")
    if spec == "":
        default = [d for d in devices if d.is_default]
        return default[0] if default else devices[0]
    if spec.lstrip("-").isdigit():
        match = [d for d in devices if d.index == int(spec)]
        if not match:
            raise AudioError(f"audio.device {spec}: no input device has that index; {_listing(devices)}")
        return match[0]
    exact = [d for d in devices if d.name.lower() == spec.lower()]
    match = exact or [d for d in devices if spec.lower() in d.name.lower()]
    if not match:
        raise AudioError(f"audio.device {spec!r}: no input device name contains it; {_listing(devices)}")
    if len(match) > 1:
        raise AudioError(
            f"audio.device {spec!r}: matches {len(match)} devices, expected one "
            f"(use the index or a longer name); {_listing(match)}"
        )
    return match[0]
