"""The factory of the engine's stages: model card + configuration -> :class:`~voxstream.engine.pipeline.Stages`.

The one place that reads the whole :class:`~voxstream.config.Config`
for the engine; the engine itself only receives its stages.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voxstream.config import Config
from voxstream.engine.gate import SpeechGate
from voxstream.engine.normalize import Normalizer
from voxstream.engine.pipeline import Engine, Stages
from voxstream.engine.ring import FrameRing
from voxstream.engine.smoother import Smoother
from voxstream.engine.window import WindowSpec
from voxstream.errors import ModelError
from voxstream.inference.calibration import configured_state
from voxstream.inference.card import ModelCard, gate_for


def make_normalizer(card: ModelCard, state: dict | None = None) -> Normalizer:
    """The card's per-session normaliser, starting from its prior, or from a saved speaker baseline
    (``state``, see :mod:`voxstream.inference.calibration`)."""
    try:
        return Normalizer.from_dict(card.normalization, state=state)
    except ValueError as exc:
        raise ModelError(f"model {card.name}: {exc}") from None


def window_spec(card: ModelCard, cfg: Config | None = None) -> WindowSpec:
    """Window and hop from the config, 0 (or no config) meaning the card's values."""
    p = card.features
    window_s = (cfg.window.window_s if cfg else 0) or card.window_s
    hop_s = (cfg.window.hop_s if cfg else 0) or card.hop_s
    try:
        return WindowSpec.from_seconds(window_s, hop_s, p.sample_rate, p.hop_length)
    except ValueError as exc:
        raise ModelError(f"window: {exc}") from None


def make_gate(card: ModelCard, cfg: Config) -> SpeechGate:
    """The gate the model was trained with (the card's), each value the config gives winning (:func:`gate_for`)."""
    return SpeechGate.from_config(gate_for(card, cfg)[0], card.features.sample_rate)


def make_stages(card: ModelCard, predict: Callable[[np.ndarray], np.ndarray], cfg: Config) -> Stages:
    """The engine's stages; its session starts from the configured speaker baseline when one fits the model
    (:func:`~voxstream.inference.calibration.configured_state`), else from the card's prior."""
    spec = window_spec(card, cfg)
    return Stages(
        spec=spec,
        mfcc=FrameRing(card.features, spec.window),
        gate=make_gate(card, cfg),
        normalizer=make_normalizer(card, configured_state(card, cfg)),
        predict=predict,
        smoother=Smoother.from_config(card.labels, cfg.smoother),
        labels=tuple(card.labels),
        node=cfg.node.name,
        model=card.name,
    )


def build_engine(card: ModelCard, predict: Callable[[np.ndarray], np.ndarray], cfg: Config | None = None) -> Engine:
    """An engine for ``card`` whose model is ``predict`` (e.g. ``Classifier.predict``)."""
    return Engine(make_stages(card, predict, cfg or Config()))
