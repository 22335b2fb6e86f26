"""Optimizers: ``step()`` updates parameters from their ``.grad``; gradient clipping.

    opt = sj.optim.Adam(model.parameters(), lr=1e-3)     # PyTorch style
    model.compile(optimizer=sj.optim.Adam(lr=1e-3))      # Keras style: bound by compile
    model.compile(optimizer="adam")                      # by name, via sj.optim.get

Learning-rate schedules, two styles: Keras's ``sj.optim.schedules`` (an object given as
``lr=``, evaluated at every update) and PyTorch's ``sj.optim.lr_scheduler`` (an object whose
``step()`` you call, or ``sj.callbacks.LearningRateScheduler(scheduler)`` in ``fit``).

    opt = sj.optim.SGD(lr=sj.optim.schedules.CosineDecay(0.1, decay_steps=1000))
    sched = sj.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)
"""
from . import lr_scheduler, schedules
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier, **kwargs):
    """An optimizer from a name (``"adam"``, case-insensitive; unbound) or an instance.

    >>> sj.optim.get("adam", lr=1e-3)
    Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0, amsgrad=False)
    """
    if isinstance(identifier, Optimizer):
        if kwargs:
            raise TypeError(f"sj.optim.get got an optimizer instance and keyword arguments "
                            f"{sorted(kwargs)}; set them when creating the optimizer instead.")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(**kwargs)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or an sj.optim.Optimizer instance.")
        return cls(**kwargs)
    raise TypeError(f"sj.optim.get expects an optimizer name or an sj.optim.Optimizer, got "
                    f"{type(identifier).__name__}.")


__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "get",
           "clip_grad_norm_", "clip_grad_value_", "lr_scheduler", "schedules"]
