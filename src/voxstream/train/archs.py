"""Model builders, one per architecture name (``--arch``).

Add an architecture with :func:`register`: a function
``build(input_shape, n_classes, batch_size) -> compiled keras.Model`` plus
its training defaults and how a pooled feature vector of length ``dim`` is
shaped for it.  The export graph is ``build`` with ``batch_size=1`` (Keras 3
LSTMs convert to TFLite builtin ops only with a fixed batch of 1, or
unrolled), or the architecture's own ``export_build`` (the default LSTM's:
unrolled, free batch); training uses ``batch_size=None`` and the weights are
copied over (:func:`export_twin`).  TensorFlow/Keras are imported inside the
builders only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arch:
    """An architecture and its training recipe: a plug-in of the one pipeline of :mod:`.trainer`."""

    name: str
    build: Callable
    """build(input_shape, n_classes, batch_size) -> compiled keras.Model."""
    pooling: str = "mean"
    """FeatureParams.pooling the architecture is trained on (the runtime reads it from the card)."""
    features: dict = field(default_factory=dict)
    """Further :class:`~voxstream.engine.params.FeatureParams` fields of the architecture (the card records them)."""
    whole_clip: bool = False
    """Train on one vector pooled over each whole clip (the seed notebook) instead of streaming windows.
    Evaluation always scores streaming windows, as the runtime does."""
    normalization: dict = field(default_factory=lambda: {"kind": "none"})
    """The card's normalisation recipe (:mod:`voxstream.engine.normalize`); a ``session`` prior is fitted
    on the training side (:func:`.sessions.template`)."""
    variants: tuple[str, ...] = ("orig",)
    """Copies of every training clip (:mod:`.variants`); each copy is a further speaker."""
    train_hop: int = 1
    """Keep every n-th window of a training session (neighbouring windows overlap by 7/8)."""
    epochs: int = 10
    batch_size: int = 51
    val_fraction: float = 0.0
    """A shuffled stratified slice of the training rows, watched only (never used to select)."""
    input_shape: Callable[[tuple[int, ...]], tuple[int, ...]] = lambda shape: shape
    """Shape of one model input (no batch) for one feature array of ``shape``."""
    export_build: Callable | None = None
    """export_build(input_shape, n_classes) -> the export graph (default: ``build`` with a fixed batch of 1)."""
    description: str = ""
    summary: str = ""
    """One line for ``voxstream train --help``."""


ARCHS: dict[str, Arch] = {}
DEFAULT_ARCH = "lstm"
"""The architecture ``voxstream train`` trains without ``--arch`` (the shipped model's)."""


def register(arch: Arch) -> Arch:
    ARCHS[arch.name] = arch
    return arch


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"--arch {name!r}: expected one of {sorted(ARCHS)}")
    return ARCHS[name]


def build_model(arch: str, input_shape: tuple[int, ...], n_classes: int, batch_size: int | None = None):
    """A compiled Keras model of a registered architecture."""
    return get_arch(arch).build(tuple(input_shape), int(n_classes), batch_size)


def export_twin(model, arch: str):
    """The architecture's export graph (for conversion), weights copied from ``model``."""
    spec = get_arch(arch)
    shape, n_classes = tuple(model.input_shape[1:]), int(model.output_shape[-1])
    twin = spec.export_build(shape, n_classes) if spec.export_build else spec.build(shape, n_classes, 1)
    twin.set_weights(model.get_weights())
    return twin


def _build_seed(input_shape, n_classes, batch_size):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, batch_size=batch_size)
    x = layers.LSTM(123, return_sequences=False)(inputs)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="seed")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


register(
    Arch(
        "seed",
        _build_seed,
        pooling="mean",
        whole_clip=True,
        epochs=10,
        batch_size=51,
        val_fraction=0.1,
        input_shape=lambda shape: (shape[0], 1),
        description="the seed notebook: 40 mean MFCCs as a length-40 sequence -> LSTM(123) -> "
        "Dense 64 -> Dense 32 -> softmax, dropout 0.2, Adam, 10 epochs, batch 51",
        summary="the seed notebook: whole-clip mean MFCCs -> LSTM(123) -> Dense 64/32; models/seed.tflite",
    )
)


def _build_session_mlp(input_shape, n_classes, batch_size):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, batch_size=batch_size)
    x = layers.GaussianNoise(0.1)(inputs)  # training only; identity at inference
    for units in (256, 128):
        x = layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(x)
        x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="session_mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


register(
    Arch(
        "session_mlp",
        _build_session_mlp,
        pooling="mean_std_dstd_prosody",
        epochs=20,
        batch_size=256,
        normalization={"kind": "session", "prior_windows": 40.0, "memory_windows": 480.0, "scale": True},
        variants=("orig", "speed0.9", "speed1.1", "noise"),
        summary="session-normalised MFCC mean/std/delta-std + prosody of 2 s windows -> MLP 256-128",
        description="128 session-normalised window statistics (MFCC mean, std, std of frame differences; "
        "voiced fraction, mean/std of log F0, autocorrelation peak, mean/std of centroid and "
        "level) -> GaussianNoise 0.1 -> Dense 256 -> Dense 128 (ReLU, dropout 0.4, L2 1e-4) -> "
        "softmax; Adam 1e-3, 20 epochs, batch 256, on 2 s / 0.25 s streaming windows of original "
        "+ speed 0.9/1.1 + noisy copies",
    )
)


def _build_lstm(input_shape, n_classes, batch_size):
    from voxstream.train.arch_lstm import build

    return build(input_shape, n_classes, batch_size)


def _export_lstm(input_shape, n_classes):
    from voxstream.train.arch_lstm import export_graph

    return export_graph(input_shape, n_classes)


register(
    Arch(
        "lstm",
        _build_lstm,
        export_build=_export_lstm,
        pooling="seq",
        features={"dtype": "float32", "pitch_decimation": 2, "hop_length": 250},
        epochs=12,
        batch_size=256,
        train_hop=2,
        normalization={
            "kind": "session",
            "baseline": "median",
            "prior_windows": 40.0,
            "memory_windows": 480.0,
            "scale": True,
        },
        variants=("orig", "aug1", "aug2", "aug3", "speed0.9", "speed1.1", "speed0.8", "speed1.2"),
        summary="LSTM(64) over 8 level-free sub-window steps of 2 s windows + pooled branch",
        description="seq features (float32 spectra, pitch from the 0-4 kHz autocorrelation; 8 sub-windows "
        "of 0.25 s x 125 level-free values: MFCC c1-c39 mean/std/"
        "delta-std, voicing, log F0, autocorrelation peak, centroid, relative level) -> session "
        "normaliser (running median baseline) -> GaussianNoise 0.1 -> LSTM 64 (dropout 0.2, "
        "recurrent 0.1) + mean/std-over-steps branch Dense 64 -> Dense 64 -> softmax; Adam 1e-3, "
        "12 epochs, batch 256, windows every 0.5 s of the original clips, 3 room-and-microphone "
        "augmented copies (src/voxstream/train/augment.py kind mix) and speed 0.8/0.9/1.1/1.2 "
        "copies; chosen on the inner folds of lao 1 and 3 (docs/model.md, choosing the recipe)",
    )
)
