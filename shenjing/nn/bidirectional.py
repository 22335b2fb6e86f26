"""Bidirectional: a recurrent layer run forwards and backwards, outputs merged (Keras)."""
from __future__ import annotations

from .. import ops
from .module import Module
from .recurrent import GRU, LSTM, RNN, SimpleRNN

_LAYERS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
_MERGE_MODES = ("concat", "sum", "ave", "mul", None)


class Bidirectional(Module):
    """Run a recurrent layer forwards and a copy of it backwards, and merge the outputs.

    The wrapped layer is re-created from its config twice (fresh weights, as in Keras):
    ``forward_layer`` and ``backward_layer`` (``go_backwards`` flipped); the backward
    outputs are re-reversed to line up in time.  ``merge_mode``: "concat" (features
    2·units, torch's ``bidirectional=True`` layout), "sum", "ave", "mul", or None (a tuple).
    With ``return_state`` the states follow: forward h[, c], then backward h[, c].  Masked
    steps output zero when returning sequences (Keras).  torch weights:
    ``load_torch_weights(torch_lstm)`` copies ``*_l0`` and ``*_l0_reverse``.

    >>> sj.nn.Bidirectional(sj.nn.GRU(8, return_sequences=True))(sj.randn(4, 10, 3)).shape
    (4, 10, 16)
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(layer, RNN):
            raise TypeError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got "
                            f"{type(layer).__name__}.")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode must be one of {_MERGE_MODES}, got "
                             f"{merge_mode!r}.")
        self.merge_mode = merge_mode
        config = layer.get_config()
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + layer.name})
        if backward_layer is None:
            backward_layer = type(layer).from_config(
                {**config, "name": "backward_" + layer.name,
                 "go_backwards": not layer.go_backwards})
        elif (not isinstance(backward_layer, RNN)
              or backward_layer.go_backwards == layer.go_backwards
              or backward_layer.return_sequences != layer.return_sequences
              or backward_layer.return_state != layer.return_state):
            raise ValueError("Bidirectional: backward_layer must be a recurrent layer with "
                             "the opposite go_backwards and the same return_sequences and "
                             "return_state as layer.")
        self.backward_layer = backward_layer
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences

    def forward(self, x, mask=None, initial_state=None, training=None):
        fwd_state = bwd_state = None
        if initial_state is not None:
            states = list(initial_state)
            n = self.forward_layer.n_states + self.backward_layer.n_states
            if len(states) != n:
                raise ValueError(f"Bidirectional '{self.name}' expects initial_state as a "
                                 f"list of {n} tensors (forward states, then backward), got "
                                 f"{len(states)}.")
            fwd_state = states[:self.forward_layer.n_states]
            bwd_state = states[self.forward_layer.n_states:]
        y = self.forward_layer(x, mask=mask, initial_state=fwd_state, training=training)
        y_rev = self.backward_layer(x, mask=mask, initial_state=bwd_state, training=training)
        states = ()
        if self.return_state:
            states, y, y_rev = (*y[1:], *y_rev[1:]), y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        out = self._merge(y, y_rev)
        if not self.return_state:
            return out
        return (*out, *states) if self.merge_mode is None else (out, *states)

    def _merge(self, y, y_rev):
        mode = self.merge_mode
        if mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if mode == "sum":
            return y + y_rev
        if mode == "ave":
            return (y + y_rev) * 0.5
        if mode == "mul":
            return y * y_rev
        return y, y_rev

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def load_torch_weights(self, source, layer=0):
        """Copy a bidirectional torch RNN/LSTM/GRU: ``*_l{layer}`` forward, ``*_reverse``
        backward."""
        self.forward_layer.load_torch_weights(source, layer)
        self.backward_layer.load_torch_weights(source, layer, reverse=True)
        return self

    def get_config(self):
        fwd = self.forward_layer.get_config()
        fwd["name"] = fwd["name"].removeprefix("forward_")
        fwd.pop("zero_output_for_mask", None)
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": {"class_name": type(self.forward_layer).__name__, "config": fwd}}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        spec = config.pop("layer")
        if isinstance(spec, dict):
            spec = _LAYERS[spec["class_name"]].from_config(spec["config"])
        return cls(spec, **config)

    def extra_repr(self):
        return f"merge_mode={self.merge_mode!r}"
