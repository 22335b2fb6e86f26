"""Model's weights and files: ``get_weights``/``set_weights``, ``save``, ``save_weights``,
``load_weights`` (delegating to ``shenjing.io``), and what a resumed ``fit`` needs: the run
seed and the callback states a loaded model carries.

    model.save("model.safetensors")
    model = sj.load_model("model.safetensors")
    model.fit(x, y, epochs=10, initial_epoch=model.epoch)
"""
from __future__ import annotations

from .. import random


class SavingMixin:
    """Mixed into ``Model``; the file format lives in ``shenjing.io.serialization``."""

    def get_weights(self) -> list:
        """Copies of every parameter and buffer, in ``state_dict`` order."""
        return list(self.state_dict().values())

    def set_weights(self, weights) -> None:
        """Load a list from ``get_weights`` (same order and shapes)."""
        keys = list(self.state_dict().keys())
        if len(weights) != len(keys):
            raise ValueError(f"set_weights got {len(weights)} arrays; this model has "
                             f"{len(keys)} weights ({', '.join(keys)}).")
        self.load_state_dict(dict(zip(keys, weights)))

    def save(self, path, include_optimizer=True) -> str:
        """Write the whole model to one file (``sj.io.save_model``): architecture, weights,
        compile settings, optimizer state (unless ``include_optimizer=False``), epoch, run
        seed and callback states; atomically.  ``sj.load_model(path)`` reads it back.

        A file saved at the end of an epoch (``ModelCheckpoint``'s default) resumes bit for
        bit; one saved mid-epoch restarts that epoch.  Callback states are read when the
        file is written, so list ``ModelCheckpoint`` after the callbacks (EarlyStopping,
        ReduceLROnPlateau) whose epoch-end update the checkpoint should include.

        >>> model.save("model.safetensors"); model = sj.load_model("model.safetensors")
        """
        from ..io.serialization import save_model  # noqa: PLC0415  (io sits above train)

        return save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path) -> str:
        """Write ``state_dict()`` to ``path``, atomically: safetensors, or NumPy ``.npz`` when
        the name ends in ``.npz`` (``sj.io.save_weights``); returns the path."""
        from ..io.serialization import save_weights  # noqa: PLC0415

        return save_weights(self, path)

    def load_weights(self, path, strict=True):
        """Load weights written by ``save_weights`` or ``save`` (``sj.io.load_weights``):
        lazy layers are built from the input shapes the file records; every key and shape
        is checked before anything is written."""
        from ..io.serialization import load_weights  # noqa: PLC0415

        return load_weights(self, path, strict=strict)

    # ------------------------------------------------------------------ resuming
    def _run_seed(self) -> int:
        """The seed of this model's training runs: fixed at its first fit (see ``fit``)."""
        if self._seed is None:
            seed = random.initial_seed()
            self._seed = random.fresh_seed() if seed is None else seed
        return self._seed

    def _current_callback_states(self) -> list:
        """``[{"class_name", "state"}]`` of the running fit's callbacks (``get_state``), else
        the states kept from the last fit or from the file the model was loaded from."""
        if self._callback_list is None:
            return list(self._callback_states or [])
        return [{"class_name": type(cb).__name__, "state": cb.get_state() or {}}
                for cb in self._callback_list if hasattr(cb, "get_state")]

    def _restore_callback_states(self, cbs, resuming):
        """States loaded with the model (or from a backup) go, once, to the callbacks of the
        same class and rank when the next fit resumes (``initial_epoch > 0`` or a backup)."""
        states, self._resume_states = self._resume_states, None
        if not states or not resuming:
            return
        by_class: dict = {}
        for s in states:
            by_class.setdefault(s["class_name"], []).append(s["state"])
        for cb in cbs:
            queue = by_class.get(type(cb).__name__)
            state = queue.pop(0) if queue else None
            if state and hasattr(cb, "set_state"):
                cb.set_state(state)
