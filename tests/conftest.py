"""Markers that skip with a reason when what they need is missing here."""

from __future__ import annotations

import contextlib
import importlib.util

import pytest


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
                item.add_marker(pytest.mark.skip(reason=reason))


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
