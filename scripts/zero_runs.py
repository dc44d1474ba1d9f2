"""The longest run of exact zeros (digital silence) in each file of some folders, summarised per folder.

    .venv/bin/python scripts/zero_runs.py DATA/tess DATA/ravdess DATA/nemo

Prints per folder: files, how many hold a run of at least 250 and 512 zero samples (a 25 ms gate sub-frame
at 16 kHz is 400, a feature frame 512), and the longest run.  The files are read as 16-bit integers, so a
zero is a sample the recording stored as 0.
"""

from __future__ import annotations

import argparse

import numpy as np
import soundfile as sf

from voxstream.audio.files import audio_files_in


def longest_zero_run(x: np.ndarray) -> int:
    flags = np.concatenate([[0], (x == 0).reshape(len(x), -1).all(axis=1).astype(np.int8), [0]])
    edges = np.diff(flags)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if len(starts) else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    for folder in ap.parse_args().folders:
        runs = np.array([longest_zero_run(sf.read(str(f), dtype="int16")[0]) for f in audio_files_in(folder)])
        print(
            f"{folder}: {len(runs)} files, {int((runs >= 250).sum())} with >= 250 zeros in a row, "
            f"{int((runs >= 512).sum())} with >= 512, longest {int(runs.max()) if len(runs) else 0}"
        )


if __name__ == "__main__":
    main()
