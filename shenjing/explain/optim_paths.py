"""Optimizer trajectories on classic 2-D test functions, with the real ``sj.optim`` code.

    rosenbrock  f = (1 - x)² + 100 (y - x²)²                        minimum (1, 1)
    beale       f = (1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)²   minimum (3, 0.5)
    saddle      f = x² - y²                                  saddle point (0, 0), unbounded

A 2-D ``Parameter`` (float64) starts at ``start``; each step is ``loss.backward()`` and
``optimizer.step()`` — exactly what training does.  Optimizer names: "sgd", "momentum"
(SGD, momentum 0.9), "nesterov", "rmsprop", "adagrad", "adam".
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..tensor import Parameter


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def beale(x, y):
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y * y * y) ** 2)


def saddle(x, y):
    return x * x - y * y


# name → (function, default start, minimum or None, plot window (xmin, xmax, ymin, ymax))
FUNCTIONS = {
    "rosenbrock": (rosenbrock, (-1.5, 2.0), (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0)),
    "beale": (beale, (1.0, 1.5), (3.0, 0.5), (-0.5, 4.0, -1.0, 2.0)),
    "saddle": (saddle, (-1.0, 0.01), None, (-1.5, 1.5, -1.5, 1.5)),
}
# default learning rates, chosen so that each optimizer makes visible progress in ~200 steps
# without diverging (SGD on Rosenbrock diverges above ~2e-3 from the default start)
DEFAULT_LR = {
    "rosenbrock": {"sgd": 1e-3, "momentum": 2e-4, "nesterov": 2e-4, "rmsprop": 1e-2,
                   "adagrad": 0.5, "adam": 0.1},
    "beale": {"sgd": 1e-2, "momentum": 2e-3, "nesterov": 2e-3, "rmsprop": 1e-2,
              "adagrad": 0.5, "adam": 0.05},
    "saddle": {"sgd": 1e-2, "momentum": 1e-3, "nesterov": 1e-3, "rmsprop": 1e-2,
               "adagrad": 0.1, "adam": 0.05},
}


def make_optimizer(name, params, lr):
    """An ``sj.optim`` optimizer by the short names above."""
    makers = {"sgd": lambda: optim.SGD(params, lr=lr),
              "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9),
              "nesterov": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
              "rmsprop": lambda: optim.RMSprop(params, lr=lr),
              "adagrad": lambda: optim.Adagrad(params, lr=lr),
              "adam": lambda: optim.Adam(params, lr=lr)}
    if name not in makers:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(makers)}.")
    return makers[name]()


def optimizer_paths(function="rosenbrock", optimizers=("sgd", "momentum", "rmsprop", "adam"),
                    start=None, steps=200, lr=None, path=None) -> dict:
    """Run each optimizer ``steps`` times from ``start``; {name: array (steps + 1, 2)} of the
    points visited (row 0 is ``start``).  ``lr``: one number for all, a dict per name, or
    None for ``DEFAULT_LR``.  ``path``: also draw the paths over the contours (PNG).

    >>> paths = sj.explain.optimizer_paths("rosenbrock", ["adam"], steps=1000)
    >>> bool(np.linalg.norm(paths["adam"][-1] - [1, 1]) < 0.05)
    True
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {sorted(FUNCTIONS)}.")
    if isinstance(optimizers, str):
        optimizers = (optimizers,)
    fn, default_start, _, _ = FUNCTIONS[function]
    start = np.asarray(default_start if start is None else start, dtype=np.float64)
    if start.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got shape {start.shape}.")
    paths = {}
    for name in optimizers:
        rate = lr.get(name) if isinstance(lr, dict) else lr
        rate = DEFAULT_LR[function][name] if rate is None and name in DEFAULT_LR[function] \
            else rate
        paths[name] = _run(fn, name, start, int(steps), rate)
    if path is not None:
        plot_paths(paths, function, path)
    return paths


def _run(fn, name, start, steps, lr):
    p = Parameter(start.copy())
    opt = make_optimizer(name, [p], lr)
    points = [start.copy()]
    for _ in range(steps):
        opt.zero_grad()
        fn(p[0], p[1]).backward()
        opt.step()
        points.append(np.array(p.data, dtype=np.float64))
    return np.stack(points)


def plot_paths(paths, function="rosenbrock", path=None):
    """Contours of ``function`` (log-spaced levels) with each trajectory drawn on top; a
    matplotlib Figure (Agg), saved as PNG when ``path`` is given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fn, _, minimum, (x0, x1, y0, y1) = FUNCTIONS[function]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = fn(gx, gy)
    fig = Figure(figsize=(7, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    shift = z - z.min() + 1e-3  # log-spaced levels need positive values (the saddle is not)
    ax.contour(gx, gy, shift, levels=np.geomspace(shift.min() + 1e-3, shift.max(), 30),
               cmap="viridis", linewidths=0.6)
    for name, pts in paths.items():
        ax.plot(pts[:, 0], pts[:, 1], ".-", markersize=2, linewidth=1, label=name)
    if minimum is not None:
        ax.plot(*minimum, "r*", markersize=12, label="minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(f"{function}: {len(next(iter(paths.values()))) - 1} steps")
    ax.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig
