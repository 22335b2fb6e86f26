"""Embedding: a trainable lookup table from integer token ids to dense vectors (Keras)."""
from __future__ import annotations

import numbers

from .. import regularizers
from ..ops.embedding import EmbeddingLookup, check_ids, integer_ids
from ..tensor import Tensor
from . import init
from .module import Module


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Embedding expects a positive int for `{what}`, got {value!r}.")
    return int(value)


class Embedding(Module):
    """Maps each id in [0, input_dim) to a row of ``embeddings`` (input_dim, output_dim):
    ids of shape (batch, time) give (batch, time, output_dim).

    ``embeddings_initializer="uniform"`` is Keras' U(-0.05, 0.05).  With ``mask_zero`` id 0
    is padding: ``compute_mask(ids)`` gives the bool mask ids != 0 (batch, time), which a
    Sequential hands to the recurrent layer that follows (so input_dim should be the
    vocabulary size + 1).  The backward scatter-adds into the rows used.  torch:
    ``embeddings`` is ``torch.nn.Embedding.weight``.

    >>> emb = sj.nn.Embedding(1000, 64, mask_zero=True)
    >>> emb(sj.tensor([[5, 7, 0]])).shape
    (1, 3, 64)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 mask_zero=False, input_length=None, name=None, dtype=None, trainable=True,
                 embeddings_regularizer=None, activity_regularizer=None):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        self.mask_zero = bool(mask_zero)
        self.input_length = None if input_length is None else _positive_int(input_length,
                                                                            "input_length")
        if isinstance(embeddings_initializer, str) and embeddings_initializer == "uniform":
            embeddings_initializer = init.RandomUniform(-0.05, 0.05)  # Keras' "uniform"
        self.embeddings_initializer = init.get(embeddings_initializer)
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer, name="embeddings",
                                          regularizer=self.embeddings_regularizer)

    def _ids(self, x):
        who = f"Embedding '{self.name}'"
        ids = integer_ids(x, who)
        if self.input_length is not None and (ids.ndim < 2 or ids.shape[1] != self.input_length):
            raise ValueError(f"{who} was given input_length={self.input_length} but got ids "
                             f"of shape {tuple(ids.shape)}.")
        check_ids(ids, self.input_dim, who)
        return ids

    def forward(self, x):
        return EmbeddingLookup.apply(self.embeddings, ids=self._ids(x))

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` as a bool Tensor when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return Tensor._wrap(integer_ids(inputs, f"Embedding '{self.name}'") != 0)

    def get_config(self):
        config = {**super().get_config(), "input_dim": self.input_dim,
                  "output_dim": self.output_dim,
                  "embeddings_initializer": init.serialize(self.embeddings_initializer),
                  "mask_zero": self.mask_zero, **regularizers.config_entries(self)}
        if self.input_length is not None:
            config["input_length"] = self.input_length
        return config

    def extra_repr(self):
        return (f"{self.input_dim}, {self.output_dim}"
                + (", mask_zero=True" if self.mask_zero else ""))
