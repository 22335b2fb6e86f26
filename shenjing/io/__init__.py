"""Saving, loading and interchange: ``save_model``/``load_model`` (JSON config + safetensors),
``export_onnx``, ``load_torch_state_dict``.

The submodules load on first use, so ``import shenjing`` does not pull in ONNX or torch.
"""
from importlib import import_module

_LAZY = {
    "save_model": "serialization", "load_model": "serialization",
    "save_weights": "serialization", "load_weights": "serialization",
    "ModelFileError": "serialization",
    "export_onnx": "onnx", "load_torch_state_dict": "torch",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'shenjing.io' has no attribute {name!r}")
