"""The ``shenjing`` command: list and train named recipes.

    shenjing recipes                         # names and one-line descriptions
    shenjing train iris-mlp --epochs 50      # progress on stderr, one JSON line on stdout
    shenjing demo                            # trains the default recipe (digits-mlp)
    python -m shenjing ...                   # the same without the console script

``train`` ends by printing exactly one JSON line on stdout:
``{"recipe", "epochs", "seed", "seconds", "test_accuracy", "test_loss", "weights"}``;
everything for humans (progress bar, summary line, errors) goes to stderr.
"""
from __future__ import annotations

import argparse
import json
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


def _add_train_options(p):
    p.add_argument("--epochs", type=_positive(int), help="passes over the training data")
    p.add_argument("--seed", type=_non_negative_int, help="sj.manual_seed value (repeatable)")
    p.add_argument("--out", help="folder for weights.npz and history.json "
                                 "(default: runs/RECIPE)")
    p.add_argument("--batch-size", type=_positive(int), help="samples per batch")
    p.add_argument("--lr", type=_positive(float), help="learning rate")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 silent, 1 progress bar (default), 2 one line per epoch")
    p.add_argument("--threads", type=_positive(int),
                   help="BLAS threads (default: shenjing's choice, see sj.set_num_threads)")
    p.add_argument("--synthetic", action="store_true", default=None,
                   help="offline stand-in data (recipes on downloaded data sets, e.g. cifar10-*)")
    p.add_argument("--limit", type=_positive(int),
                   help="use at most this many training samples (quick trial runs)")


def build_parser() -> argparse.ArgumentParser:
    import shenjing  # noqa: PLC0415  (keeps `shenjing --help` light)

    parser = argparse.ArgumentParser(
        prog="shenjing", description="shenjing (神经): train named recipes from the shell.")
    parser.add_argument("--version", action="version", version=f"shenjing {shenjing.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("recipes", help="list the recipes with one-line descriptions")
    train = sub.add_parser("train", help="train a recipe, print one JSON line with the results")
    train.add_argument("recipe", help="recipe name (see `shenjing recipes`)")
    _add_train_options(train)
    demo = sub.add_parser("demo", help="train the default recipe (digits-mlp)")
    _add_train_options(demo)
    return parser


def _train(args, parser) -> int:
    from shenjing import recipes  # noqa: PLC0415

    if args.recipe not in recipes.names():
        parser.error(f"unknown recipe {args.recipe!r}; valid recipes: "
                     f"{', '.join(recipes.names())} (`shenjing recipes` describes them)")
    if args.threads is not None:
        import shenjing as sj  # noqa: PLC0415

        sj.set_num_threads(args.threads)
    try:
        result = recipes.run(args.recipe, epochs=args.epochs, seed=args.seed,
                             batch_size=args.batch_size, lr=args.lr, out=args.out,
                             verbose=args.verbose,
                             options={"synthetic": args.synthetic, "limit": args.limit})
    except (ValueError, FloatingPointError, OSError) as e:
        print(f"shenjing train {args.recipe}: error: {e}", file=sys.stderr)
        return 1
    acc = result["test_accuracy"]
    acc_text = "n/a" if acc is None else f"{100 * acc:.2f}%"
    print(f"{result['recipe']}: test accuracy {acc_text}, test loss {result['test_loss']:.4f} "
          f"after {result['epochs']} epochs in {result['seconds']:.2f} s (seed "
          f"{result['seed']}); weights saved to {result['weights']}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``shenjing`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "recipes":
        from shenjing import recipes  # noqa: PLC0415

        table = recipes.describe()
        width = max(map(len, table))
        for name, text in table.items():
            default = "  (default: shenjing demo)" if name == recipes.DEFAULT else ""
            print(f"{name:<{width}}  {text}{default}")
        return 0
    if args.command == "train":
        return _train(args, parser)
    if args.command == "demo":
        from shenjing import recipes  # noqa: PLC0415

        args.recipe = recipes.DEFAULT
        return _train(args, parser)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
