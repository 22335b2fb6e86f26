"""The ``shenjing`` command: train recipes or YAML configs, then evaluate, predict with,
summarise and export the saved models.

    shenjing recipes                                  # names, descriptions, options
    shenjing train iris-mlp --epochs 50 --out runs/iris
    shenjing train my_run.yaml --tensorboard runs/tb  # a whole run in a config file
    shenjing train digits-cnn --checkpoint ck.safetensors   # later: --resume ck.safetensors
    shenjing train digits-cnn --backup runs/bk        # killed? run it again: resumes exactly
    shenjing evaluate runs/iris/model.safetensors     # its own test split (from run.json)
    shenjing predict runs/iris/model.safetensors samples.csv
    shenjing summary runs/iris/model.safetensors
    shenjing export runs/iris/model.safetensors --onnx iris.onnx
    shenjing demo                                     # trains the default recipe
    python -m shenjing ...                            # the same without the console script

Each command prints exactly one JSON line of results on stdout (``summary`` prints its
table); everything for humans (progress bar, summary line, errors) goes to stderr.  Errors
exit with status 1 (2 for bad command-line syntax) and a message saying what to fix.
"""
from __future__ import annotations

import argparse
import os
import sys


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, "
                                             f"got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, "
                                             f"got {text!r}")
        return value
    return parse


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}")
    return value


def _shape(text):
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,8,8, got {text!r}") from None
    if not shape or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 1,8,8, got {text!r}")
    return shape


def _add_train_options(p):
    p.add_argument("--epochs", type=_positive(int), help="passes over the training data")
    p.add_argument("--seed", type=_non_negative_int, help="sj.manual_seed value (repeatable)")
    p.add_argument("--out", help="folder for model.safetensors, history.json and run.json "
                                 "(default: runs/NAME)")
    p.add_argument("--batch-size", type=_positive(int), help="samples per batch")
    p.add_argument("--lr", type=_positive(float), help="learning rate")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 silent, 1 progress bar (default), 2 one line per epoch")
    p.add_argument("--threads", type=_positive(int),
                   help="BLAS threads (default: shenjing's choice, see sj.set_num_threads)")
    p.add_argument("--device", default="cpu",
                   help="where to train: cpu (default) or cuda[:N] (needs shenjing[gpu])")
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files to DIR")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="save a full checkpoint after every epoch (resumable with --resume)")
    p.add_argument("--backup", metavar="DIR",
                   help="back the run up to DIR after every epoch; the same command run again "
                        "after a crash or Ctrl-C resumes exactly (sj.callbacks.BackupAndRestore)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue training from a file written by --checkpoint or a run's "
                        "model.safetensors (weights, optimizer state, epoch)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI ranks: mpirun -n N shenjing train ... "
                        "--distributed (needs shenjing[mpi])")
    p.add_argument("--synthetic", action="store_true", default=None,
                   help="offline stand-in data (recipes on downloaded data sets, e.g. cifar10-*)")
    p.add_argument("--limit", type=_positive(int),
                   help="use at most this many training samples (quick trial runs)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a recipe's own option, repeatable (e.g. --option cell=gru "
                        "--option units=64); `shenjing recipes` lists them")


