"""Training: ``Model`` (compile / fit / evaluate / predict), ``Sequential``, callbacks, History.

    model = sj.Sequential([sj.nn.Dense(64, activation="relu"), sj.nn.Dense(3)])
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_split=0.2,
                        callbacks=[sj.train.EarlyStopping(patience=2)])
"""
from .callbacks import Callback, CallbackList, EarlyStopping, LambdaCallback
from .history import History
from .model import Model, NonFiniteLossError, Sequential
from .progress import ProgbarLogger

__all__ = ["Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback", "Model",
           "NonFiniteLossError", "ProgbarLogger", "Sequential"]
