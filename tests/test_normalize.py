"""Tests of the runtime feature normaliser (src/voxstream/engine/normalize.py)."""

import json

import numpy as np
import pytest

from voxstream.engine.normalize import Normalizer

DIM = 6


def _session(**kw) -> Normalizer:
    data = {
        "kind": "session",
        "prior_mean": [0.0] * DIM,
        "prior_std": [1.0] * DIM,
        "prior_windows": 10,
        "memory_windows": 200,
    }
    data.update(kw)
    return Normalizer.from_dict(data)


def _speaker(mean: float, std: float, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, size=(n, DIM))


def test_none_passes_features_through():
    """Kind none (and a missing dict) returns the features unchanged as float32."""
    x = np.arange(DIM, dtype=np.float64)
    for norm in (Normalizer.from_dict({"kind": "none"}), Normalizer.from_dict(None)):
        out = norm.step(x, speech=True)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x.astype(np.float32))


def test_session_starts_from_the_prior():
    """Before any speech a session normaliser uses the prior mean and std."""
    norm = _session(prior_mean=[3.0] * DIM, prior_std=[0.5] * DIM)
    np.testing.assert_allclose(norm.apply(np.full(DIM, 4.0)), np.full(DIM, 2.0))
    assert norm.speech_windows == 0


def test_session_converges_to_the_speaker_statistics():
    """After a few hundred speech windows a speaker's features come out near zero mean, unit std."""
    norm = _session()
    out = norm.run(_speaker(-20.0, 4.0, 800))
    tail = out[-300:]
    assert np.all(np.abs(tail.mean(axis=0)) < 0.35)
    assert np.all(np.abs(tail.std(axis=0) - 1.0) < 0.25)


def test_session_removes_a_speaker_offset():
    """Two speakers who differ by a constant offset (3 prior stds) give nearly the same features once adapted."""
    rows = _speaker(0.0, 1.0, 600, seed=3)
    a, b = _session().run(rows), _session().run(rows + 3.0)
    assert np.max(np.abs(a[-100:] - b[-100:])) < 0.25
    assert np.mean(np.abs(a[:3] - b[:3])) > 1.0  # while the prior dominates, they still differ


def test_non_speech_windows_do_not_move_the_baseline():
    """update(..., speech=False) leaves the session state unchanged."""
    norm = _session()
    norm.run(_speaker(2.0, 1.0, 50))
    before = norm.apply(np.zeros(DIM))
    for row in _speaker(100.0, 1.0, 50):
        norm.update(row, speech=False)
    np.testing.assert_array_equal(norm.apply(np.zeros(DIM)), before)
    assert norm.speech_windows == 50


def test_run_equals_step_by_step_streaming():
    """Training's run() over a session equals the engine's per-hop step() calls, speech flags included."""
    rows = _speaker(1.0, 2.0, 120, seed=5)
    speech = np.random.default_rng(6).random(120) > 0.3
    batch = _session().run(rows, speech)
    live = _session()
    streamed = np.stack([live.step(r, bool(s)) for r, s in zip(rows, speech)])
    np.testing.assert_array_equal(batch, streamed)


@pytest.mark.parametrize(
    "options", [{}, {"baseline": "median"}, {"scale": False, "post_mean": [0.5] * DIM, "post_std": [2.0] * DIM}]
)
def test_run_of_sequences_equals_step_by_step(options):
    """The same for (K, D) windows (the LSTM's): run() moves the baseline window by window and normalises all
    windows at once; every value equals the per-hop path's, with every option the card may set."""
    rows = np.random.default_rng(7).normal(2.0, 3.0, size=(90, 8, DIM))
    speech = np.random.default_rng(8).random(90) > 0.25
    batch = _session(**options).run(rows, speech)
    live = _session(**options)
    streamed = np.stack([live.step(r, bool(s)) for r, s in zip(rows, speech)])
    assert batch.shape == rows.shape and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, streamed)


def test_reset_forgets_the_session():
    """reset() brings a session back to the prior."""
    norm = _session()
    fresh = norm.apply(np.ones(DIM))
    norm.run(_speaker(9.0, 3.0, 100))
    norm.reset()
    np.testing.assert_array_equal(norm.apply(np.ones(DIM)), fresh)
    assert norm.speech_windows == 0


def test_mean_only_session_and_post_scaling():
    """scale=false only centres on the session mean; post_mean/post_std are applied last."""
    norm = _session(
        scale=False, prior_mean=[1.0] * DIM, prior_std=[5.0] * DIM, post_mean=[0.5] * DIM, post_std=[2.0] * DIM
    )
    np.testing.assert_allclose(norm.apply(np.full(DIM, 4.0)), np.full(DIM, 1.25))


