"""The LSTM over the ``seq`` sub-window sequence: ``build(input_shape, n_classes, batch_size)``.

Input ``(K, D)``: K sub-window vectors of level-free statistics (``FeatureParams(pooling="seq")``,
8 x 125 by default).  Graph::

    GaussianNoise(NOISE) -> LSTM(UNITS, DROPOUT, RECURRENT_DROPOUT) --------------\\
                         -> mean and std over the K steps -> Dense(BRANCH_UNITS) --> concat
    -> Dropout -> Dense(DENSE, relu) -> Dropout -> Dense(n_classes, softmax)

Keras 3 converts an LSTM to builtin TFLite ops only (no Flex) with a fixed batch of 1 (the fused
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op) or unrolled.  The export graph (:func:`export_graph`, the trained
weights copied over by :func:`voxstream.train.archs.export_twin`) is the unrolled one with a free
batch: ``classify`` scores a batch of windows per LiteRT call (the model's share of
``bench/archive.py``), at a small cost to the single live window (``voxstream bench``, ``model_ms``;
docs/development.md).  Training uses the loop
(``unroll=False``).  TensorFlow and Keras are imported inside.
"""

from __future__ import annotations

UNITS = 64
"""LSTM cells."""
DROPOUT, RECURRENT_DROPOUT = 0.2, 0.1
"""Input and recurrent dropout of the LSTM."""
BRANCH_UNITS = 64
"""Units of the second branch, on the mean and std of the steps (the MLP's view of the window)."""
DENSE = 64
HEAD_DROPOUT = 0.4
NOISE = 0.1
"""Std of the Gaussian input noise (training only; inputs are normalised to unit scale)."""
L2 = 1e-4
LEARNING_RATE = 1e-3


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


def build(input_shape: tuple[int, int], n_classes: int, batch_size: int | None = None, unroll: bool = False):
    """A compiled Keras 3 model over (K, D) sequences (``unroll=True``: the TFLite export graph)."""
    import keras
    from keras import layers

    reg = keras.regularizers.l2(L2)
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="seq")
    x = layers.GaussianNoise(NOISE)(inputs)
    h = layers.LSTM(
        UNITS, dropout=DROPOUT, recurrent_dropout=RECURRENT_DROPOUT, kernel_regularizer=reg, unroll=unroll, name="lstm"
    )(x)
    p = layers.Dense(BRANCH_UNITS, activation="relu", kernel_regularizer=reg, name="pooled")(
        _step_stats()(name="step_stats")(x)
    )
    h = layers.Concatenate()([h, p])
    h = layers.Dropout(HEAD_DROPOUT)(h)
    h = layers.Dense(DENSE, activation="relu", kernel_regularizer=reg)(h)
    h = layers.Dropout(HEAD_DROPOUT)(h)
    outputs = layers.Dense(n_classes, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="seq_lstm")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def export_graph(input_shape: tuple[int, int], n_classes: int):
    """The export graph: the network unrolled, with a free batch."""
    return build(input_shape, n_classes, batch_size=None, unroll=True)
