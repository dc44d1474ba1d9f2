"""The one retry-delay rule (MQTT reconnect, microphone reopen), checked without a clock."""

from __future__ import annotations

from voxstream.backoff import Backoff, backoff_delay


def test_delay_doubles_to_the_cap_and_jitter_stays_within_half():
    """Doubling from min to the cap; jitter scales each delay to 50-100 %."""
    assert [backoff_delay(a, 1, 60) for a in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [backoff_delay(a, 1, 60, lambda: 1.0) for a in range(3)] == [1, 2, 4]
    assert [backoff_delay(a, 1, 60, lambda: 0.0) for a in range(3)] == [0.5, 1, 2]
    assert backoff_delay(10_000, 0.5, 8) == 8


def test_backoff_sequence_resets_after_success():
    """Successive next() calls grow, reset() starts again from min; jitter uses the given random source."""
    plain = Backoff(0.5, 4.0)
    assert [plain.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    plain.reset()
    assert plain.next() == 0.5
    draws = iter([0.0, 1.0, 0.5])
    jittered = Backoff(1.0, 10.0, jitter=True, rand=lambda: next(draws))
    assert [jittered.next() for _ in range(3)] == [0.5, 2.0, 3.0]
