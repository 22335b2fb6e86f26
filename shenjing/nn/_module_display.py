"""How a Module shows itself (a mixin of ``Module``, kept apart for size): the nested
``repr``, ``summary()`` (a Keras-style table) and ``plot()`` (an architecture drawing).

A layer describes its own configuration in ``extra_repr()``; containers choose the
children they list with ``_repr_children()``.
"""
from __future__ import annotations


class ModuleDisplay:
    """``Module``'s ``__repr__``, ``summary`` and ``plot`` (uses ``named_children()``)."""

    def extra_repr(self) -> str:
        return ""

    def _repr_children(self):
        return self.named_children()

    def __repr__(self):
        head, extra = type(self).__name__, self.extra_repr()
        children = [f"  ({n}): " + repr(m).replace("\n", "\n  ")
                    for n, m in self._repr_children()]
        if not children:
            return f"{head}({extra})"
        lines = [f"  {extra}"] if extra else []
        return head + "(\n" + "\n".join(lines + children) + "\n)"

    def summary(self, input_shape=None, print_fn=print):
        """Print a table of layers, output shapes and parameter counts (``nn.summary``)."""
        from .summary import summary  # noqa: PLC0415  (summary imports module.py)

        return summary(self, input_shape=input_shape, print_fn=print_fn)

    def plot(self, path=None, input_shape=None):
        """Draw the layer architecture (``sj.explain.plot_model``): DOT, or SVG/PNG by suffix."""
        from ..explain import plot_model  # noqa: PLC0415  (explain sits above nn)

        return plot_model(self, path=path, input_shape=input_shape)
