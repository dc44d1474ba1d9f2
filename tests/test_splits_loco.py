"""Leave-one-corpus-out and the Korean scheme on tiny synthetic corpora: FLAC tones named like the four corpora."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voxstream.train.datasets import scan_folders, speaker_keys
from voxstream.train.splits import available, make_splits

RATE = 16000
NAMES = {
    "tess": [f"{s}_{w}_{e}" for s in ("OAF", "YAF") for w in ("back", "dog") for e in ("angry", "sad", "ps")],
    "ravdess": [f"Actor_{a}/03-01-{e}-01-01-01-{a}" for a in ("01", "05", "09", "13") for e in ("01", "04", "05")],
    "nemo": [f"{s}_{e}_{n}" for s in ("EB0", "KD0") for n, e in enumerate(("anger", "sadness", "surprised"))],
    "korean": [
        f"{s}_{e}_{i:05d}"
        for s in ("ema", "nek", "neo")
        for e in ("angry", "happy", "neutral", "sad")
        for i in (101, 102)
    ],
}
"""Corpus -> file stems (folders included), as each corpus names its files."""


def write_corpora(root, corpora=tuple(NAMES)) -> list:
    """One folder per corpus of 0.2 s FLAC tones (a different pitch per file) under ``root``."""
    folders = []
    for k, corpus in enumerate(corpora):
        for i, stem in enumerate(NAMES[corpus]):
            path = root / corpus / f"{stem}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(0.2 * RATE)) / RATE
            sf.write(str(path), 0.3 * np.sin(2 * np.pi * (150 + 40 * k + 7 * i) * t), RATE)
        folders.append(root / corpus)
    return folders


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """The scan of the four synthetic corpora, given in the order tess, ravdess, nemo, korean."""
    return scan_folders(write_corpora(tmp_path_factory.mktemp("corpora")))


def test_korean_scheme_reads_labels_and_speakers(tmp_path):
    """Korean files give their label and speaker, and the card's label map lists the corpus' four words."""
    scan = scan_folders(write_corpora(tmp_path, ("korean",)))
    table = scan.table
    assert len(table) == 24 and not scan.skipped and set(table.corpus) == {"korean"}
    assert sorted(set(zip(table.speaker, table.label))) == sorted(
        (s, e) for s in ("ema", "nek", "neo") for e in ("angry", "happy", "neutral", "sad")
    )
    assert set(table.emotion) == set(table.label)
    assert scan.mapped == {"korean": {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad"}}
    dropped = scan_folders([tmp_path / "korean"], label_map={"korean:happy": "drop"})
    assert "happy" not in set(dropped.table.label) and dropped.mapped["korean"]["happy"] == "drop"


def test_every_corpus_parses_and_speaker_keys_do_not_collide(four):
    """All four corpora scan side by side (nEMO surprised dropped), and no speaker key is shared by two corpora."""
    table = four.table
    assert table.groupby("corpus").size().to_dict() == {"korean": 24, "nemo": 4, "ravdess": 12, "tess": 12}
    assert four.counts == {"dropped": 2}
    keys = speaker_keys(table)
    owners = {k: set(table.corpus[keys == k]) for k in set(keys)}
    assert all(len(c) == 1 for c in owners.values()) and len(owners) == 2 + 4 + 2 + 3
    assert set(four.mapped) == {"korean", "nemo"}  # the other words met here are product labels, not declared


def test_loco_holds_out_each_corpus_once(four):
    """One fold per corpus, in --data order; each fold tests one whole corpus and trains on all the others,
    with no speaker and no corpus on both sides."""
    table = four.table
    corpus, keys = table.corpus.to_numpy(), speaker_keys(table).to_numpy()
    folds = make_splits(table, "loco")
    assert [f.name for f in folds] == [
        "TESS held out, train RAVDESS + NEMO + KOREAN",
        "RAVDESS held out, train TESS + NEMO + KOREAN",
        "NEMO held out, train TESS + RAVDESS + KOREAN",
        "KOREAN held out, train TESS + RAVDESS + NEMO",
    ]
    for fold, held in zip(folds, ("tess", "ravdess", "nemo", "korean")):
        assert set(corpus[fold.test]) == {held}
        assert set(corpus[fold.train]) == {"tess", "ravdess", "nemo", "korean"} - {held}
        assert sorted(np.concatenate([fold.train, fold.test])) == list(range(len(table)))
        assert not set(keys[fold.train]) & set(keys[fold.test])
        assert fold.test_speakers == sorted(set(keys[fold.test]))
    assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(len(table)))
    one = make_splits(table, "loco:4")
    assert len(one) == 1 and np.array_equal(one[0].test, folds[3].test)


def test_loco_needs_two_corpora_and_joins_standard_only_then(four, tmp_path):
    """With one corpus loco is a clear error and ``standard`` leaves it out; with several it is in ``standard``."""
    one = scan_folders(write_corpora(tmp_path, ("korean",))).table
    with pytest.raises(ValueError, match="loco.*two corpora.*korean"):
        make_splits(one, "loco")
    assert "loco" not in available(one, ["standard"])
    assert list(available(four.table, ["standard"])) == ["tess-random", "tess-cross", "lao", "nemo-cross", "loco"]


def test_lao_with_korean_trains_on_it_and_tests_ravdess_only(four):
    """lao and lao-inner treat Korean as nEMO: extra training voices, never tested."""
    table = four.table
    corpus = table.corpus.to_numpy()
    for spec in ("lao", "lao-inner=2"):
        for fold in make_splits(table, spec):
            assert set(corpus[fold.test]) == {"ravdess"}
            assert {"tess", "nemo", "korean"} <= set(corpus[fold.train])
            assert fold.name.endswith(" + KOREAN + NEMO + TESS")


def test_eval_only_corpora_leave_the_training_side_and_its_name(four):
    """With nEMO and Korean as --eval-data (scanned last), every loco fold's training side keeps only --data
    corpora and its name says so."""
    from voxstream.train.trainer import Data, trainable_side

    table = four.table
    corpus = table.corpus.to_numpy()
    trainable = np.isin(corpus, ["tess", "ravdess"])
    data = Data(
        table, np.zeros(len(table), dtype=np.int64), speaker_keys(table).to_numpy(), None, {}, {}, trainable=trainable
    )  # type: ignore[arg-type]
    sides = [trainable_side(data, fold) for fold in make_splits(table, "loco")]
    assert [s.name.split(" (")[0] for s in sides] == [
        "TESS held out, train RAVDESS",
        "RAVDESS held out, train TESS",
        "NEMO held out, train TESS + RAVDESS",
        "KOREAN held out, train TESS + RAVDESS",
    ]
    for side in sides:
        assert trainable[side.train].all() and len(side.train)


def test_a_held_out_corpus_is_scored_on_its_own_labels():
    """A Korean fold (4 labels) gets the mean recall of those 4 as UAR, even when the model answers with labels
    the corpus lacks (those count as misses, in accuracy and in the recall of the true label)."""
    from voxstream.inference.card import LABELS
    from voxstream.train.metrics import classification_metrics

    idx = {lab: i for i, lab in enumerate(LABELS)}
    truth = [idx[lab] for lab in ("angry", "happy", "neutral", "sad") for _ in range(4)]
    said = [
        idx[lab] for lab in ["angry"] * 4 + ["happy"] * 2 + ["fear"] * 2 + ["neutral"] * 3 + ["ps"] + ["disgust"] * 4
    ]
    m = classification_metrics(np.array(truth), np.array(said), LABELS)
    assert m["uar"] == pytest.approx((1 + 0.5 + 0.75 + 0) / 4, abs=1e-4)
    assert m["accuracy"] == pytest.approx(9 / 16, abs=1e-4)
