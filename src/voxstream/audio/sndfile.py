"""Decode with the system's libsndfile when there is one (Debian's ``libsndfile1``, which
``scripts/setup.sh`` installs), else with the copy bundled in the soundfile wheel.

The bundled copy can decode FLAC more slowly than the distribution's build
(``bench/decode.py`` times both).  FLAC is lossless, so both give the same
samples (``tests/test_audio_io.py``).  soundfile has no option for this: it keeps
its library handle in ``soundfile._snd``, which :func:`prefer_system_library`
replaces once if the system library loads and is libsndfile 1.1 or later.
Every reader goes through :mod:`voxstream.audio.files`, which calls it.
"""

from __future__ import annotations

import os
import re
import sysconfig

import soundfile as sf

_STATE: dict[str, str] = {}
_HANDLES: dict[str, object] = {"bundled": sf._snd}
"""The library handles: the one soundfile loaded at import (its bundled copy, on Linux wheels) and the system's."""


def system_library() -> str | None:
    """Path of the system's libsndfile 1.x, if there is one (by path: the bundled copy has the same soname,
    so loading by soname would give back the copy already loaded)."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [f"/usr/lib/{arch}", f"/lib/{arch}"] if arch else []
    for folder in dirs + ["/usr/lib64", "/usr/lib", "/usr/local/lib"]:
        path = os.path.join(folder, "libsndfile.so.1")
        if os.path.isfile(path):
            return path
    return None


def library_version(lib=None) -> str:
    """``libsndfile-1.2.0``: the version string of ``lib`` (default: the one soundfile now uses)."""
    lib = sf._snd if lib is None else lib
    return sf._ffi.string(lib.sf_version_string()).decode("ascii", "replace")


def prefer_system_library() -> str:
    """Use the system libsndfile if it loads and is 1.1 or later; returns ``"system"`` or ``"bundled"``."""
    if "which" in _STATE:
        return _STATE["which"]
    which, path = "bundled", system_library()
    try:
        if path is None:
            raise OSError("no system libsndfile")
        lib = sf._ffi.dlopen(path)
        match = re.match(r"libsndfile-(\d+)\.(\d+)", library_version(lib))
        if match and (int(match[1]), int(match[2])) >= (1, 1) and hasattr(sf, "_snd"):
            sf._snd, which = lib, "system"
            _HANDLES["system"] = lib
    except (OSError, AttributeError):  # not installed, not loadable, or a soundfile without _snd
        pass
    _STATE["which"] = which
    return which


def handles() -> dict[str, object]:
    """``{"bundled": handle, "system": handle}`` (the second once :func:`prefer_system_library` took it)."""
    return dict(_HANDLES)
