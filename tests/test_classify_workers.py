"""`voxstream classify` on several processes and on a Dask cluster: same output, files out, resume, bad files."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine_support import need_model, run_cli, speech_with_pauses
from voxstream.audio.files import load_audio
from voxstream.offline.archive import chunks
from voxstream.offline.output import Progress

SR = 16000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """40 clips of 1-4 s cut from an espeak recording (some silent), in two sub-folders, plus one broken file."""
    base = tmp_path_factory.mktemp("archive")
    y = load_audio(speech_with_pauses(base / "speech.wav"), SR)
    rng = np.random.default_rng(0)
    for i in range(40):
        length = int(rng.uniform(1.0, 4.0) * SR)
        start = int(rng.integers(0, len(y) - length))
        sub = base / "clips" / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(str(sub / f"clip{i:02d}.wav"), y[start : start + length], SR, subtype="PCM_16")
    (base / "clips" / "a" / "broken.wav").write_bytes(b"RIFF....garbage")
    return base / "clips"


def classify(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    need_model()
    return run_cli("classify", *args, timeout=timeout)


def test_one_and_two_workers_write_the_same_output(folder):
    """1 and 2 worker processes give byte-identical JSON lines in file order; the bad file is one stderr line."""
    one = classify(str(folder), "--format", "json", "--workers", "1")
    two = classify(str(folder), "--format", "json", "--workers", "2")
    for out in (one, two):
        assert out.returncode == 1, out.stderr
        skipped = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: skipped:")]
        assert len(skipped) == 1 and "broken.wav" in skipped[0], out.stderr
        assert "classified 40 of 41 files, 1 failed" in out.stderr and "Traceback" not in out.stderr
    assert one.stdout == two.stdout
    files = [json.loads(line)["file"] for line in one.stdout.splitlines()]
    assert len(files) == 40 and files == sorted(files)


def test_csv_on_stdout_has_one_header_whatever_the_workers(folder):
    """Workers are forked after the header is written: they must not carry a copy of it (or of any other
    unwritten output) and write it again when they exit."""
    one = classify(str(folder), "--format", "csv", "--workers", "1")
    two = classify(str(folder), "--format", "csv", "--workers", "2")
    assert two.stdout == one.stdout
    assert two.stdout.count("file,label,confidence") == 1 and len(two.stdout.splitlines()) == 41


def test_out_csv_by_extension_then_resume_appends_the_rest(folder, tmp_path):
    """--out x.csv writes CSV; after a run cut short (and a half-written line), --resume adds only the missing files."""
    full = tmp_path / "full.csv"
    assert classify(str(folder), "--out", str(full), "--workers", "2").returncode == 1
    lines = full.read_text().splitlines(keepends=True)
    assert lines[0].startswith("file,label,confidence,angry") and len(lines) == 41
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:11]) + lines[11][:15])  # 10 results, then a line cut mid-write
    resumed = classify(str(folder), "--out", str(cut), "--resume", "--workers", "2")
    assert "classified 30 of 31 files, 1 failed, 10 already in" in resumed.stderr, resumed.stderr
    assert cut.read_text() == full.read_text()
    rows = list(csv.reader(cut.read_text().splitlines()))
    assert len({r[0] for r in rows[1:]}) == 40


def test_out_jsonl_and_resume_of_a_finished_run_does_nothing(folder, tmp_path):
    """--out x.jsonl writes JSON lines; a second --resume run scores no file and leaves the file as it was."""
    out = tmp_path / "results.jsonl"
    assert classify(str(folder), "--out", str(out), "--workers", "2").returncode == 1
    before = out.read_text()
    assert len([json.loads(line) for line in before.splitlines()]) == 40
    again = classify(str(folder), "--out", str(out), "--resume")
    assert "classified 0 of 1 files" in again.stderr and out.read_text() == before


def test_resume_needs_out_and_unknown_extension_is_refused(folder, tmp_path):
    """--resume without --out, and --out with an unknown extension, stop with one line and exit 2."""
    for args in (("--resume",), ("--out", str(tmp_path / "x.txt"))):
        out = classify(str(folder), *args)
        errors = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: error:")]
        assert out.returncode == 2 and len(errors) == 1, out.stderr


def test_chunks_cover_every_file_once_in_order():
    """Chunks keep the file order, cover every file once and are small enough to share among workers."""
    paths = [f"f{i}" for i in range(1000)]
    for workers in (1, 2, 8):
        parts = chunks(paths, workers)
        assert [p for part in parts for p in part] == paths
        assert len(parts) >= min(len(paths), 8 * workers) // 2 and max(map(len, parts)) <= 32


def test_progress_bar_only_on_a_terminal(tmp_path):
    """The bar is drawn on a terminal and stays silent on a pipe or file."""
    with open(tmp_path / "log", "w") as fh:
        quiet = Progress(10, fh)
        quiet.advance(10, 30.0)
        quiet.close()
    assert (tmp_path / "log").read_text() == ""

    class Tty:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

        def isatty(self):
            return True

    tty = Tty()
    bar = Progress(4, tty)
    bar.advance(4, 12.0)
    bar.close()
    assert "4/4 files" in tty.text and tty.text.endswith("\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture
def dask_cluster(tmp_path):
    """A real Dask scheduler and two single-threaded worker processes on 127.0.0.1 (`dask` CLI subprocesses)."""
    pytest.importorskip("distributed", reason="Dask is the optional extra voxstream[dask] (dask[distributed])")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bindir = f"{sys.prefix}/bin"
    procs = [
        subprocess.Popen(
            [f"{bindir}/dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        time.sleep(1.0)
        procs += [
            subprocess.Popen(
                [f"{bindir}/dask", "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(2)
        ]
        _wait_for_workers(address, 2)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_cluster_gives_the_local_output(folder, dask_cluster, tmp_path):
    """--scheduler runs the chunks on two Dask workers; the JSON lines equal the local run's, bad file named."""
    local = classify(str(folder), "--format", "json", "--workers", "1")
    remote = classify(str(folder), "--format", "json", "--scheduler", dask_cluster, timeout=180)
    assert remote.returncode == 1, remote.stderr
    assert remote.stdout == local.stdout and len(remote.stdout.splitlines()) == 40
    assert "broken.wav" in remote.stderr and "classified 40 of 41 files, 1 failed" in remote.stderr
    from distributed import Client

    from voxstream.offline.archive import scorers_built

    with Client(dask_cluster, timeout=30) as client:  # both workers took chunks and loaded the model once
        loaded = client.run(scorers_built)
    assert len(loaded) == 2 and all(n == 1 for n in loaded.values()), loaded


