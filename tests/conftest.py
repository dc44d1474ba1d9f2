"""Shared fixtures and plugins for the test suite."""

from mqtt_broker import mqtt_broker  # noqa: F401  (a real mosquitto on a free port)

pytest_plugins = ["pytester", "ci_skips"]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _own_state_home(tmp_path, monkeypatch):
    """No test reads a speaker baseline a user made with `voxstream calibrate` on this machine."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
