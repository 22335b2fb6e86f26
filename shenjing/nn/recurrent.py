"""Recurrent layers (Keras names and arguments, PyTorch numerics): SimpleRNN, LSTM and GRU
(the Bidirectional wrapper is in ``bidirectional.py``).  Inputs are batch-first
(batch, time, features).

Each call is one fused op (``shenjing.ops.recurrent``): the gate equations are exactly
``torch.nn.RNN`` / ``torch.nn.LSTM`` / ``torch.nn.GRU`` (GRU with the reset gate applied after
the matmul, Keras ``reset_after=True``).  The weights keep torch's layout and gate order, so
torch weights copy in one to one (``layer.load_torch_weights(torch_module)`` does it):

    shenjing      torch               shape       gate order
    weight_ih     weight_ih_l0        (G·H, D)    LSTM i,f,g,o (G=4) · GRU r,z,n (G=3) · RNN (G=1)
    weight_hh     weight_hh_l0        (G·H, H)
    bias_ih       bias_ih_l0          (G·H,)
    bias_hh       bias_hh_l0          (G·H,)

Keras' ``kernel`` (D, G·H) is ``weight_ih.T`` with the gates reordered (Keras LSTM: i,f,c,o,
the same; Keras GRU: z,r,h, i.e. r and z swapped).  Initialisers see Keras' shapes
((D, G·H) and (H, G·H)) and the result is transposed, so ``glorot_uniform``/``orthogonal``
draw as in Keras.  Keras has one bias (GRU: two); here ``bias_ih`` holds it and ``bias_hh``
starts at zero, so their sum starts as Keras' (LSTM ``unit_forget_bias``: 1 in the f block).

Masks (``mask=`` or from a preceding ``Embedding(mask_zero=True)`` in a Sequential): a
masked step leaves the state unchanged and gets no gradient; with ``return_sequences`` the
output at a masked step is the carried state (Keras' default), or zero with
``zero_output_for_mask=True`` (what ``Bidirectional`` sets, as Keras does).

Dropout (training only, Keras semantics): ``dropout`` drops input features and
``recurrent_dropout`` drops units of h before the recurrent matmul, each with one mask per
sample that is the same at every time step (shared by all gates); masks come from
``shenjing.random`` (or the layer's own generator when ``seed`` is given).

Truncated BPTT: ``out, h, c = LSTM(64, return_state=True)(x, initial_state=[h, c])``, then
feed ``[h.detach(), c.detach()]`` to the next chunk.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops, regularizers
from ..backend import array_module, to_numpy
from ..ops import recurrent as rops
from ..ops.nn import dropout_mask
from ..tensor import Tensor
from . import activations, init
from .module import Module


def _transposed(initializer):
    """Draw with Keras' kernel shape (in, G·H), store torch's (G·H, in)."""
    def draw(shape, dtype):
        return np.ascontiguousarray(np.asarray(initializer(tuple(shape[::-1]), dtype)).T)
    return draw


def _act_name(fn, who, what):
    if fn is None:
        return "linear"
    name = (fn if isinstance(fn, str) else activations.serialize(fn)).lower()
    if name not in rops.ACTIVATIONS:
        raise ValueError(f"{who} supports `{what}` in {', '.join(rops.ACTIVATIONS)} (the fused "
                         f"recurrent kernel differentiates them in closed form), got {fn!r}.")
    return name


def _rate(value, what, who):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{who} expects `{what}` in [0, 1), got {value!r}.")
    return float(value)


def _raw(a):
    return a.data if isinstance(a, Tensor) else a


class RNN(Module):
    """Base of SimpleRNN, LSTM and GRU: configuration, weights, checks and the call."""

    gates, n_states, state_names, _op = 1, 1, ("h",), None

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False,
                 zero_output_for_mask=False, seed=None, input_shape=None, name=None,
                 dtype=None, trainable=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        who = type(self).__name__
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)  # on bias_ih and bias_hh
        self.activity_regularizer = regularizers.get(activity_regularizer)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(f"{who} expects a positive int for `units`, got {units!r}.")
        self.units = int(units)
        self.activation = _act_name(activation, who, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = init.get(kernel_initializer)
        self.recurrent_initializer = init.get(recurrent_initializer)
        self.bias_initializer = init.get(bias_initializer)
        self.dropout = _rate(dropout, "dropout", who)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", who)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)
        self.weight_ih = self.weight_hh = self.bias_ih = self.bias_hh = None
        self.input_shape = None if input_shape is None else (None, *tuple(input_shape))
        if self.input_shape is not None:
            self._build(self.input_shape)

    # ------------------------------------------------------------------ weights
    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_rank(self, shape):
        if shape is None or len(shape) != 3:
            got = "no input" if shape is None else f"shape {tuple(shape)}"
            raise ValueError(f"{self._where()} expects 3-D input (batch, time, features), got "
                             f"{got}.")

    def build(self, input_shape):
        self._check_rank(input_shape)
        d, gh = input_shape[-1], self.gates * self.units
        if not isinstance(d, numbers.Integral) or d <= 0:
            raise ValueError(f"{self._where()} cannot be built from input shape {input_shape}:"
                             " the last axis (features) must be known.")
        self.weight_ih = self.add_weight((gh, d), _transposed(self.kernel_initializer),
                                         name="weight_ih", regularizer=self.kernel_regularizer)
        self.weight_hh = self.add_weight((gh, self.units),
                                         _transposed(self.recurrent_initializer),
                                         name="weight_hh",
                                         regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.bias_ih = self.add_weight((gh,), self._bias_init(0), name="bias_ih",
                                           regularizer=self.bias_regularizer)
            self.bias_hh = self.add_weight((gh,), self._bias_init(1), name="bias_hh",
                                           regularizer=self.bias_regularizer)

    def _bias_init(self, which):
        """bias_ih takes Keras' bias, bias_hh starts at zero (their sum is what counts)."""
        return self.bias_initializer if which == 0 else "zeros"

    def load_torch_weights(self, source, layer=0, reverse=False):
        """Copy weights from a ``torch.nn.RNN/LSTM/GRU`` (or its ``state_dict()``): layer
        ``layer`` of the stack, its reverse direction when ``reverse``.  Builds if needed."""
        sd = source.state_dict() if hasattr(source, "state_dict") else source
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.use_bias else [])
        missing = [n + suffix for n in names if n + suffix not in sd]
        if missing:
            raise KeyError(f"{self._where()}: the torch state has no {', '.join(missing)}; "
                           f"keys: {', '.join(sd)}.")
        values = {n: np.asarray(to_numpy(_torch_array(sd[n + suffix]))) for n in names}
        if not self.built:
            self._build((None, None, values["weight_ih"].shape[1]))
        for n, v in values.items():
            p = getattr(self, n)
            if p.shape != v.shape:
                raise ValueError(f"{self._where()}: {n}{suffix} has shape {v.shape}, the layer "
                                 f"needs {p.shape}.")
            p.data[...] = array_module(p.data).asarray(v, dtype=p.dtype)
        return self

    # ------------------------------------------------------------------ call
    def forward(self, x, mask=None, initial_state=None, training=None):
        x = self._check_input(x)
        B, T, _ = x.shape
        states = self._initial_states(initial_state, B)
        m = None if mask is None else self._check_mask(mask, x)
        training = self.training if training is None else bool(training)
        rec = None
        if training and self.dropout > 0:
            x = x * Tensor._wrap(self._drop_mask((B, 1, x.shape[2]), self.dropout, x))
        if training and self.recurrent_dropout > 0:
            rec = self._drop_mask((B, self.units), self.recurrent_dropout, x)
        biases = (self.bias_ih, self.bias_hh) if self.use_bias else (None, None)
        outs = self._op(x, *states, self.weight_ih, self.weight_hh, *biases, **self._acts(),
                        mask=m, go_backwards=self.go_backwards, recurrent_dropout_mask=rec,
                        zero_output_for_mask=self.zero_output_for_mask)
        out = outs[0] if self.return_sequences else outs[1]
        return (out, *outs[1:]) if self.return_state else out

    def _acts(self):
        return {"activation": self.activation}

    def _drop_mask(self, shape, rate, x):
        return dropout_mask(shape, rate, x.dtype, array_module(x.data), self._generator)

    def _check_input(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        self._check_rank(x.shape)
        d = self.weight_ih.shape[1]
        if x.shape[2] != d:
            raise ValueError(f"{self._where()} expects inputs with {d} features (last axis), "
                             f"got shape {tuple(x.shape)}.")
        if x.shape[1] == 0:
            raise ValueError(f"{self._where()} needs at least one time step, got shape "
                             f"{tuple(x.shape)}.")
        return x if x.dtype == self.weight_ih.dtype else ops.cast(x, self.weight_ih.dtype)

    def _check_mask(self, mask, x):
        m = _raw(mask)
        m = m if hasattr(m, "shape") else np.asarray(m)
        if tuple(m.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{self._where()} got a mask of shape {tuple(m.shape)} for inputs "
                             f"of shape {tuple(x.shape)}: the mask must have shape (batch, "
                             f"time) = {tuple(x.shape[:2])}.")
        return array_module(x.data).asarray(m).astype(bool)

    def _initial_states(self, initial_state, B):
        if initial_state is None:
            return [None] * self.n_states
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        want = (B, self.units)
        names = "[" + ", ".join(self.state_names) + "]"
        if len(states) != self.n_states:
            raise ValueError(f"{self._where()} expects initial_state as {names}: "
                             f"{self.n_states} tensor(s) of shape {want}, got {len(states)}.")
        out = []
        for n, s in zip(self.state_names, states):
            s = s if isinstance(s, Tensor) else Tensor(s)
            if tuple(s.shape) != want:
                raise ValueError(f"{self._where()}: initial state {n} must have shape (batch, "
                                 f"units) = {want}, got {tuple(s.shape)}.")
            out.append(s if s.dtype == self.weight_ih.dtype else ops.cast(s, self.weight_ih.dtype))
        return out

    def compute_mask(self, inputs, mask=None):
        """The output mask: the input mask when returning sequences, else None."""
        return mask if self.return_sequences else None

    # ------------------------------------------------------------------ description
    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": self.activation,
                  "use_bias": self.use_bias,
                  "kernel_initializer": init.serialize(self.kernel_initializer),
                  "recurrent_initializer": init.serialize(self.recurrent_initializer),
                  "bias_initializer": init.serialize(self.bias_initializer),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards,
                  "zero_output_for_mask": self.zero_output_for_mask, "seed": self.seed,
                  **regularizers.config_entries(self)}
        if self.input_shape is not None:
            config["input_shape"] = tuple(self.input_shape[1:])
        return config

    def extra_repr(self):
        flags = [f for f in ("return_sequences", "return_state", "go_backwards")
                 if getattr(self, f)]
        return ", ".join([f"units={self.units}"] + [f"{f}=True" for f in flags])


