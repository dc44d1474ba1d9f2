"""Errors that are shown to people as one line (exit code 2, no traceback)."""


class VoxstreamError(Exception):
    """Base class: the message names the input and what was expected."""


class ConfigError(VoxstreamError):
    """A config file, environment variable or flag is wrong."""


class ModelError(VoxstreamError):
    """A model file or its card is missing, corrupt, or they do not match."""


class AudioError(VoxstreamError):
    """An audio file or device cannot be read."""


class StopStream(Exception):
    """Raised by a publisher whose output is gone for good (e.g. stdout closed by ``| head``): the run ends
    normally, every publisher is still flushed and closed, and the command exits 0."""


class PublisherError(VoxstreamError):
    """A publisher cannot go on until the user fixes something (e.g. its MQTT node name is in use by another
    voxstream process).  Raised from ``publish``, it ends the run: every publisher is still closed, and the
    command exits 2 with this one line."""
