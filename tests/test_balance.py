"""Speaker-balanced loss weights, the corpus shares of the card, the calm-session protocol and the nEMO split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxstream.inference.card import LABELS
from voxstream.train.balance import corpus_shares, row_weights
from voxstream.train.protocols import calm_sessions, sessions_for
from voxstream.train.splits import make_splits
from voxstream.train.trainer import Data, trainable_side

NEUTRAL = LABELS.index("neutral")


def test_every_speaker_weighs_the_same():
    """A speaker with 9 rows and one with 1 row each get half the total weight; the mean weight is 1."""
    speakers = np.array(["tess:OAF"] * 9 + ["ravdess:01"])
    w = row_weights("speakers", speakers, np.zeros(10, dtype=int))
    assert w[:9].sum() == pytest.approx(w[9:].sum(), rel=1e-6) and w.mean() == pytest.approx(1.0, rel=1e-6)
    assert np.all(row_weights("none", speakers, np.zeros(10, dtype=int)) == 1.0)


def test_speakers_and_labels_balance_both():
    """speakers+labels: every label's rows together weigh the same after the speakers are balanced."""
    speakers = np.array(["a"] * 6 + ["b"] * 2)
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    w = row_weights("speakers+labels", speakers, y)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum(), rel=1e-6)
    with pytest.raises(ValueError, match="--balance"):
        row_weights("corpus", speakers, y)


def test_corpora_weigh_the_same_and_their_speakers_too():
    """corpora: two TESS voices (9 and 3 rows) and one RAVDESS actor (2 rows) -> each corpus half the weight,
    each TESS voice a quarter."""
    speakers = np.array(["tess:OAF"] * 9 + ["tess:YAF"] * 3 + ["ravdess:01"] * 2)
    w = row_weights("corpora", speakers, np.zeros(len(speakers), dtype=int))
    assert w[:12].sum() == pytest.approx(w[12:].sum(), rel=1e-6)
    assert w[:9].sum() == pytest.approx(w[9:12].sum(), rel=1e-6)
    assert w.mean() == pytest.approx(1.0, rel=1e-6)


def test_corpus_shares_report_rows_and_weight():
    """The card's corpus shares: speakers, clips, share of rows and share of loss weight per corpus."""
    corpora = np.array(["tess"] * 3 + ["ravdess"])
    speakers = np.array(["tess:OAF", "tess:OAF", "tess:YAF", "ravdess:01"])
    row_clips = np.array([0, 0, 1, 2, 3])
    w = row_weights("speakers", speakers[row_clips], np.zeros(5, dtype=int))
    shares = corpus_shares(corpora, speakers, np.arange(4), row_clips, w)
    assert shares["tess"] == {
        "speakers": 2,
        "clips": 3,
        "row_share": 0.8,
        "weight_share": pytest.approx(2 / 3, abs=1e-4),
    }
    assert shares["ravdess"]["row_share"] == 0.2 and shares["ravdess"]["weight_share"] == pytest.approx(1 / 3, abs=1e-4)


def test_calm_session_keeps_calm_clips_apart_from_neutral():
    """calm-session streams every neutral and calm clip plus one of each other label; with calm mapped to
    neutral it streams the calm-speaker clips, and a calm clip mapped elsewhere still joins the session."""
    y = np.array([NEUTRAL, NEUTRAL, NEUTRAL, 0, 0, 1, 2])
    calm = np.array([False, True, True, False, False, False, False])
    speakers = np.array(["s"] * 7)
    test = np.arange(7)
    session = sessions_for("calm-session", test, y, speakers, 3, calm)[0]
    assert sorted(session.tolist())[:3] == [0, 1, 2] and len(session) == 6
    assert sorted(session.tolist()) == sorted(sessions_for("calm-speaker", test, y, speakers, 3)[0].tolist())
    y_dropped = y.copy()
    y_dropped[[1, 2]] = 1  # calm mapped to another label: still in the session as calm clips
    session = calm_sessions(test, y_dropped, speakers, 3, calm)[0]
    assert {0, 1, 2} <= set(session.tolist()) and len(session) == 6


def test_nemo_cross_holds_out_each_nemo_speaker():
    """nemo-cross: one fold per nEMO speaker, trained on everything else; lao trains on nEMO too when given."""
    table = pd.DataFrame(
        {
            "corpus": ["nemo"] * 4 + ["ravdess"] * 2 + ["tess"],
            "speaker": ["EB0", "EB0", "KD0", "KD0", "01", "05", "OAF"],
            "label": ["sad"] * 7,
        }
    )
    folds = make_splits(table, "nemo-cross")
    assert [f.test.tolist() for f in folds] == [[0, 1], [2, 3]]
    assert folds[0].train.tolist() == [2, 3, 4, 5, 6] and folds[0].test_speakers == ["nemo:EB0"]
    lao = make_splits(table, "lao:1")[0]
    assert lao.test.tolist() == [4] and lao.train.tolist() == [0, 1, 2, 3, 5, 6]
    with pytest.raises(ValueError, match="needs nEMO"):
        make_splits(table[table.corpus != "nemo"], "nemo-cross")


def test_eval_data_is_never_trained_on():
    """Clips of --eval-data folders leave every training side (and the split's name says so); test sides keep
    them, so nemo-cross tests each nEMO speaker with a model that heard no nEMO speaker."""
    table = pd.DataFrame(
        {"corpus": ["ravdess", "tess", "nemo", "nemo"], "speaker": ["01", "OAF", "EB0", "KD0"], "label": ["sad"] * 4}
    )
    data = Data(
        table,
        np.zeros(4, dtype=int),
        np.array(["a", "b", "c", "d"]),
        None,
        {},
        {},
        trainable=np.array([True, True, False, False]),
    )
    fold = trainable_side(data, make_splits(table, "nemo-cross:1")[0])
    assert fold.train.tolist() == [0, 1] and fold.test.tolist() == [2]
    assert fold.name == "nEMO test speaker EB0, train everything else (no nemo clips: --eval-data)"
    lao = trainable_side(data, make_splits(table, "lao:1")[0])
    assert lao.train.tolist() == [1] and lao.test.tolist() == [0]
    assert lao.name == "RAVDESS test actors 01-04, train other actors + TESS (no nemo clips: --eval-data)"
    plain = make_splits(table[:2], "lao:1")[0]
    assert trainable_side(data, plain) is plain  # nothing to leave out: the same split


def test_uar_is_the_mean_recall_of_the_labels_present():
    """A model that says angry to everything: accuracy is angry's share, UAR is 1 / (labels present); the text
    report shows UAR and the protocol's further figures."""
    from voxstream.train.metrics import classification_metrics, format_metrics, mean_of

    y = np.array([0] * 8 + [4, 6])  # 8 angry, 1 neutral, 1 sad
    m = classification_metrics(y, np.zeros(10, dtype=int), LABELS)
    assert m["accuracy"] == 0.8 and m["uar"] == round(1 / 3, 4)
    text = format_metrics(m | {"neutral_recall": 0.0, "arousal_accuracy": 0.8})
    assert "UAR=0.3333" in text and "neutral recall=0.0000" in text and "arousal accuracy=0.8000" in text
    assert mean_of([m, m | {"uar": 0.5}])["uar_mean"] == pytest.approx((1 / 3 + 0.5) / 2, abs=1e-4)
