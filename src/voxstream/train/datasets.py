"""Folders of emotional speech -> one table (path, label, emotion, speaker, corpus, duration).

The label and speaker come from the file name.  Seven corpus naming schemes are
known (TESS, RAVDESS, CREMA-D, SAVEE, EmoDB, nEMO, Korean) and detected per file; a user
regular expression with named groups ``label`` (and optionally ``speaker``)
covers anything else.  Each scheme maps its own emotion names onto the
product labels (:data:`voxstream.inference.card.LABELS`); a user ``label_map``
overrides that mapping (a key ``corpus:word``, e.g. ``nemo:surprised``, for one
corpus only), and a label mapped to ``drop`` (or to anything that is not a
product label) removes the file.  The table keeps the corpus' own word
(``emotion``, e.g. ``calm``) beside the product label, so a protocol can still
tell calm clips from neutral ones.

Choices: RAVDESS *calm* is mapped to *neutral* (the project's recipe, keeping
all 960 clips; pass ``label_map={"calm": "drop"}`` to drop it instead);
EmoDB *boredom* has no product label and is dropped; surprise is ``ps``, except
nEMO's *surprised* (surprise in general, not only pleasant), which is dropped
unless ``label_map={"nemo:surprised": "ps"}``.  The Korean corpus (emotiontts_open_db) is named
``{speaker}_{label}_{index}``, its four words already the product's (angry, happy, neutral, sad: translated
from 화남, 기쁨, 일반, 슬픔 when the data was converted); its map is declared in :data:`CORPUS_LABEL_MAP`,
so the card records it in full like the maps that rename words.

Files that libsndfile cannot open are reported by name (a logging warning),
counted and skipped; scanning never aborts on one bad file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voxstream.audio.files import audio_files_in, audio_info
from voxstream.inference.card import LABELS

if TYPE_CHECKING:
    import pandas as pd  # imported where used: the runtime never loads it

_LOGGER = logging.getLogger(__name__)

COLUMNS = ("path", "label", "emotion", "speaker", "corpus", "duration")
DROP = "drop"


@dataclass(frozen=True)
class Parsed:
    """What a file name says: the corpus' own emotion word and the speaker."""

    emotion: str
    speaker: str
    corpus: str


_TESS = re.compile(r"^(?P<speaker>[A-Za-z]+)_(?P<word>.+)_(?P<emotion>angry|disgust|fear|happy|neutral|ps|sad)$")
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(?P<emotion>0[1-8])-(\d\d)-(\d\d)-(\d\d)-(?P<speaker>\d\d)$")
_CREMA = re.compile(
    r"^(?P<speaker>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)"
    r"_(?P<level>[A-Z]{2})$"
)
_SAVEE = re.compile(r"^(?P<speaker>[A-Z]{2})_(?P<emotion>sa|su|a|d|f|h|n)(?P<n>\d\d)$")
_EMODB = re.compile(r"^(?P<speaker>\d\d)(?P<text>[a-z]\d\d)(?P<emotion>[WLEAFTN])(?P<version>[a-z])$")
_NEMO = re.compile(r"^(?P<speaker>[A-Z]{2}\d)_(?P<emotion>anger|fear|happiness|neutral|sadness|surprised)_(?P<n>\d+)$")
_KOREAN = re.compile(r"^(?P<speaker>[a-z]{3})_(?P<emotion>angry|happy|neutral|sad)_(?P<n>\d+)$")

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
CREMA_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
SAVEE_EMOTIONS = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}

