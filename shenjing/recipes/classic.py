"""Dense networks on the small scikit-learn data sets (iris, 8×8 digits)."""
from __future__ import annotations

import shenjing as sj
from shenjing.nn import Dense, Dropout

from .registry import register


@register("iris-mlp", "Iris (seed 002): Dense 64 relu → 32 relu → 3 softmax, Adam, sparse CE",
          epochs=50, batch_size=16, lr=1e-2)
def iris_mlp(lr):
    model = sj.Sequential([
        Dense(units=64, input_dim=4, activation="relu"),
        Dense(units=32, activation="relu"),
        Dense(units=3, activation="softmax"),
    ])
    model.compile(optimizer=sj.optim.Adam(lr=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, sj.data.load_iris()


@register("digits-mlp", "8x8 digits: Dense 256 relu → Dropout 0.2 → 128 relu → 10 logits, Adam",
          epochs=20, batch_size=32, lr=1e-3)
def digits_mlp(lr):
    model = sj.Sequential([
        Dense(256, input_dim=64, activation="relu"),
        Dropout(0.2),
        Dense(128, activation="relu"),
        Dense(10),
    ])
    model.compile(optimizer=sj.optim.Adam(lr=lr),
                  loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, sj.data.load_digits()
