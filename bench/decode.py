"""Decoding speed of the two libsndfile builds voxstream can use: the soundfile wheel's own and the system's.

Usage (from the checkout, with the venv)::

    .venv/bin/python bench/decode.py --data ../shared/data/ravdess [--files 400] [--repeat 5]

Reads the first ``--files`` audio files of ``--data`` (sorted) with
``soundfile.read(dtype="float32")`` through each library in turn, ``--repeat``
times, and prints the best x real time of each, and whether every file gave the
same samples through both (:mod:`voxstream.audio.sndfile` picks the system one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from voxstream.audio.files import find_audio_files
from voxstream.audio.sndfile import handles, library_version, system_library


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a folder of audio files, e.g. ../shared/data/ravdess")
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    files = [str(p) for p in find_audio_files([args.data])][: args.files]
    if not files:
        raise SystemExit(f"{args.data}: no audio files")
    libs = {"bundled": handles()["bundled"]}
    path = system_library()
    if path:
        libs["system"] = sf._ffi.dlopen(path)
    samples = {}
    for name, lib in libs.items():
        sf._snd = lib
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            audio = [sf.read(f, dtype="float32")[0] for f in files]
            best = min(best, time.perf_counter() - start)
        seconds = sum(len(a) / sf.info(f).samplerate for a, f in zip(audio, files))
        samples[name] = audio
        print(
            f"{name} ({library_version(lib)}): {seconds / best:.0f}x real time, {len(files)} files, "
            f"{seconds / 60:.1f} min of audio"
        )
    sf._snd = libs["bundled"]
    if len(samples) == 2:
        same = all(np.array_equal(a, b) for a, b in zip(samples["bundled"], samples["system"]))
        print(f"same samples from both: {same}")
        return 0 if same else 1
    print("no system libsndfile found (apt-get install libsndfile1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
