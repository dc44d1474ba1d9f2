"""LiteRT size and per-call latency of the seq LSTM (untrained weights; latency does not depend on them).

    .venv/bin/python -m experiments.lstm_latency

Converts ``train/arch_lstm.build`` for (8, 125) inputs at 48/64/96 units to float32 TFLite
(builtin ops, batch 1), checks LiteRT against Keras on 50 random inputs and times 5000 calls.
"""

from __future__ import annotations

import json

import numpy as np

from voxstream.train.arch_lstm import LstmConfig, build, litert_latency_us, to_tflite

if __name__ == "__main__":
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(50, 8, 125)).astype(np.float32)
    for units in (48, 64, 96):
        cfg = LstmConfig(units=units)
        model = build((8, 125), 7, None, cfg)
        blob = to_tflite(model, cfg)
        us, lite = litert_latency_us(blob, x, repeats=5000)
        print(json.dumps({"units": units, "bytes": len(blob), "litert_us_median": round(us, 1),
                          "max_abs_diff_vs_keras": float(np.abs(lite - model.predict(x, verbose=0)).max())}))
