"""`voxstream bench` in a tiny mode: every key of its JSON is there with sane values (no timing thresholds)."""

import json
import numbers

import numpy as np
import pytest

from engine_support import need_espeak, need_model, run_cli

TOP_KEYS = {
    "model",
    "model_arch",
    "model_sha256",
    "machine",
    "python",
    "audio",
    "window_s",
    "per_hop_ms",
    "features_ms",
    "model_ms",
    "speech_hop_fraction",
    "rss_peak_mb",
    "run_exit_code",
    "first_event_s",
    "first_label_beyond_window_s",
    "run_wall_s",
    "startup_s",
    "startup_runs_s",
    "fast_x_realtime",
    "fast_x_realtime_runs",
    "fast_x_realtime_cpu",
    "fast_audio_s",
    "fast_file_rate_hz",
}


def positive(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0


def check_ms_stats(stats: dict) -> None:
    assert positive(stats["p50"]) and positive(stats["p99"]) and positive(stats["mean"])
    assert stats["p99"] >= stats["p50"] and stats["n"] > 0


@pytest.fixture(scope="module")
def tiny_bench():
    need_model()
    need_espeak()
    out = run_cli(
        "bench",
        "--hops",
        "20",
        "--run-seconds",
        "3",
        "--fast-seconds",
        "5",
        "--repeats",
        "2",
        "--pin-core",
        "0",
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_tiny_bench_reports_every_key(tiny_bench):
    """The JSON holds every documented key and nothing else on stdout (the seed way is bench/seed_way.py's)."""
    assert set(tiny_bench) == TOP_KEYS


def test_tiny_bench_values_are_sane(tiny_bench):
    """Latencies, memory, start-up and throughput are positive numbers, p99 >= p50, and the run exited 0."""
    for key in ("per_hop_ms", "features_ms", "model_ms"):
        check_ms_stats(tiny_bench[key])
    assert tiny_bench["per_hop_ms"]["n"] == 20 and tiny_bench["per_hop_ms"]["hop_s"] == pytest.approx(0.25)
    assert 0 < tiny_bench["speech_hop_fraction"] <= 1
    assert tiny_bench["run_exit_code"] == 0 and positive(tiny_bench["rss_peak_mb"])
    assert tiny_bench["first_event_s"] > tiny_bench["window_s"]  # a paced run waits for one window of audio
    assert isinstance(tiny_bench["first_label_beyond_window_s"], float)
    # the first label comes with the first event or after it (values are rounded to 1 ms)
    assert tiny_bench["first_label_beyond_window_s"] >= tiny_bench["first_event_s"] - tiny_bench["window_s"] - 1e-3
    assert positive(tiny_bench["startup_s"]) and len(tiny_bench["startup_runs_s"]) == 2
    assert positive(tiny_bench["fast_x_realtime"]) and positive(tiny_bench["fast_x_realtime_cpu"])
    assert len(tiny_bench["fast_x_realtime_runs"]) == 2 and tiny_bench["fast_audio_s"] == pytest.approx(5.0, abs=0.1)
    assert tiny_bench["fast_file_rate_hz"] == 44100


def test_pin_core_is_recorded(tiny_bench):
    """--pin-core 0 restricts the bench to CPU 0, and the JSON says so."""
    machine = tiny_bench["machine"]
    assert machine["cpus_used"] == [0] and positive(machine["cpus"]) and machine["arch"]
    assert len(machine["loadavg_start"]) == len(machine["loadavg_end"]) == 3


def test_bad_pin_core_is_one_line_error():
    """A CPU number the machine does not have is one error line, exit 2."""
    need_model()
    out = run_cli("bench", "--pin-core", "4096")
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: error:")]
    assert out.returncode == 2 and len(lines) == 1 and "--pin-core 4096" in lines[0], out.stderr


def _load(path: str, name: str):
    import importlib.util

    from engine_support import ROOT

    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.needs_tf
def test_seed_way_times_librosa_and_keras_and_gives_ratios():
    """bench/seed_way.py times the seed's hop (librosa + Keras) and compares it as ratios to a bench result."""
    pytest.importorskip("tensorflow")
    seed_way = _load("bench/seed_way.py", "seed_way")
    audio = (0.1 * np.sin(2 * np.pi * 220 * np.arange(40000) / 16000)).astype(np.float32)
    seed = seed_way.seed_way(audio, 32000, 4000, 3)
    check_ms_stats(seed["per_hop_ms"])
    assert seed["per_hop_ms"]["n"] == 3 and positive(seed["rss_peak_mb"])
    out = seed_way.with_ratios(seed, {"per_hop_ms": {"p50": 0.5, "p99": 1.0}, "rss_peak_mb": 80.0})
    assert out["ratio_per_hop_p50"] == pytest.approx(seed["per_hop_ms"]["p50"] / 0.5, rel=0.01)
    assert out["ratio_rss"] == pytest.approx(seed["rss_peak_mb"] / 80.0, rel=0.01)


def test_report_renders_a_markdown_row_per_measure(tiny_bench):
    """bench/report.py turns bench JSON into a Markdown table with the measured values only (no target column;
    n/a for a missing seed way)."""
    report = _load("bench/report.py", "bench_report")
    table = report.markdown({"unpinned": tiny_bench, "pinned": tiny_bench}).splitlines()
    assert len(table) == 2 + len(report.ROWS) and table[0] == "| measure | unpinned | pinned |"
    p50 = f"{tiny_bench['per_hop_ms']['p50']:.3f} ms"
    assert table[3] == f"| per-hop latency p50 (features + model + smoother) | {p50} | {p50} |"
    assert "n/a" in next(row for row in table if row.startswith("| seed way per hop p50"))
