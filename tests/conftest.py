"""Shared test setup: make ``tests/helpers.py`` importable as ``helpers``; fixtures."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402


@pytest.fixture
def one_blas_thread():
    """Training tests run with one BLAS thread (2 pytest workers share 2 cores), restored
    afterwards.  Use with ``pytestmark = pytest.mark.usefixtures("one_blas_thread")``."""
    import shenjing as sj

    before = sj.get_num_threads()
    sj.set_num_threads(1)
    yield
    sj.set_num_threads(before)