def test_unreachable_scheduler_is_one_line(folder):
    """A scheduler nobody listens on is one error line, exit 2."""
    pytest.importorskip("distributed", reason="Dask is the optional extra voxstream[dask] (dask[distributed])")
    out = classify(str(folder), "--scheduler", f"tcp://127.0.0.1:{_free_port()}", timeout=60)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: error:")]
    assert out.returncode == 2 and len(errors) == 1 and "scheduler" in errors[0], out.stderr


def crash_on_poison(paths, job):
    """A task that kills its worker process on a file named poison (as a native decoder crash would)."""
    import os

    from voxstream.offline.archive import score_chunk

    if any("poison" in p for p in paths):
        os._exit(3)
    return score_chunk(paths, job)


def test_a_worker_killed_by_one_file_costs_only_that_file(folder, tmp_path):
    """A worker dying on one file: that file is reported failed, every other file is still scored, in order."""
    from voxstream.config import Config
    from voxstream.offline.archive import job_for
    from voxstream.offline.workers import run_local

    need_model()
    files = sorted(str(p) for p in folder.rglob("clip*.wav"))[:12]
    poison = tmp_path / "poison.wav"
    poison.write_bytes(Path(files[0]).read_bytes())
    paths = files[:5] + [str(poison)] + files[5:]
    parts = [paths[i : i + 4] for i in range(0, len(paths), 4)]
    results = list(run_local(parts, job_for(Config()), 2, task=crash_on_poison))
    flat = [(r, e) for part in results for r, e in zip(part.results, part.errors)]
    assert len(flat) == len(paths)
    for path, (result, error) in zip(paths, flat):
        if path == str(poison):
            assert result is None and "worker process died" in error and "poison.wav" in error
        else:
            assert error is None and result.file == path
