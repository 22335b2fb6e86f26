"""Tools that look inside a model: numerical gradient checks (more to come: trace,
gradient_flow, graph, saliency).

>>> report = sj.explain.gradcheck(lambda x: (x * x).sum(), [sj.randn(3)])
>>> report.ok
True
"""
from .gradcheck import GradcheckError, GradcheckReport, InputCheck, gradcheck, gradcheck_module

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "gradcheck", "gradcheck_module"]
