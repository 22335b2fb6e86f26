"""What a model looks at: input-gradient saliency, gradient × input, feature maps, filters.

    saliency          S = |∂ score_target / ∂x|, for images (N, C, H, W) the max over C → (N, H, W)
    gradient_x_input  G = x · ∂ score_target / ∂x  (same shape as x)

``score_target`` is the model's output (logit) for class ``target`` of each sample.  The
model runs in evaluation mode (dropout off, batch-norm running statistics), so each
sample's map depends on that sample only; its modes and gradients are restored after.
"""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..backend import to_numpy
from ..tensor import Tensor
from ._common import first_tensor


class _EvalMode:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.grads = [(p, p.grad) for p in self.model.parameters()]
        self.model.eval()

    def __exit__(self, *exc):
        for m, mode in self.modes:
            m.training = mode
        for p, g in self.grads:
            p.grad = g
        return False


def input_gradient(model, x, target):
    """(x as float array, ∂ score_target/∂x) for a batch ``x`` and class index(es) ``target``."""
    arr = np.asarray(to_numpy(x.data) if isinstance(x, Tensor) else x)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    xt = Tensor(arr.copy(), requires_grad=True)
    with _EvalMode(model):
        out = first_tensor(model(xt))
        if out.ndim != 2:
            raise ValueError(f"saliency needs a model returning (batch, classes) scores, got "
                             f"output shape {tuple(out.shape)}.")
        targets = np.broadcast_to(np.asarray(target, dtype=np.int64), (out.shape[0],))
        if targets.min() < 0 or targets.max() >= out.shape[1]:
            raise ValueError(f"target {target!r} is out of range for {out.shape[1]} classes.")
        onehot = np.zeros(out.shape, dtype=to_numpy(out.data).dtype)
        onehot[np.arange(out.shape[0]), targets] = 1
        (out * Tensor(onehot)).sum().backward()
    return arr, to_numpy(xt.grad.data)


def saliency(model, x, target) -> np.ndarray:
    """|∂ score_target / ∂x| (Simonyan et al. 2014); images (N, C, H, W) → (N, H, W) by the
    max over channels, other inputs keep x's shape.  ``target``: one class or one per sample.

    >>> model = sj.nn.Sequential([sj.nn.Flatten(), sj.nn.Dense(10)])
    >>> sj.explain.saliency(model, np.ones((2, 1, 8, 8), "float32"), target=3).shape
    (2, 8, 8)
    """
    _, g = input_gradient(model, x, target)
    g = np.abs(g)
    return g.max(axis=1) if g.ndim == 4 else g


def gradient_x_input(model, x, target) -> np.ndarray:
    """x · ∂ score_target / ∂x, elementwise (same shape as x).

    >>> model = sj.nn.Sequential([sj.nn.Dense(3)])
    >>> sj.explain.gradient_x_input(model, np.ones((2, 4), "float32"), target=0).shape
    (2, 4)
    """
    arr, g = input_gradient(model, x, target)
    return arr * g


def _find_layer(model, layer):
    if not isinstance(layer, str):
        if any(m is layer for m in model.modules()):
            return layer
        raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not part of the model.")
    named = list(model.named_modules())
    for path, m in named:
        if layer in (path, getattr(m, "name", None)):
            return m
    raise ValueError(f"no layer named {layer!r}; layers: "
                     f"{[getattr(m, 'name', p) for p, m in named if p]}")


def feature_maps(model, x, layer) -> np.ndarray:
    """The output of ``layer`` (a layer object, its ``name`` or its dotted path) for the batch
    ``x``, caught by a forward hook (evaluation mode, no gradients).

    >>> model = sj.nn.Sequential([sj.nn.Conv2D(4, 3, name="c1"), sj.nn.Flatten()])
    >>> sj.explain.feature_maps(model, np.ones((1, 1, 6, 6), "float32"), "c1").shape
    (1, 4, 4, 4)
    """
    target = _find_layer(model, layer)
    caught = []
    handle = target.register_forward_hook(lambda m, i, out: caught.append(first_tensor(out)))
    try:
        with _EvalMode(model), no_grad():
            model(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
    finally:
        handle.remove()
    if not caught:
        raise RuntimeError(f"layer {getattr(target, 'name', '?')!r} was not called by the "
                           "model's forward.")
    return to_numpy(caught[0].data).copy()


def filters(layer) -> np.ndarray:
    """A convolution layer's kernels as images: (filters·in_channels, kh, kw) for 2-D kernels
    (filters, C, kh, kw); ready for ``save_grid``."""
    kernel = getattr(layer, "kernel", None) if not isinstance(layer, Tensor) else layer
    if kernel is None:
        kernel = getattr(layer, "weight", None)
    if kernel is None or kernel.ndim != 4:
        raise ValueError(f"filters expects a built 2-D convolution layer (kernel of 4 axes), "
                         f"got {type(layer).__name__}.")
    k = to_numpy(kernel.data)
    return k.reshape(-1, *k.shape[2:]).copy()


def save_grid(images, path=None, ncols=8, cmap="gray", titles=None):
    """Draw 2-D arrays in a grid (each scaled to its own range); a matplotlib Figure (Agg,
    no pyplot state), saved as PNG when ``path`` is given.

    >>> fig = sj.explain.save_grid(np.random.rand(5, 8, 8), "grid.png", ncols=4)  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    images = [np.asarray(im) for im in images]
    if not images or any(im.ndim != 2 for im in images):
        raise ValueError("save_grid expects a non-empty sequence of 2-D arrays, got shapes "
                         f"{[im.shape for im in images]}.")
    ncols = max(1, min(int(ncols), len(images)))
    nrows = -(-len(images) // ncols)
    fig = Figure(figsize=(1.5 * ncols, 1.5 * nrows))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig
