"""Which clips train and which test: the one evaluation syntax of ``voxstream train`` and ``eval``.

A *spec* names a list of :class:`Split` (row indices into the dataset table):

- ``tess-random``: TESS, stratified 80/20, seeded (same speakers on both sides: flatters the model).
- ``tess-cross``: TESS OAF -> YAF and YAF -> OAF (2 folds; a speaker the model never heard).
- ``lao``: RAVDESS leave-actors-out, actors 01-04 / 05-08 / 09-12 / 13-16 (4 folds); the training
  side is the other 12 RAVDESS actors plus every other corpus in the data (TESS, nEMO when given).
- ``lao-without-tess``: the same folds, training on the other 12 RAVDESS actors only.
- ``lao-inner=N``: the inner folds of outer fold N, for choosing a recipe without looking at fold N: each of
  the other three actor groups held out in turn, training on the remaining two groups plus the other corpora.
- ``nemo-cross``: each nEMO speaker held out in turn (Polish: another language and studio); the training
  side is everything else, the other nEMO speakers included.
- ``loco``: leave one corpus out: each corpus in the data held out in turn (one fold per corpus, in the order
  of ``--data``), training on all the others (needs two corpora or more).  Each fold scores a corpus only on the
  labels it has (UAR is the mean recall of the labels present, :func:`.metrics.classification_metrics`).
- ``random``: all data, stratified 80/20; ``speaker=A+B``: hold out speakers A and B;
  ``lso=K``: speakers shuffled (seeded) into K folds; ``all``: train on everything, no test.
- ``standard``: ``tess-random``, ``tess-cross``, ``lao``, ``nemo-cross`` and ``loco`` (those the data allows:
  ``loco`` only with two corpora or more).

A single fold of a multi-fold spec is ``SPEC:N`` (1-based), e.g. ``lao:2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from voxstream.train.datasets import speaker_keys

RAVDESS_GROUPS = (
    ("01", "02", "03", "04"),
    ("05", "06", "07", "08"),
    ("09", "10", "11", "12"),
    ("13", "14", "15", "16"),
)
NAMED = ("tess-random", "tess-cross", "lao", "lao-without-tess", "nemo-cross", "loco")
STANDARD = ("tess-random", "tess-cross", "lao", "nemo-cross", "loco")
SYNTAX = (
    "standard, tess-random, tess-cross, lao, lao-without-tess, lao-inner=N, nemo-cross, loco, random, "
    "speaker=A[+B], lso=K or all, optionally :N for one fold (e.g. lao:2)"
)


@dataclass
class Split:
    """One train/test partition of the table (indices into it)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    test_speakers: list[str] = field(default_factory=list)


