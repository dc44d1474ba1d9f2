"""The CI guard in tests/ci_skips.py: with CI=true a skipped test fails the run; elsewhere skips pass and are listed."""

from __future__ import annotations

import pytest

DEMO = """
import pytest

def test_passes():
    pass

def test_needs_a_broker():
    pytest.skip("mosquitto not installed")

@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert False
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    return pytester.runpytest("-p", "ci_skips", "-p", "no:cacheprovider")


def test_outside_ci_skips_pass_and_are_listed(pytester, monkeypatch):
    """Without CI (or CI=false) a skip leaves exit code 0 and its reason is listed in the summary."""
    pytester.makepyfile(test_demo=DEMO)
    for ci in (None, "false"):
        result = _run(pytester, monkeypatch, ci)
        assert result.ret == pytest.ExitCode.OK
        result.assert_outcomes(passed=1, skipped=1, xfailed=1)
        result.stdout.fnmatch_lines(["SKIPPED *test_demo.py*mosquitto not installed"])


def test_on_ci_a_skip_fails_the_run(pytester, monkeypatch):
    """With CI=true the same run exits 1 and says why; the test outcomes themselves are unchanged."""
    pytester.makepyfile(test_demo=DEMO)
    result = _run(pytester, monkeypatch, "true")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*CI is set: 1 skipped test(s) fail the run*"])


def test_on_ci_a_module_level_skip_fails_and_xfail_does_not(pytester, monkeypatch):
    """A whole module skipped at collection also fails a CI run; a run with only passes and xfails stays green."""
    pytester.makepyfile(
        test_gone='import pytest\npytest.skip("no Chromium", allow_module_level=True)\n',
        test_other="def test_passes():\n    pass\n",
    )
    assert _run(pytester, monkeypatch, "true").ret == pytest.ExitCode.TESTS_FAILED
    (pytester.path / "test_gone.py").unlink()
    pytester.makepyfile(test_fine=DEMO.replace('pytest.skip("mosquitto not installed")', "pass"))
    result = _run(pytester, monkeypatch, "true")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=3, xfailed=1)  # test_other, and test_fine with its skip turned into a pass