DEFAULT_LABEL_MAP = {
    "anger": "angry",
    "calm": "neutral",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "ps",
    "surprised": "ps",
    "pleasant_surprise": "ps",
    "boredom": DROP,
}
"""Corpus emotion words -> product labels (product labels map to themselves)."""
CORPUS_LABEL_MAP = {
    "nemo": {"surprised": DROP},
    "korean": {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad"},
}
"""Per-corpus exceptions to :data:`DEFAULT_LABEL_MAP` (nEMO's surprise is not only pleasant surprise), and
maps declared in full (Korean: its translated words).  Every word of a corpus' entry that a scan meets is
recorded in :attr:`Scan.mapped`, even when it maps to itself."""


def _tess(stem: str) -> Parsed | None:
    m = _TESS.match(stem)
    if not m:
        return None
    speaker = m["speaker"].upper()
    speaker = {"OA": "OAF", "YA": "YAF"}.get(speaker, speaker)  # the OA_bite_neutral quirk
    return Parsed(m["emotion"], speaker, "tess")


def _ravdess(stem: str) -> Parsed | None:
    m = _RAVDESS.match(stem)
    return Parsed(RAVDESS_EMOTIONS[m["emotion"]], m["speaker"], "ravdess") if m else None


def _crema(stem: str) -> Parsed | None:
    m = _CREMA.match(stem)
    return Parsed(CREMA_EMOTIONS[m["emotion"]], m["speaker"], "crema-d") if m else None


def _savee(stem: str) -> Parsed | None:
    m = _SAVEE.match(stem)
    return Parsed(SAVEE_EMOTIONS[m["emotion"]], m["speaker"], "savee") if m else None


def _emodb(stem: str) -> Parsed | None:
    m = _EMODB.match(stem)
    return Parsed(EMODB_EMOTIONS[m["emotion"]], m["speaker"], "emodb") if m else None


def _nemo(stem: str) -> Parsed | None:
    m = _NEMO.match(stem)
    return Parsed(m["emotion"], m["speaker"], "nemo") if m else None


def _korean(stem: str) -> Parsed | None:
    m = _KOREAN.match(stem)
    return Parsed(m["emotion"], m["speaker"], "korean") if m else None


SCHEMES: dict[str, Callable[[str], Parsed | None]] = {
    "tess": _tess,
    "ravdess": _ravdess,
    "crema-d": _crema,
    "savee": _savee,
    "emodb": _emodb,
    "nemo": _nemo,
    "korean": _korean,
}


def regex_parser(pattern: str, corpus: str = "custom") -> Callable[[str], Parsed | None]:
    """A parser from a regular expression with named groups ``label`` and optionally ``speaker``."""
    rx = re.compile(pattern)
    if "label" not in rx.groupindex:
        raise ValueError(f"--pattern {pattern!r}: needs a named group (?P<label>...)")

    def parse(stem: str) -> Parsed | None:
        m = rx.search(stem)
        if not m:
            return None
        speaker = m["speaker"] if "speaker" in rx.groupindex and m["speaker"] else "unknown"
        return Parsed(m["label"], speaker, corpus)

    return parse


def parse_name(stem: str, scheme: str = "auto") -> Parsed | None:
    """Parse a file stem with one named scheme, or ``auto``: the one scheme that matches."""
    if scheme != "auto":
        if scheme not in SCHEMES:
            raise ValueError(f"scheme {scheme!r}: expected auto or one of {sorted(SCHEMES)}")
        return SCHEMES[scheme](stem)
    hits = [p for p in (parse(stem) for parse in SCHEMES.values()) if p is not None]
    return hits[0] if len(hits) == 1 else None


def effective_map(corpus: str, label_map: dict[str, str] | None = None) -> dict[str, str]:
    """Corpus word -> label for one corpus: the defaults, the corpus' exceptions, then the user's
    ``word`` and ``corpus:word`` keys (the latter win)."""
    user = {k.lower(): v for k, v in (label_map or {}).items()}
    return {
        **DEFAULT_LABEL_MAP,
        **CORPUS_LABEL_MAP.get(corpus, {}),
        **{k: v for k, v in user.items() if ":" not in k},
        **{k.split(":", 1)[1]: v for k, v in user.items() if k.startswith(f"{corpus}:")},
    }


def map_label(emotion: str, label_map: dict[str, str] | None = None, corpus: str = "") -> str | None:
    """Product label of a corpus emotion word, or None when it is dropped or unknown."""
    key = emotion.lower()
    label = effective_map(corpus, label_map).get(key, key)
    return label if label in LABELS else None


@dataclass
class Scan:
    """The table of usable clips and what was left out (and why)."""

    table: pd.DataFrame  # with COLUMNS
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of every file left out."""
    mapped: dict[str, dict[str, str]] = field(default_factory=dict)
    """Corpus -> each emotion word met that became another label or ``drop`` (e.g. ravdess calm -> neutral), and
    every word of a corpus whose map is declared in full (korean angry -> angry), as the card records it."""

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, reason in self.skipped:
            kind = reason.split(":")[0]
            out[kind] = out.get(kind, 0) + 1
        return out


def _recorded(parsed: Parsed, label: str | None) -> bool:
    """Whether the card's label map lists this word: it became another label or ``drop``, or its corpus
    declares its map in full (:data:`CORPUS_LABEL_MAP`)."""
    word = parsed.emotion.lower()
    return (label or DROP) != word or word in CORPUS_LABEL_MAP.get(parsed.corpus, {})


def _duration(path: Path) -> float:
    """Seconds of audio (soundfile.info through audio_info, which also rejects empty and truncated files)."""
    return audio_info(path).duration_s


def scan_folder(
    folder: str | Path, scheme: str = "auto", pattern: str | None = None, label_map: dict[str, str] | None = None
) -> Scan:
    """Every audio file under ``folder`` (the rule of ``classify``: :func:`voxstream.audio.files.audio_files_in`)
    with its label, speaker, corpus and duration."""
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of audio files")
    parse = regex_parser(pattern) if pattern else (lambda stem: parse_name(stem, scheme))
    rows, skipped = [], []
    mapped: dict[str, dict[str, str]] = {}
    for path in audio_files_in(folder):
        parsed = parse(path.stem)
        if parsed is None:
            skipped.append((str(path), "unrecognised: file name matches no naming scheme"))
            continue
        label = map_label(parsed.emotion, label_map, parsed.corpus)
        if _recorded(parsed, label):
            mapped.setdefault(parsed.corpus, {})[parsed.emotion.lower()] = label or DROP
        if label is None:
            skipped.append((str(path), f"dropped: emotion {parsed.emotion!r} has no product label"))
            continue
        try:
            duration = _duration(path)
        except Exception as exc:  # a bad file must never abort the scan
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            _LOGGER.warning("skipped: %s", reason)
            skipped.append((str(path), f"undecodable: {reason}"))
            continue
        rows.append((str(path), label, parsed.emotion.lower(), parsed.speaker, parsed.corpus, duration))
    _log_summary(folder, rows, skipped)
    return Scan(pd.DataFrame(rows, columns=list(COLUMNS)), skipped, mapped)


def _log_summary(folder: Path, rows: list, skipped: list) -> None:
    unrecognised = [p for p, r in skipped if r.startswith("unrecognised")]
    for path in unrecognised[:5]:
        _LOGGER.warning("%s: file name matches no naming scheme (use --pattern), skipped", path)
    if len(unrecognised) > 5:
        _LOGGER.warning("... and %d more unrecognised file names", len(unrecognised) - 5)
    _LOGGER.info("%s: %d clips, %d skipped", folder, len(rows), len(skipped))


def scan_folders(folders: Sequence[str | Path], **kwargs) -> Scan:
    """:func:`scan_folder` over several folders, concatenated."""
    import pandas as pd

    scans = [scan_folder(f, **kwargs) for f in folders]
    table = pd.concat([s.table for s in scans], ignore_index=True)
    mapped: dict[str, dict[str, str]] = {}
    for scan in scans:
        for corpus, words in scan.mapped.items():
            mapped.setdefault(corpus, {}).update(words)
    return Scan(
        table,
        [item for s in scans for item in s.skipped],
        {c: dict(sorted(w.items())) for c, w in sorted(mapped.items())},
    )


def speaker_keys(table) -> pd.Series:
    """``corpus:speaker`` per row, unique across corpora (a pandas Series)."""
    return table["corpus"].astype(str) + ":" + table["speaker"].astype(str)


def label_indices(labels) -> np.ndarray:
    """Product labels -> their indices in :data:`voxstream.inference.card.LABELS`."""
    return np.array([LABELS.index(lab) for lab in labels], dtype=np.int64)
