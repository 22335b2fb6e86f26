"""The examples in the metrics docstrings run and print what they say."""
import doctest

import numpy as np
import pytest

import shenjing as sj
from shenjing.metrics import accuracy, auc, base, classification, regression, report

MODULES = [sj.metrics, accuracy, auc, base, classification, regression, report]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module, globs={"sj": sj, "np": np}):
        runner.run(test)
    assert runner.failures == 0
