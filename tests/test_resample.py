"""Resampling a 48 kHz device stream to the 16 kHz model rate with soxr's streaming resampler."""

import numpy as np
import soxr

from voxstream.audio.files import Resampler, to_mono


def test_48k_stereo_blocks_resample_to_16k_mono():
    """A 1 kHz tone captured at 48 kHz stereo in 2400-frame blocks comes out as a clean 16 kHz tone."""
    rate_in, rate_out, seconds = 48000, 16000, 2.0
    t = np.arange(int(rate_in * seconds)) / rate_in
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo = np.stack([tone, tone], axis=1).astype(np.float32)
    rs = Resampler(rate_in, rate_out)
    out = [rs(to_mono(stereo[i : i + 2400])) for i in range(0, len(stereo), 2400)]
    out.append(rs(np.zeros(0, np.float32), last=True))
    y = np.concatenate(out)
    assert len(y) == int(rate_out * seconds)
    ref = soxr.resample(tone.astype(np.float32), rate_in, rate_out, quality="HQ")
    assert np.max(np.abs(y - ref)) < 1e-4
    mid = y[2000:-2000]
    spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freq = np.fft.rfftfreq(len(mid), 1 / rate_out)[np.argmax(spec)]
    assert abs(freq - 1000) < 2 and abs(np.sqrt(np.mean(mid**2)) - 0.5 / np.sqrt(2)) < 0.01


def test_equal_rates_pass_through():
    """No resampler when the device already runs at the model rate."""
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(Resampler(16000, 16000)(x), x)
