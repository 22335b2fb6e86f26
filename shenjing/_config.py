"""``Configurable``: the Keras config protocol shared by losses, LR schedules and
regularizers: ``type(obj).from_config(obj.get_config())`` rebuilds ``obj``, and the repr
shows the constructor arguments.  A subclass writes ``get_config`` only."""
from __future__ import annotations


class Configurable:
    """Mix-in: ``from_config`` and ``__repr__`` from the subclass's ``get_config``."""

    __slots__ = ()

    def get_config(self) -> dict:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
