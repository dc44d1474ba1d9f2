"""The LSTM over the ``seq`` sub-window sequence: ``build(input_shape, n_classes, batch_size)``.

Input ``(K, D)``: K sub-window vectors of level-free statistics (``FeatureParams(pooling="seq")``,
8 x 125 by default).  Graph::

    GaussianNoise(noise) -> LSTM(units, dropout, recurrent_dropout) --------------\\
                         -> [pooled branch] mean and std over the K steps -> Dense --> concat
    -> Dropout -> Dense(dense, relu) -> Dropout -> Dense(n_classes, softmax)

Keras 3 converts an LSTM to builtin TFLite ops only (no Flex) with a fixed batch of 1 (the fused
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op) or unrolled.  The export graph (:func:`export_twin`) is the
unrolled one with a free batch, the trained weights copied over: ``classify`` scores a batch of
windows per LiteRT call (the model's share of ``bench/archive.py``), at a small cost to the single
live window (``voxstream bench``, ``model_ms``; docs/development.md).  Training uses the loop
(``unroll=False``).  TensorFlow and Keras are imported inside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LstmConfig:
    units: int = 64
    """LSTM cells."""
    dropout: float = 0.2
    """Input dropout of the LSTM."""
    recurrent_dropout: float = 0.1
    pooled_branch: bool = True
    """Add a second branch on the mean and std of the steps (the MLP's view of the window)."""
    branch_units: int = 64
    dense: int = 64
    head_dropout: float = 0.4
    noise: float = 0.1
    """Std of the Gaussian input noise (training only; inputs are normalised to unit scale)."""
    l2: float = 1e-4
    learning_rate: float = 1e-3

    def to_dict(self) -> dict:
        return asdict(self)


_STEP_STATS = None


def _step_stats():
    """The layer class "mean and std over the steps, concatenated" (registered once, so a saved
    ``.keras`` file loads in Keras' safe mode wherever this module is imported)."""
    global _STEP_STATS
    if _STEP_STATS is None:
        import keras
        from keras import ops

        @keras.saving.register_keras_serializable(package="voxstream")
        class StepStats(keras.layers.Layer):
            def call(self, x):
                return ops.concatenate([ops.mean(x, axis=1), ops.std(x, axis=1)], axis=-1)

            def compute_output_shape(self, shape):
                return (shape[0], 2 * shape[-1])

        _STEP_STATS = StepStats
    return _STEP_STATS


def build(input_shape: tuple[int, int], n_classes: int, batch_size: int | None = None,
          config: LstmConfig = LstmConfig(), unroll: bool = False):
    """A compiled Keras 3 model over (K, D) sequences (``unroll=True``: the TFLite export graph)."""
    import keras
    from keras import layers

    c = config
    reg = keras.regularizers.l2(c.l2) if c.l2 else None
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="seq")
    x = layers.GaussianNoise(c.noise)(inputs) if c.noise else inputs
    h = layers.LSTM(c.units, dropout=c.dropout, recurrent_dropout=c.recurrent_dropout, kernel_regularizer=reg,
                    unroll=unroll, name="lstm")(x)
    if c.pooled_branch:
        p = layers.Dense(c.branch_units, activation="relu", kernel_regularizer=reg, name="pooled")(
            _step_stats()(name="step_stats")(x))
        h = layers.Concatenate()([h, p])
    h = layers.Dropout(c.head_dropout)(h)
    h = layers.Dense(c.dense, activation="relu", kernel_regularizer=reg)(h)
    h = layers.Dropout(c.head_dropout)(h)
    outputs = layers.Dense(n_classes, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="seq_lstm")
    model.compile(optimizer=keras.optimizers.Adam(c.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def export_graph(input_shape: tuple[int, int], n_classes: int, config: LstmConfig = LstmConfig()):
    """The export graph: the network unrolled, with a free batch."""
    return build(input_shape, n_classes, batch_size=None, config=config, unroll=True)


def export_twin(model, config: LstmConfig = LstmConfig()):
    """The export graph with the weights of ``model`` (for conversion)."""
    twin = export_graph(model.input_shape[1:], model.output_shape[-1], config)
    twin.set_weights(model.get_weights())
    return twin


def to_tflite(model, config: LstmConfig = LstmConfig()) -> bytes:
    """Float32 ``.tflite`` of a trained model (free batch, TFLITE_BUILTINS only; :func:`.export.convert`)."""
    from voxstream.train.export import convert

    return convert(export_twin(model, config))


def litert_latency_us(blob: bytes, x, repeats: int = 2000) -> tuple[float, "object"]:
    """Median LiteRT time per call (us, one thread, batch 1) and the outputs for every row of ``x``."""
    import numpy as np

    from voxstream.train.export import LitePredictor, latency_us

    x = np.asarray(x, dtype=np.float32)
    return latency_us(blob, x[0], calls=repeats), LitePredictor(blob)(x)