def split_random(labels, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified shuffled (train, test) indices with a fixed seed (numpy only)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _columns(table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (table["corpus"].to_numpy(), table["speaker"].astype(str).to_numpy(), speaker_keys(table).to_numpy())


def _tess_random(table, seed: int) -> list[Split]:
    corpus, _, _ = _columns(table)
    tess = np.flatnonzero(corpus == "tess")
    if not len(tess):
        return []
    tr, te = split_random(table["label"].iloc[tess].to_numpy(), seed=seed)
    return [Split(f"TESS random 80/20 stratified, seed {seed}", tess[tr], tess[te])]


def _tess_cross(table) -> list[Split]:
    corpus, spk, _ = _columns(table)
    tess = np.flatnonzero(corpus == "tess")
    out = []
    for a, b in (("OAF", "YAF"), ("YAF", "OAF")):
        if {a, b} <= set(spk[tess]):
            out.append(Split(f"TESS train {a} -> test {b}", tess[spk[tess] == a], tess[spk[tess] == b], [b]))
    return out


def _others(corpus: np.ndarray) -> tuple[np.ndarray, str]:
    """Clips of every corpus but RAVDESS, and their names for a split's title (`` + TESS + NEMO``)."""
    names = sorted(set(corpus) - {"ravdess"})
    return np.flatnonzero(corpus != "ravdess"), "".join(f" + {n.upper()}" for n in names)


def _lao(table, with_others: bool) -> list[Split]:
    corpus, spk, _ = _columns(table)
    rav = np.flatnonzero(corpus == "ravdess")
    extra, names = _others(corpus) if with_others else (rav[:0], "")
    out = []
    for group in RAVDESS_GROUPS:
        held = np.isin(spk[rav], group)
        if held.any():
            out.append(
                Split(
                    f"RAVDESS test actors {group[0]}-{group[-1]}, train other actors{names}",
                    np.sort(np.concatenate([rav[~held], extra])),
                    rav[held],
                    [f"ravdess:{a}" for a in group],
                )
            )
    return out


def _lao_inner(table, outer: int) -> list[Split]:
    if not 1 <= outer <= len(RAVDESS_GROUPS):
        raise ValueError(f"lao-inner={outer}: expected an outer fold 1..{len(RAVDESS_GROUPS)}")
    corpus, spk, _ = _columns(table)
    rav = np.flatnonzero(corpus == "ravdess")
    extra, names = _others(corpus)
    inner = rav[~np.isin(spk[rav], RAVDESS_GROUPS[outer - 1])]
    out = []
    for group in RAVDESS_GROUPS:
        if group == RAVDESS_GROUPS[outer - 1]:
            continue
        held = np.isin(spk[inner], group)
        if held.any():
            out.append(
                Split(
                    f"inner fold of lao {outer}: test actors {group[0]}-{group[-1]}, train the other inner "
                    f"actors{names}",
                    np.sort(np.concatenate([inner[~held], extra])),
                    inner[held],
                    [f"ravdess:{a}" for a in group],
                )
            )
    return out


def _nemo_cross(table) -> list[Split]:
    corpus, spk, _ = _columns(table)
    nemo = np.flatnonzero(corpus == "nemo")
    out = []
    for s in sorted(set(spk[nemo])):
        held = (corpus == "nemo") & (spk == s)
        out.append(
            Split(
                f"nEMO test speaker {s}, train everything else",
                np.flatnonzero(~held),
                np.flatnonzero(held),
                [f"nemo:{s}"],
            )
        )
    return out


def _loco(table) -> list[Split]:
    """Each corpus held out in turn, training on every other; corpora in the order they first appear (``--data``
    order, so the folders of ``--eval-data``, which come last, are never first in a fold's training list)."""
    corpus, _, keys = _columns(table)
    names = list(dict.fromkeys(str(c) for c in corpus))
    if len(names) < 2:
        raise ValueError(f"split 'loco': needs two corpora or more, the data has {', '.join(names) or 'none'}")
    out = []
    for held in names:
        test = np.flatnonzero(corpus == held)
        train = " + ".join(n.upper() for n in names if n != held)
        out.append(
            Split(
                f"{held.upper()} held out, train {train}", np.flatnonzero(corpus != held), test, sorted(set(keys[test]))
            )
        )
    return out


def _speakers(table, speakers: list[str]) -> list[Split]:
    _, raw, keys = _columns(table)
    wanted = set(speakers)
    missing = sorted(wanted - set(keys) - set(raw))
    if missing:
        raise ValueError(
            f"speaker={'+'.join(speakers)}: {', '.join(missing)} not in the data "
            f"(speakers: {', '.join(sorted(set(raw)))})"
        )
    mask = np.array([k in wanted or r in wanted for k, r in zip(keys, raw)], dtype=bool)
    if mask.all():
        raise ValueError(f"speaker={'+'.join(speakers)}: every clip would be held out; nothing left to train on")
    return [Split(f"hold out speakers {'+'.join(speakers)}", np.flatnonzero(~mask), np.flatnonzero(mask), speakers)]


def _lso(table, k: int, seed: int) -> list[Split]:
    _, _, keys = _columns(table)
    speakers = np.array(sorted(set(keys)))
    if k < 2 or k > len(speakers):
        raise ValueError(f"lso={k}: expected 2..{len(speakers)} (the number of speakers)")
    order = np.random.default_rng(seed).permutation(speakers)
    out = []
    for i, chunk in enumerate(np.array_split(order, k)):
        held = sorted(str(s) for s in chunk)
        mask = np.isin(keys, held)
        out.append(
            Split(f"lso fold {i + 1}/{k}: test {' '.join(held)}", np.flatnonzero(~mask), np.flatnonzero(mask), held)
        )
    return out


def expand(specs: list[str]) -> list[str]:
    """``standard`` -> its named specs; duplicates removed, order kept."""
    out: list[str] = []
    for spec in specs:
        out += list(STANDARD) if spec == "standard" else [spec]
    return list(dict.fromkeys(out))


def make_splits(table, spec: str, seed: int = 0) -> list[Split]:
    """The splits of one spec (see the module docstring); raises ValueError naming the spec when it is wrong."""
    m = re.fullmatch(r"(?P<base>[\w=+-]+):(?P<fold>\d+)", spec)
    base, fold = (m["base"], m["fold"]) if m and not spec.startswith("speaker=") else (spec, None)
    if base == "tess-random":
        splits = _tess_random(table, seed)
    elif base == "tess-cross":
        splits = _tess_cross(table)
    elif base in ("lao", "lao-without-tess"):
        splits = _lao(table, base == "lao")
    elif base == "nemo-cross":
        splits = _nemo_cross(table)
    elif base == "loco":
        splits = _loco(table)
    elif re.fullmatch(r"lao-inner=\d+", base):
        splits = _lao_inner(table, int(base[10:]))
    elif base == "random":
        tr, te = split_random(table["label"].to_numpy(), seed=seed)
        splits = [Split(f"random 80/20 stratified, seed {seed}", tr, te)]
    elif re.fullmatch(r"speaker=[^+]+(\+[^+]+)*", base):
        splits = _speakers(table, base[8:].split("+"))
    elif re.fullmatch(r"lso=\d+", base):
        splits = _lso(table, int(base[4:]), seed)
    elif base == "all":
        splits = [Split("all data (no held-out test)", np.arange(len(table)), np.array([], dtype=int))]
    else:
        raise ValueError(f"split {spec!r}: expected {SYNTAX}")
    if not splits:
        needs = "TESS" if base.startswith("tess") else "nEMO" if base.startswith("nemo") else "RAVDESS actors 01-16"
        raise ValueError(f"split {spec!r}: the data has no clips for it (it needs {needs})")
    if fold is not None:
        if not 1 <= int(fold) <= len(splits):
            raise ValueError(f"split {spec!r}: fold {fold} of {len(splits)}")
        splits = [splits[int(fold) - 1]]
    return splits


def available(table, specs: list[str], seed: int = 0) -> dict[str, list[Split]]:
    """Splits of every spec; under ``standard`` the named specs the data cannot serve are left out."""
    out = {}
    for spec in expand(specs):
        try:
            out[spec] = make_splits(table, spec, seed)
        except ValueError:
            if "standard" in specs and spec in STANDARD:
                continue
            raise
    return out