def test_card_dict_round_trip_through_json():
    """to_dict() survives JSON and rebuilds a normaliser that behaves the same."""
    norm = _session(scale=False, post_mean=[0.1] * DIM, post_std=[3.0] * DIM)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    rows = _speaker(4.0, 2.0, 30)
    np.testing.assert_array_equal(norm.run(rows), again.run(rows))
    assert again.to_dict() == norm.to_dict()


@pytest.mark.parametrize(
    "data, word",
    [
        ({"kind": "zscore"}, "kind"),
        ({"kind": "global", "mean": [0.0, 1.0], "std": [1.0]}, "kind"),
        ({"kind": "session", "prior_mean": [0.0, 1.0]}, "prior_std"),
        ({"kind": "session", "prior_mean": [0.0, 1.0], "prior_std": [1.0]}, "prior_std"),
        ({"kind": "none", "center": "window"}, "center"),
        ({"kind": "session", "prior_mean": [0.0], "prior_std": [1.0], "center_columns": [0, 1]}, "center_columns"),
        ({"kind": "session", "prior_mean": [0.0], "prior_std": [float("nan")]}, "prior_std"),
        ({"kind": "session", "prior_mean": [0.0], "prior_std": [1.0], "memory_windows": 0}, "memory_windows"),
    ],
)
def test_bad_card_dicts_are_refused_by_name(data, word):
    """A malformed normalization dict raises ValueError naming the offending key."""
    with pytest.raises(ValueError, match=word):
        Normalizer.from_dict(data)


def test_zero_std_never_divides_by_zero():
    """A constant feature (zero variance) gives finite output."""
    norm = _session(prior_std=[0.0] * DIM)
    out = norm.run(np.ones((50, DIM)))
    assert np.all(np.isfinite(out))


def test_old_card_dict_gives_the_default_options():
    """A card without the baseline key builds a mean baseline and writes no baseline key back."""
    norm = _session()
    assert norm.baseline == "mean"
    assert "baseline" not in norm.to_dict()


def test_new_options_round_trip_through_json():
    """baseline survives to_dict -> JSON -> from_dict."""
    norm = _session(baseline="median")
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back.baseline == "median"


def test_sequence_is_normalised_step_by_step():
    """A (K, D) window is centred and scaled per step with the D-long statistics; the baseline takes its mean step."""
    seq_norm, flat_norm = _session(), _session()
    rng = np.random.default_rng(3)
    for _ in range(30):
        window = rng.normal(5.0, 2.0, size=(8, DIM))
        out = seq_norm.step(window, speech=True)
        flat_norm.step(window.mean(axis=0), speech=True)
        assert out.shape == (8, DIM)
    np.testing.assert_allclose(
        seq_norm.apply(np.ones((8, DIM))), np.tile(flat_norm.apply(np.ones(DIM)), (8, 1)), rtol=1e-6
    )


def test_the_shipped_cards_use_only_the_kinds_kept():
    """Every shipped card's normalization dict loads (kinds "none" and "session" only) and round-trips."""
    from voxstream.inference.card import load_card
    from voxstream.inference.shipped import resolve_model

    for name in ("voxstream", "session_mlp", "seed"):
        card, _ = load_card(resolve_model(name), verify=False)
        norm = Normalizer.from_dict(card.normalization)
        assert norm.kind in ("none", "session")
        assert norm.to_dict() == card.normalization


def test_median_baseline_resists_a_burst_of_outliers():
    """After 200 ordinary windows, 20 extreme ones move a median baseline far less than a mean baseline."""
    mean_norm, med_norm = _session(), _session(baseline="median")
    calm = _speaker(2.0, 1.0, 200, seed=5)
    burst = _speaker(30.0, 1.0, 20, seed=6)
    for row in np.vstack([calm, burst]):
        mean_norm.update(row, True)
        med_norm.update(row, True)
    probe = np.full(DIM, 2.0)
    shift_mean = np.abs(mean_norm.apply(probe)).mean()
    shift_med = np.abs(med_norm.apply(probe)).mean()
    assert shift_med < 0.5 and shift_mean > 2 * shift_med


def test_median_baseline_converges_to_the_speaker():
    """The median baseline still learns a new speaker's offset (the speaker's typical window maps near 0)."""
    norm = _session(baseline="median")
    for row in _speaker(4.0, 1.0, 400, seed=7):
        norm.update(row, True)
    assert np.abs(norm.apply(np.full(DIM, 4.0))).max() < 0.4
