"""scripts/model_table.py prints a card's loco evaluation: the mean and each held-out corpus."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "model_table.py"


def _script():
    spec = importlib.util.spec_from_file_location("model_table", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(acc: float, uar: float, arousal: float, valence: float) -> dict:
    return {
        "n": 10,
        "accuracy": acc,
        "uar": uar,
        "macro_f1": uar,
        "arousal_accuracy": arousal,
        "valence_accuracy": valence,
        "unlabelled": 0,
        "per_class": {},
    }


def _card(name: str, folds: dict[str, tuple[float, float, float, float]] | None) -> dict:
    evaluations = {}
    if folds:
        evaluations["loco"] = {
            "splits": [
                {
                    "split": f"{corpus} held out, train the others",
                    "protocols": {"stream": _metrics(*figures), "cold": _metrics(*(v / 2 for v in figures))},
                }
                for corpus, figures in folds.items()
            ]
        }
    return {
        "name": name,
        "arch": "lstm",
        "evaluations": evaluations,
        "training": {"variants": ["orig"], "epochs": 1, "data": ["tess"]},
    }


@pytest.fixture()
def cards() -> list[dict]:
    return [_card("new", {"TESS": (0.5, 0.4, 0.8, 0.6), "KOREAN": (0.3, 0.2, 0.6, 0.4)}), _card("old", None)]


def test_loco_table_has_the_mean_and_each_held_out_corpus(cards):
    """Each protocol has a mean row (mean over the folds) and one row per held-out corpus; a card without loco
    reads n/a, and cards without any loco give no table."""
    table = _script().loco(cards).splitlines()
    assert table[0] == "| loco: held out | protocol | new (lstm) | old (lstm) |"
    assert table[2:] == [
        "| mean of 2 | stream | 40.0 / 30.0 / 70.0 / 50.0 | n/a |",
        "| TESS | stream | 50.0 / 40.0 / 80.0 / 60.0 | n/a |",
        "| KOREAN | stream | 30.0 / 20.0 / 60.0 / 40.0 | n/a |",
        "| mean of 2 | cold | 20.0 / 15.0 / 35.0 / 25.0 | n/a |",
        "| TESS | cold | 25.0 / 20.0 / 40.0 / 30.0 | n/a |",
        "| KOREAN | cold | 15.0 / 10.0 / 30.0 / 20.0 | n/a |",
    ]
    assert _script().loco([cards[1]]) == ""


def test_the_script_prints_the_loco_table(cards, tmp_path):
    """Run on card files, the script prints the loco mean in its summary and the per-corpus table."""
    paths = []
    for card in cards:
        paths.append(tmp_path / f"{card['name']}.json")
        paths[-1].write_text(json.dumps(card))
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "| loco | stream | 40.0 / 30.0 | n/a |" in out
    assert "loco: accuracy / UAR / arousal / valence (%)" in out
    assert "| KOREAN | cold | 15.0 / 10.0 / 30.0 / 20.0 | n/a |" in out


def _live(acc: float, during: float, latency: float, **extra) -> dict:
    return {
        **_metrics(acc, acc, 0.8, 0.6),
        "during_accuracy": during,
        "latency_median_s": latency,
        "latency_p90_s": 2 * latency,
        **extra,
    }


def test_live_table_and_the_recipe_choice_read_the_fold_means():
    """The live table shows at-end, during and latency fold means; --select the mean UAR of lao-inner and loco."""
    calm = {"neutral_recall": 0.5, "calm_read_as": {"sad": 0.25, "neutral": 0.75}}
    splits = [
        {
            "split": f"RAVDESS fold {i}",
            "protocols": {"live": _live(0.4 + 0.2 * i, 0.2, 1.0 + i), "live-calm": _live(0.5, 0.3, 1.0, **calm)},
        }
        for i in range(2)
    ]
    loco_splits = [
        {"split": f"{c} held out, train the others", "protocols": {"live": _live(v, 0.1, 1.0)}}
        for c, v in (("TESS", 0.3), ("KOREAN", 0.5))
    ]
    card = {
        "name": "new",
        "arch": "lstm",
        "training": {"data": ["tess", "ravdess"], "balance": "corpora"},
        "evaluations": {"lao-inner=1": {"splits": splits}, "lao": {"splits": splits}, "loco": {"splits": loco_splits}},
    }
    rows = _script().live([card]).splitlines()
    assert "| lao | live | new | 50.0 / 50.0 | 20.0 | 1.50 / 3.00 |  |  |" in rows
    assert "| lao | live-calm | new | 50.0 / 50.0 | 30.0 | 1.00 / 2.00 | 50.0 | 25.0 |" in rows
    choice = _script().select([("T1", card)]).splitlines()
    assert choice[2] == "| T1 | tess+ravdess, balance corpora | 50.0 / 50.0 / 80.0 | 40.0 / 40.0 / 80.0 | 45.0 |"
