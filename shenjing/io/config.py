"""Configurations as JSON and back, without pickle or eval: what ``sj.io`` writes for a model.

A module becomes a *spec*, ``{"class_name": qualname, "module": module, "source": ...,
"config": {...}}``.  ``source`` says where the configuration came from:

* ``"get_config"``: the class's ``get_config()``, rebuilt by ``cls.from_config(config)``
  (every layer of ``sj.nn``, ``Sequential``);
* ``"arguments"``: the arguments its constructor was called with (captured by
  ``Module.__new__``), rebuilt by ``cls(*args, **config)``.  Used when a class's
  ``__init__`` is newer than its ``get_config`` — a subclassed ``sj.Model`` that writes
  no ``get_config`` still saves, as in Keras 3.

Values are JSON, with markers for what JSON lacks (a dict holding exactly one marker key):
``{"__tuple__": [...]}``, ``{"__array__": name}`` (a NumPy array, stored as the tensor
``name`` of the same file; ``"scalar"``/``"tensor"`` flags for NumPy scalars and
``sj.Tensor``), ``{"__module__": spec}`` (a layer passed to a constructor),
``{"__object__": {"base", "class_name", "module", "config"}}`` (a loss, metric, optimizer,
initializer or regularizer), ``{"__function__": name}`` and ``{"__dict__": [[k, v], ...]}``
(a dict with keys that are not strings).

Loading instantiates only classes that are already imported: Modules from the registry
``Module.__init_subclass__`` fills, the others among the subclasses of their base, or what
``custom_objects`` names; functions only from ``custom_objects`` and shenjing's own
namespaces.  Nothing named in a file is ever imported.

>>> enc = Encoder({}); spec = enc.module_spec(sj.nn.Dense(3)); Decoder({}).module(spec)
Dense(...)
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import losses, metrics, nn, optim, regularizers
from ..backend import to_numpy
from ..nn import activations, init
from ..nn.module import _CLASSES, Module
from ..tensor import Parameter, Tensor

MARKERS = ("__tuple__", "__array__", "__module__", "__object__", "__function__", "__dict__")
_BASE_KEYS = ("name", "dtype", "trainable")  # Module.get_config's own keys


def _bases() -> dict:
    """The classes a ``__object__`` may be an instance of, by the name written in files."""
    return {"Loss": losses.Loss, "Metric": metrics.Metric, "Optimizer": optim.Optimizer,
            "Initializer": init.Initializer, "Regularizer": regularizers.Regularizer}


def _subclasses(cls):
    out, todo = [], [cls]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def find_class(base, class_name, module, custom_objects=None):
    """The class ``module.class_name`` among the loaded subclasses of ``base`` (for Modules:
    the registry), or ``custom_objects[class_name]``; a clear error otherwise."""
    custom = custom_objects or {}
    short = class_name.rsplit(".", 1)[-1]
    for key in (class_name, short):
        if key in custom:
            cls = custom[key]
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"custom_objects[{key!r}] must be a subclass of "
                                f"{base.__name__}, got {cls!r}.")
            return cls
    if base is Module:
        found = _CLASSES.get(f"{module}.{class_name}")
        pool = list(_CLASSES.values())
    else:
        pool = _subclasses(base)
        found = next((c for c in pool if c.__module__ == module
                      and c.__qualname__ == class_name), None)
    if found is not None:
        return found
    same = {c for c in pool if c.__qualname__ == class_name} or \
        {c for c in pool if c.__name__ == short}
    if len(same) == 1:
        return same.pop()
    why = "is not loaded" if not same else f"is ambiguous ({len(same)} loaded classes)"
    raise ValueError(f"the file names {base.__name__} class {class_name!r} (module {module!r}), "
                     f"which {why}: import the module that defines it before loading, or "
                     f"pass custom_objects={{{short!r}: {short}}}.")


def uses_arguments(cls) -> bool:
    """True when ``cls.__init__`` is newer than its ``get_config`` (so the config would miss
    the constructor's own arguments): then the captured arguments describe it."""
    g = next(c for c in cls.__mro__ if "get_config" in vars(c))
    i = next(c for c in cls.__mro__ if "__init__" in vars(c))
    return i is not g and issubclass(i, g)


def captured_arguments(module):
    """``(args, kwargs)`` of the constructor call, bound to parameter names."""
    args, kwargs = module.__dict__.get("_init_args", ((), {}))
    params = list(inspect.signature(type(module).__init__).parameters.values())
    bound = inspect.signature(type(module).__init__).bind(None, *args, **kwargs).arguments
    bound.pop(params[0].name, None)
    named, extra = {}, []
    for p in params[1:]:
        if p.name not in bound:
            continue
        if p.kind is p.VAR_POSITIONAL:
            extra = list(bound[p.name])
        elif p.kind is p.VAR_KEYWORD:
            named.update(bound[p.name])
        else:
            named[p.name] = bound[p.name]
    return extra, named


class Encoder:
    """Turns values into JSON; arrays go to ``tensors`` under ``shenjing/<path>``."""

    def __init__(self, tensors):
        self.tensors = tensors

    def array(self, value, path, **flags):
        raw = np.array(to_numpy(value.data if isinstance(value, Tensor) else value), order="C")
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"cannot save {path}: arrays of dtype {raw.dtype} are not supported "
                            "(numbers and booleans only).")
        name, n = f"shenjing/{path}", 1
        while name in self.tensors:
            name, n = f"shenjing/{path}~{n}", n + 1
        self.tensors[name] = raw
        return {"__array__": name, **flags}

    def __call__(self, value, path):  # noqa: C901  (one branch per JSON kind)
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) in (int, float):
            return value
        if isinstance(value, np.dtype) or (isinstance(value, type)
                                           and issubclass(value, np.generic)):
            return np.dtype(value).name  # constructors take dtype names
        if isinstance(value, np.generic):
            return self.array(np.asarray(value), path, scalar=True)
        if isinstance(value, Parameter):
            raise TypeError(f"cannot save {path}: a Parameter as a constructor argument; "
                            "create it inside the module instead.")
        if isinstance(value, Tensor) or hasattr(value, "__array_interface__"):
            return self.array(value, path, **({"tensor": True} if isinstance(value, Tensor)
                                              else {}))
        if isinstance(value, tuple):
            return {"__tuple__": [self(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return self.dict(value, path)
        if isinstance(value, Module):
            return {"__module__": self.module_spec(value, path)}
        if isinstance(value, (int, float)):  # int/float subclasses (IntEnum, ...)
            return int(value) if isinstance(value, int) else float(value)
        for base_name, base in _bases().items():
            if isinstance(value, base):
                return {"__object__": self.object_spec(value, base_name, path)}
        if callable(value) and getattr(value, "__name__", "<lambda>") != "<lambda>":
            return {"__function__": value.__name__}
        raise TypeError(f"cannot save {path}: {type(value).__name__} {value!r} has no JSON "
                        "form; give the class a get_config() of plain values, or save the "
                        "weights only (save_weights).")

    def dict(self, value, path):
        plain = all(isinstance(k, str) for k in value) and not (
            value and next(iter(value)) in MARKERS)
        if plain:
            return {k: self(v, f"{path}/{k}") for k, v in value.items()}
        return {"__dict__": [[self(k, f"{path}/key{i}"), self(v, f"{path}/{i}")]
                             for i, (k, v) in enumerate(value.items())]}

    def object_spec(self, obj, base_name, path):
        config = obj.get_config() if hasattr(obj, "get_config") else {}
        cls = type(obj)
        return {"base": base_name, "class_name": cls.__qualname__, "module": cls.__module__,
                "config": self(config, f"{path}/config")}

    def module_spec(self, module, path="model"):
        """``{"class_name", "module", "source", "config"[, "args"], "name", "dtype"}``."""
        cls = type(module)
        spec = {"class_name": cls.__qualname__, "module": cls.__module__}
        if uses_arguments(cls):
            args, config = captured_arguments(module)
            spec["source"] = "arguments"
            if args:
                spec["args"] = self(args, f"{path}/args")
        else:
            spec["source"], config = "get_config", module.get_config()
        spec["config"] = self(config, f"{path}/config")
        spec["name"], spec["dtype"] = module.name, str(module.dtype)
        return spec


class Decoder:
    """The inverse of ``Encoder``: JSON (and the file's tensors) back to values."""

    def __init__(self, tensors, custom_objects=None):
        self.tensors, self.custom = tensors, dict(custom_objects or {})

    def __call__(self, value):
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if value and next(iter(value)) in MARKERS:
            return self.marked(value)
        return {k: self(v) for k, v in value.items()}

    def marked(self, value):
        key = next(iter(value))
        body = value[key]
        if key == "__tuple__":
            return tuple(self(v) for v in body)
        if key == "__dict__":
            return {self(k): self(v) for k, v in body}
        if key == "__module__":
            return self.module(body)
        if key == "__object__":
            return self.object(body)
        if key == "__function__":
            return self.function(body)
        if body not in self.tensors:
            raise ValueError(f"the file lacks the tensor {body!r} its configuration refers to.")
        array = np.array(self.tensors[body])
        if value.get("scalar"):
            return array[()]
        return Tensor(array) if value.get("tensor") else array

    def function(self, name):
        if name in self.custom:
            return self.custom[name]
        for namespace in (activations, losses, metrics, nn.functional):
            fn = getattr(namespace, name, None)
            if callable(fn) and not isinstance(fn, type) and not name.startswith("_"):
                return fn
        raise ValueError(f"the file refers to a function {name!r} that shenjing does not "
                         f"define: pass custom_objects={{{name!r}: {name}}}.")

    def object(self, spec):
        base = _bases().get(spec.get("base"))
        if base is None:
            raise ValueError(f"unknown kind of object {spec.get('base')!r} in the file.")
        cls = find_class(base, spec["class_name"], spec["module"], self.custom)
        config = self(spec.get("config", {}))
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)

    def module(self, spec):
        """A new Module from ``Encoder.module_spec``'s dict (weights not loaded)."""
        cls = find_class(Module, spec["class_name"], spec["module"], self.custom)
        config = self(spec.get("config", {}))
        where = f"{spec['class_name']} (module {spec['module']})"
        try:
            if spec.get("source") == "arguments":
                module = cls(*self(spec.get("args", [])), **config)
            else:
                module = _from_config(cls, config)
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot rebuild {where} from its saved configuration "
                             f"{config!r}: {e}") from e
        if spec.get("dtype") and str(module.dtype) != spec["dtype"]:
            module.to(spec["dtype"])
        if isinstance(spec.get("name"), str) and spec["name"]:
            module.name = spec["name"]
        return module


def _from_config(cls, config):
    """``cls.from_config(config)``; with Module's plain ``from_config``, the base keys
    (name, dtype, trainable) a constructor does not take are applied after construction."""
    if getattr(cls.from_config, "__func__", None) is not Module.from_config.__func__:
        return cls.from_config(config)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    late = {k: config.pop(k) for k in _BASE_KEYS
            if k in config and not takes_any and k not in params}
    module = cls(**config)
    if "name" in late:
        module.name = late["name"]
    if "dtype" in late and str(module.dtype) != late["dtype"]:
        module.to(late["dtype"])
    if late.get("trainable") is False:
        module.trainable = False
    return module
