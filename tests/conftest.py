"""Shared fixtures and plugins for the test suite."""

from mqtt_broker import mqtt_broker  # noqa: F401  (a real mosquitto on a free port)

pytest_plugins = ["pytester", "ci_skips"]
