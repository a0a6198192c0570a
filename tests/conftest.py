"""Markers that skip with a reason when what they need is missing here.

In CI (environment variable ``CI`` set to ``true``/``1``/``yes``) a test that would skip because
``icecube`` or ``jammy_flows`` cannot be imported FAILS instead: CI installs both, so such a skip
means the tray or the jammy_flows cross-checks silently stopped running. CUDA skips stay skips.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os

import pytest

#: markers whose missing requirement is a failure in CI (CI installs what they need)
REQUIRED_IN_CI = ("icetray", "jammy")
#: phrases of a skip reason that mean icecube or jammy_flows could not be imported (a reason
#: that only names a file, e.g. graphnet's icecube86.parquet, is not one of them)
_CI_SKIP_WORDS = (
    "icecube is not importable",
    "import icecube",
    "could not import 'icecube",
    "needs the IceCube software",
    "jammy_flows",
)


def in_ci() -> bool:
    """Whether this run is CI (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _has_icetray() -> bool:
    try:
        import icecube.icetray  # noqa: F401
    except Exception:
        return False
    return True


def _has_cuda() -> bool:
    try:
        import torch
    except Exception:
        return False
    return torch.cuda.is_available()


_REQUIREMENTS = {
    "icetray": (_has_icetray, "needs the IceCube software: `import icecube.icetray` failed here"),
    "cuda": (_has_cuda, "needs a CUDA GPU: torch.cuda.is_available() is False here"),
    "jammy": (
        lambda: importlib.util.find_spec("jammy_flows") is not None,
        "needs jammy_flows (not on PyPI; pip install from its repository)",
    ),
}


def pytest_collection_modifyitems(config, items):
    cache: dict[str, bool] = {}
    for item in items:
        for name, (check, reason) in _REQUIREMENTS.items():
            if item.get_closest_marker(name) is None:
                continue
            if name not in cache:
                cache[name] = check()
            if not cache[name]:
                if name in REQUIRED_IN_CI and in_ci():
                    item.add_marker(pytest.mark.ci_requirement_missing(reason=reason))
                else:
                    item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item):
    missing = item.get_closest_marker("ci_requirement_missing")
    if missing is not None:
        pytest.fail(f"CI=true but this test {missing.kwargs['reason']}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, a skip raised inside a test because icecube or jammy_flows is missing fails it."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci()) or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    if any(word in reason for word in _CI_SKIP_WORDS) and "CUDA" not in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true but skipped for want of icecube/jammy_flows: {reason}"


@contextlib.contextmanager
def one_torch_thread():
    """One intra-op torch thread inside the block, then the previous setting again.

    Tests dominated by many small tensor ops stall at OpenMP barriers when two threads share an
    oversubscribed machine (several times slower); results do not depend on the thread count.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def single_thread():
    """Run a test under :func:`one_torch_thread` (modules opt in with ``usefixtures``)."""
    with one_torch_thread():
        yield