def build_parser() -> argparse.ArgumentParser:
    import shenjing  # noqa: PLC0415  (keeps `shenjing --help` light)

    parser = argparse.ArgumentParser(
        prog="shenjing", description="shenjing (神经): train, evaluate, inspect and export "
                                     "models from the shell.  Results: one JSON line on stdout.")
    parser.add_argument("--version", action="version", version=f"shenjing {shenjing.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("recipes", help="list the recipes with one-line descriptions and options")
    train = sub.add_parser("train", help="train a recipe or a YAML run config")
    train.add_argument("recipe", metavar="RECIPE|CONFIG.yaml",
                       help="recipe name (see `shenjing recipes`) or a YAML config file")
    _add_train_options(train)
    demo = sub.add_parser("demo", help="train the default recipe")
    _add_train_options(demo)
    ev = sub.add_parser("evaluate", help="loss and metrics of a saved model")
    ev.add_argument("model", help="a model.safetensors written by train / model.save")
    ev.add_argument("--data", help="RECIPE, data set name (digits, iris, mnist1d, ...) or a "
                                   ".npz with x and y (default: the run's own test split)")
    ev.add_argument("--batch-size", type=_positive(int))
    ev.add_argument("--device", default="cpu", help="where to evaluate: cpu (default) or "
                                                    "cuda[:N] (needs shenjing[gpu])")
    pr = sub.add_parser("predict", help="outputs of a saved model for an input file")
    pr.add_argument("model")
    pr.add_argument("input", help=".npy, .npz (array x) or .csv file of samples")
    pr.add_argument("--output", help="write the outputs to this .npy instead of stdout")
    pr.add_argument("--batch-size", type=_positive(int))
    sm = sub.add_parser("summary", help="the layer table of a saved model")
    sm.add_argument("model")
    ex = sub.add_parser("export", help="export a saved model (ONNX)")
    ex.add_argument("model")
    ex.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    ex.add_argument("--input-shape", type=_shape,
                    help="one sample's shape, e.g. 1,8,8 (default: from the run's run.json)")
    envp = sub.add_parser("env", help="CPU flags, BLAS kernels and threads in use, and the "
                                      "OpenBLAS core-type decision")
    envp.add_argument("--verbose", action="store_true", help="also a readable summary on stderr")
    return parser


def _train(args, parser) -> int:
    from shenjing import recipes  # noqa: PLC0415

    from . import commands, config  # noqa: PLC0415

    target = args.recipe
    if target.endswith((".yaml", ".yml", ".json")) or os.path.isfile(target):
        cfg = config.load(target)
        target, args.run_info = config.to_recipe(cfg), {"config": cfg}
    elif target not in recipes.names():
        parser.error(f"unknown recipe {target!r}; valid recipes: "
                     f"{', '.join(recipes.names())} (`shenjing recipes` describes them)")
    if args.threads is not None:
        import shenjing as sj  # noqa: PLC0415

        sj.set_num_threads(args.threads)
    _check_device(args.device)
    return commands.train(args, target)


def _check_device(device):
    """Fail early, with the install hint, when ``--device`` names a GPU we cannot use."""
    if device != "cpu":
        import shenjing as sj  # noqa: PLC0415

        sj.device(device)


def _recipes() -> int:
    from shenjing import recipes  # noqa: PLC0415

    table = recipes.describe()
    width = max(map(len, table))
    for name, text in table.items():
        default = "  (default: shenjing demo)" if name == recipes.DEFAULT else ""
        options = recipes.options(name) if hasattr(recipes, "options") else []
        extra = f"  [options: {', '.join(options)}]" if options else ""
        print(f"{name:<{width}}  {text}{default}{extra}")
    return 0


_ERRORS = (ValueError, TypeError, KeyError, FloatingPointError, OSError, RuntimeError)


def main(argv=None) -> int:
    """Entry point of the ``shenjing`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "recipes":
        return _recipes()
    if args.command == "env":
        from .env import env  # noqa: PLC0415

        return env(args)
    from . import commands  # noqa: PLC0415

    if args.command == "demo":
        from shenjing import recipes  # noqa: PLC0415

        args.recipe = recipes.DEFAULT
    run = {"train": lambda: _train(args, parser), "demo": lambda: _train(args, parser),
           "evaluate": lambda: _check_device(args.device) or commands.evaluate(args),
           "predict": lambda: commands.predict(args),
           "summary": lambda: commands.summary(args),
           "export": lambda: commands.export(args)}[args.command]
    try:
        return run()
    except _ERRORS as e:
        what = getattr(args, "recipe", None) or getattr(args, "model", "")
        print(f"shenjing {args.command} {what}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
