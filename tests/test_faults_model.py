"""A broken model or card stops `run` and `classify` before they start: one line on stderr, exit 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine_support import need_model, run_cli

ERROR_PREFIX = "voxstream: error: "


def _card(model: Path) -> dict:
    return json.loads(model.with_suffix(".json").read_text())


def _with_sha(card: dict, blob: bytes) -> dict:
    card = json.loads(json.dumps(card))
    card["tflite"]["sha256"] = hashlib.sha256(blob).hexdigest()
    return card


def _broken(kind: str, model: Path, out: Path) -> Path:
    """A copy of the shipped model broken in one way; returns the .tflite path to pass to --model."""
    out.mkdir(parents=True, exist_ok=True)
    blob, card = model.read_bytes(), _card(model)
    tfl, js = out / model.name, out / model.with_suffix(".json").name
    if kind == "missing_tflite":
        js.write_text(json.dumps(card))
    elif kind == "missing_everything":
        pass
    elif kind == "truncated":
        part = blob[: len(blob) // 3]
        tfl.write_bytes(part)
        js.write_text(json.dumps(_with_sha(card, part)))
    elif kind == "random_bytes":
        junk = np.random.default_rng(6).bytes(len(blob))
        tfl.write_bytes(junk)
        js.write_text(json.dumps(_with_sha(card, junk)))
    elif kind == "sha_mismatch":
        tfl.write_bytes(blob + b"\0")
        js.write_text(json.dumps(card))
    elif kind == "missing_card":
        tfl.write_bytes(blob)
    elif kind == "wrong_label_count":
        tfl.write_bytes(blob)
        card["labels"] = card["labels"][:5]
        js.write_text(json.dumps(card))
    elif kind == "invalid_json":
        tfl.write_bytes(blob)
        js.write_text(json.dumps(card)[:200])
    elif kind == "card_not_object":
        tfl.write_bytes(blob)
        js.write_text("[1, 2, 3]")
    elif kind == "card_missing_field":
        tfl.write_bytes(blob)
        del card["features"]
        js.write_text(json.dumps(card))
    else:
        raise AssertionError(kind)
    return tfl


KINDS = [
    "missing_tflite",
    "missing_everything",
    "truncated",
    "random_bytes",
    "sha_mismatch",
    "missing_card",
    "wrong_label_count",
    "invalid_json",
    "card_not_object",
    "card_missing_field",
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "tone.wav"
    t = np.arange(16000 * 3) / 16000
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return path


def _problem_lines(stderr: str) -> list[str]:
    """Lines of stderr that are not log records or LiteRT's own start-up notice."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("INFO: Created TensorFlow Lite") and " INFO " not in line
    ]


def _assert_refused(proc, model: Path) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = _problem_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), proc.stderr
    assert model.parent.name in lines[0], f"the error does not name the model: {lines[0]}"
    assert proc.stdout.strip() in ("", "label       conf  file"), proc.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_run_refuses_broken_model(kind, tmp_path, clip):
    """`voxstream run --file x --fast` refuses a broken model or card with one stderr line and exit 2."""
    model = _broken(kind, need_model(), tmp_path / kind)
    proc = run_cli(
        "run", "--file", str(clip), "--fast", "--json", "--no-ws", "--no-mqtt", "--model", str(model), timeout=60
    )
    _assert_refused(proc, model)


@pytest.mark.parametrize("kind", KINDS)
def test_classify_refuses_broken_model(kind, tmp_path, clip):
    """`voxstream classify` refuses a broken model or card with one stderr line and exit 2."""
    model = _broken(kind, need_model(), tmp_path / kind)
    proc = run_cli("classify", str(clip), "--model", str(model), timeout=60)
    _assert_refused(proc, model)


@pytest.mark.parametrize("kind", ["random_bytes", "sha_mismatch", "invalid_json"])
def test_debug_shows_traceback(kind, tmp_path, clip):
    """With --debug the same refusal shows a traceback (for developers) and still fails."""
    model = _broken(kind, need_model(), tmp_path / kind)
    proc = run_cli("--debug", "classify", str(clip), "--model", str(model), timeout=60)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "ModelError" in proc.stderr


def test_intact_model_copy_is_accepted(tmp_path, clip):
    """Control: an unbroken copy of the model classifies the clip (so the refusals above are about the faults)."""
    model = need_model()
    shutil.copy(model, tmp_path / model.name)
    shutil.copy(model.with_suffix(".json"), tmp_path / model.with_suffix(".json").name)
    proc = run_cli("classify", str(clip), "--model", str(tmp_path / model.name), "--format", "json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["file"] == str(clip)
