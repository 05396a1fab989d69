"""Fixtures shared by the reliability modules."""
from __future__ import annotations

import pytest

from tests.reliability.recovery import driver, finish, make_root, snapshot


@pytest.fixture(scope="package")
def reference(tmp_path_factory):
    """Two runs at once on the same fresh roots: both succeed, and their result is the reference
    (computed once for every module that compares a recovered run with it)."""
    root = make_root(tmp_path_factory.mktemp("concurrent"))
    procs = [driver(root), driver(root)]
    results = [finish(p) for p in procs]
    for code, log in results:
        assert code == 0, log
    return root, snapshot(root)
