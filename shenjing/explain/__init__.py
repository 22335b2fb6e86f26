"""Tools that look inside a model: gradient checks, backprop traces, gradient flow,
autograd graphs, architecture drawings, saliency maps and optimizer trajectories.

>>> report = sj.explain.gradcheck(lambda x: (x * x).sum(), [sj.randn(3)])
>>> report.ok
True
>>> t = sj.explain.trace(model, x, y, "mse", optimizer)   # z, a, δ, ∂L/∂W, updates per layer
>>> sj.explain.gradient_flow(model, x, y, "mse").summary()
"""
from .gradcheck import GradcheckError, GradcheckReport, InputCheck, gradcheck, gradcheck_module
from .flow import FlowReport, FlowRow, gradient_flow
from .graph import GraphDrawing, graph, plot_model
from .optim_paths import optimizer_paths, plot_paths
from .saliency import feature_maps, filters, gradient_x_input, saliency, save_grid
from .trace import BackpropTrace, LayerTrace, trace

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "gradcheck", "gradcheck_module",
           "BackpropTrace", "LayerTrace", "trace", "FlowReport", "FlowRow", "gradient_flow",
           "GraphDrawing", "graph", "plot_model", "saliency", "gradient_x_input",
           "feature_maps", "filters", "save_grid", "optimizer_paths", "plot_paths"]
