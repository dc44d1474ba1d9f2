"""Batch workers keep freed memory for the next file (glibc): the second file's arrays fault no new pages."""

import platform
import subprocess
import sys

import pytest

PROBE = r"""
import resource, sys
import numpy as np
from voxstream.offline.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults_of_one_file():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    # one RAVDESS file's temporaries alive together: windowed frames, spectra, power, autocorrelation, ...
    arrays = [np.ones((400, 257), dtype=np.complex128) for _ in range(6)]  # 6 x 1.6 MB
    del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_one_file()
print(min(faults_of_one_file() for _ in range(5)))
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_kept_memory_is_reused_without_page_faults():
    default, kept = faults("default"), faults("keep")
    assert default > 1000  # glibc gives the 10 MB back on free, and the next file faults it in again
    assert kept < 50


def test_one_peak_memory_reader_for_this_process_and_a_child():
    """peak_rss_mb: this process's VmHWM (what classify's workers report), a live child's by pid (what
    `voxstream bench` polls), and None once that child has exited."""
    import os

    from voxstream.offline.heap import peak_rss_mb

    own = peak_rss_mb()
    assert own > 10 and abs(peak_rss_mb(os.getpid()) - own) < 50
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert 0 < peak_rss_mb(child.pid) < own + 100
    finally:
        child.communicate(b"")
    assert peak_rss_mb(child.pid) is None
