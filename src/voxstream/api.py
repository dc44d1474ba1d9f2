"""The public Python API, for embedding voxstream in your own assistant.

Three functions, each taking a shipped model's name (``voxstream``, ``session_mlp``, ``seed``) or the path of
a ``.tflite`` with its card, and optionally a :class:`~voxstream.config.Config` (default: the built-in
defaults, no file read; use :func:`voxstream.config.load_config` to read one)::

    import voxstream

    result = voxstream.classify_file("hello.wav")            # FileResult: label, confidence, scores
    async for event in voxstream.events_from_file("hello.wav"):
        print(event.label, event.scores)                     # EmotionEvent, one per hop
    async for event in voxstream.events_from_device(0):      # a microphone, until you break out
        ...

The events are the ones ``voxstream run`` publishes (:class:`~voxstream.engine.events.EmotionEvent`,
``event.to_dict()`` is the JSON of the WebSocket page and MQTT); ``classify_file`` scores a file the way
``voxstream classify`` does.  Errors are :class:`~voxstream.errors.VoxstreamError` subclasses whose message is
one line naming the input (``AudioError`` for an unreadable file or device, ``ModelError`` for a model).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from voxstream.app import stream_events
from voxstream.config import Config
from voxstream.engine.events import EmotionEvent
from voxstream.errors import AudioError
from voxstream.inference.litert import Classifier
from voxstream.offline.archive import FileResult, job_for, scorer_for
from voxstream.stages import build_engine

__all__ = ["EmotionEvent", "FileResult", "classify_file", "events_from_device", "events_from_file"]


def _config(model: str | Path | None, config: Config | None) -> Config:
    cfg = config or Config()
    return cfg.replace("model", path=str(model)) if model is not None else cfg


def classify_file(path: str | Path, model: str | Path | None = None, config: Config | None = None) -> FileResult:
    """One label for a whole file: the mean score of its speech windows, the file a session of its own.

    ``model`` defaults to the config's (``voxstream`` unless the config names another).  The loaded model is
    kept for the next call with the same model and config.
    """
    out = scorer_for(job_for(_config(model, config))).score([str(path)])
    error = out.errors[0]
    if error is not None:
        raise AudioError(error)
    result = out.results[0]
    assert result is not None  # a file either has a result or an error
    return result


async def events_from_file(
    path: str | Path, model: str | Path | None = None, config: Config | None = None, realtime: bool = False
) -> AsyncIterator[EmotionEvent]:
    """The live events of an audio file, as ``voxstream run --file`` makes them (``realtime``: paced like a
    microphone; default: as fast as the machine scores)."""
    from voxstream.audio.sources import FileSource

    cfg = _config(model, config)
    classifier = Classifier.configured(cfg)
    engine = build_engine(classifier.card, classifier.predict, cfg)
    source = FileSource.configured(path, engine.spec.sample_rate, cfg.audio, realtime=realtime)
    async with source:
        async for event in stream_events(source, engine):
            yield event


async def events_from_device(
    device: str | int | None = None, model: str | Path | None = None, config: Config | None = None
) -> AsyncIterator[EmotionEvent]:
    """The live events of a microphone (index or name substring, as ``voxstream devices`` lists; default: the
    config's, else the system default), one per hop, until the caller stops iterating."""
    from voxstream.audio.sources import MicSource

    cfg = _config(model, config)
    if device is not None:
        cfg = cfg.replace("audio", device=str(device))
    classifier = Classifier.configured(cfg)
    engine = build_engine(classifier.card, classifier.predict, cfg)
    source = MicSource(cfg.audio, engine.spec.sample_rate)
    async with source:
        async for event in stream_events(source, engine):
            yield event
