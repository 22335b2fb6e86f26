"""What each ``shenjing`` subcommand does.  Results go to stdout as one JSON line; everything
for humans (progress, tables, errors) goes to stderr, so the output can be piped."""
from __future__ import annotations

import json
import os
import sys

import numpy as np


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _emit(result):
    print(json.dumps(result), flush=True)


def parse_options(pairs) -> dict:
    """``["limit=256", "synthetic=true", "cell=gru"]`` → ``{"limit": 256, "synthetic": True,
    "cell": "gru"}`` (values read as JSON where they parse, else kept as text)."""
    options = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}.")
        try:
            options[key.replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = text
    return options


def _extra_callbacks(args):
    """TensorBoard, per-epoch checkpoint and backup callbacks asked for on the command line."""
    import shenjing as sj  # noqa: PLC0415

    callbacks = []
    if getattr(args, "backup", None):
        if getattr(args, "distributed", False):
            raise ValueError("--backup does not work with --distributed yet; use --checkpoint "
                             "and --resume.")
        callbacks.append(sj.callbacks.BackupAndRestore(args.backup))
    if getattr(args, "tensorboard", None):
        callbacks.append(sj.callbacks.TensorBoard(log_dir=args.tensorboard))
    if getattr(args, "checkpoint", None):
        callbacks.append(sj.callbacks.ModelCheckpoint(args.checkpoint, monitor="loss"))
    return callbacks


def train(args, recipe) -> int:
    """Train ``recipe`` (a name or a config's Recipe); print one JSON line of results."""
    from shenjing import recipes  # noqa: PLC0415

    options = {"synthetic": args.synthetic, "limit": args.limit, **parse_options(args.option)}
    result = recipes.run(recipe, epochs=args.epochs, seed=args.seed,
                         batch_size=args.batch_size, lr=args.lr, out=args.out,
                         verbose=args.verbose, options=options,
                         callbacks=_extra_callbacks(args), resume=args.resume,
                         run_info=getattr(args, "run_info", None),
                         distributed=getattr(args, "distributed", False),
                         device=getattr(args, "device", None))
    if getattr(args, "distributed", False) and _rank() != 0:
        return 0  # rank 0 reports
    acc = result["test_accuracy"]
    acc_text = "n/a" if acc is None else f"{100 * acc:.2f}%"
    _say(f"{result['recipe']}: test accuracy {acc_text}, test loss {result['test_loss']:.4f} "
         f"after {result['epochs']} epochs in {result['seconds']:.2f} s (seed "
         f"{result['seed']}); model saved to {result['model']}")
    _emit(result)
    return 0


def _rank():
    import shenjing.distributed as dist  # noqa: PLC0415

    return dist.rank()


def _run_info(model_path) -> dict:
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "run.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _test_split(spec, model_path):
    """The (x, y) to evaluate on: ``--data`` (recipe name, data set name, .npz file) or the
    test split of the run that wrote ``model_path`` (its run.json)."""
    from shenjing import recipes  # noqa: PLC0415

    from . import config  # noqa: PLC0415

    if spec is None:
        info = _run_info(model_path)
        if "config" in info:
            return config.load_data(info["config"]["data"])[1], f"config {info['recipe']}"
        if "recipe" not in info:
            raise ValueError(f"no run.json next to {model_path}: say which data to use with "
                             "--data RECIPE|DATASET|FILE.npz")
        spec = info["recipe"]
        return recipes.data(spec, info.get("options"))[1], spec
    if spec.endswith(".npz"):
        with np.load(spec) as f:
            keys = ("x_test", "y_test") if "x_test" in f.files else ("x", "y")
            if not set(keys) <= set(f.files):
                raise ValueError(f"{spec} must hold arrays x and y (or x_test and y_test); "
                                 f"it has {f.files}.")
            return (f[keys[0]], f[keys[1]]), spec
    if spec in recipes.names():
        return recipes.data(spec)[1], spec
    return config.load_data(spec)[1], spec


def evaluate(args) -> int:
    """Loss and metrics of a saved model on test data; one JSON line."""
    import shenjing as sj  # noqa: PLC0415

    model = sj.load_model(args.model)
    (x, y), source = _test_split(args.data, args.model)
    logs = model.evaluate(x, y, batch_size=args.batch_size or 256, return_dict=True,
                          device=getattr(args, "device", None))
    result = {"model": args.model, "data": source, "samples": int(len(x)),
              **{k: float(v) for k, v in logs.items()}}
    _say(", ".join(f"{k}: {v:.4f}" for k, v in logs.items()) + f" on {len(x)} samples")
    _emit(result)
    return 0


def _read_input(path):
    if path.endswith(".npy"):
        return np.load(path)
    if path.endswith(".npz"):
        with np.load(path) as f:
            key = "x" if "x" in f.files else f.files[0]
            return f[key]
    if path.endswith((".csv", ".txt")):
        return np.loadtxt(path, delimiter="," if path.endswith(".csv") else None,
                          dtype=np.float32, ndmin=2)
    raise ValueError(f"cannot read {path}: give a .npy, .npz (array x) or .csv file.")


def predict(args) -> int:
    """Outputs of a saved model for the samples in INPUT; classes (argmax) for classifiers."""
    import shenjing as sj  # noqa: PLC0415

    model = sj.load_model(args.model)
    x = _read_input(args.input).astype(np.float32, copy=False)
    outputs = model.predict(x, batch_size=args.batch_size or 256)
    result = {"samples": int(len(outputs))}
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        result["classes"] = outputs.argmax(axis=1).tolist()
    if args.output:
        np.save(args.output, outputs)
        result["outputs"] = args.output
    else:
        result["outputs"] = outputs.tolist()
    _emit(result)
    return 0


def summary(args) -> int:
    """The layer table of a saved model (stdout)."""
    import shenjing as sj  # noqa: PLC0415

    model = sj.load_model(args.model)
    shape = _run_info(args.model).get("input_shape")
    model.summary(input_shape=(None, *shape) if shape else None)
    return 0


def export(args) -> int:
    """Write a saved model as ONNX; the input shape comes from run.json or --input-shape."""
    import shenjing as sj  # noqa: PLC0415

    model = sj.load_model(args.model)
    info = _run_info(args.model)
    shape = args.input_shape or info.get("input_shape")
    if not shape:
        raise ValueError("the input shape is unknown (no run.json next to the model): give "
                         "--input-shape, e.g. --input-shape 1,8,8 for one sample's shape.")
    example = np.zeros((1, *shape), dtype=info.get("input_dtype") or np.float32)  # ids: ints
    sj.io.export_onnx(model, example, args.onnx)  # checked by onnx.checker on the way out
    path = args.onnx
    _say(f"wrote {path}")
    _emit({"model": args.model, "onnx": path, "input_shape": list(shape)})
    return 0