def _torch_array(v):
    return v.detach().cpu().numpy() if hasattr(v, "detach") else v


class SimpleRNN(RNN):
    """Fully connected RNN (torch.nn.RNN): h_t = activation(W_ih x_t + b_ih + W_hh h_{t-1} +
    b_hh).  ``activation`` is "tanh" (default) or "relu" (also sigmoid, hard_sigmoid, linear).

    >>> sj.nn.SimpleRNN(8)(sj.randn(4, 10, 3)).shape
    (4, 8)
    """

    _op = staticmethod(rops.simple_rnn)


class LSTM(RNN):
    """Long short-term memory (torch.nn.LSTM gates i, f, g, o):

        i, f, o = σ(W_i· x + b_i· + W_h· h + b_h·),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

    ``return_state=True`` returns ``(output, h_T, c_T)``; ``initial_state=[h0, c0]``.

    >>> out, h, c = sj.nn.LSTM(8, return_sequences=True, return_state=True)(sj.randn(4, 10, 3))
    >>> out.shape, h.shape
    ((4, 10, 8), (4, 8))
    """

    gates, n_states, state_names = 4, 2, ("h", "c")
    _op = staticmethod(rops.lstm)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        self.recurrent_activation = _act_name(recurrent_activation, "LSTM",
                                              "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation=activation, **kwargs)

    def _bias_init(self, which):
        if which == 1 or not self.unit_forget_bias:
            return super()._bias_init(which)
        base, H = self.bias_initializer, self.units

        def keras_bias(shape, dtype):  # Keras: [init(H), ones(H), init(2H)]
            b = np.asarray(base((4 * H,), dtype)).copy()
            b[H:2 * H] = 1
            return b
        return keras_bias

    def _acts(self):
        return {"activation": self.activation,
                "recurrent_activation": self.recurrent_activation}

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "unit_forget_bias": self.unit_forget_bias}


class GRU(RNN):
    """Gated recurrent unit (torch.nn.GRU gates r, z, n; Keras ``reset_after=True``):

        r, z = σ(W_i· x + b_i· + W_h· h + b_h·)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),   h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    >>> sj.nn.GRU(8, return_sequences=True)(sj.randn(4, 10, 3)).shape
    (4, 10, 8)
    """

    gates = 3
    _op = staticmethod(rops.gru)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        if reset_after is not True:
            raise ValueError("GRU implements reset_after=True only (torch.nn.GRU's and Keras' "
                             f"default: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))), got "
                             f"reset_after={reset_after!r}.")
        self.recurrent_activation = _act_name(recurrent_activation, "GRU",
                                              "recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)

    def _bias_init(self, which):  # Keras' reset_after GRU has two biases, both initialised
        return self.bias_initializer

    def _acts(self):
        return {"activation": self.activation,
                "recurrent_activation": self.recurrent_activation}

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "reset_after": True}

