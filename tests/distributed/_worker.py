"""One MPI rank of a test scenario: ``mpirun -n 2 python _worker.py SCENARIO OUT_DIR``.

Rank 0 writes the scenario's results to OUT_DIR (``SCENARIO.npz`` or ``.json``); the test in
the pytest process compares them with a single-process reference.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as c  # noqa: E402

import shenjing as sj  # noqa: E402
import shenjing.distributed as dist  # noqa: E402
from shenjing import nn  # noqa: E402


def save(out, name, arrays):
    if dist.rank() == 0:
        np.savez(os.path.join(out, name + ".npz"), **arrays)


def spread(arrays):
    """max - min over the ranks of every array: all zeros when the ranks agree."""
    return {k: dist.all_reduce(v, "max") - dist.all_reduce(v, "min") for k, v in arrays.items()}


def equivalence(out):
    """Two ranks, half of each global batch of 64 each, vs one process with all 64."""
    x, y = c.digits(out)
    half = c.GLOBAL_BATCH // 2
    lo, hi = dist.rank() * half, (dist.rank() + 1) * half
    for name in ("sgd", "adam"):
        model = dist.DistributedDataParallel(c.mlp(seed=dist.rank()))  # rank 0's weights win
        opt = c.make_optimizer(name, model.parameters())
        save(out, f"ddp_{name}", c.manual_steps(model, opt, x, y, lo, hi))
        model = c.mlp(seed=dist.rank())
        opt = dist.DistributedOptimizer(c.make_optimizer(name, model.parameters()))
        save(out, f"hvd_{name}", c.manual_steps(model, opt, x, y, lo, hi))
    fits(out, x[:c.N_FIT], y[:c.N_FIT])


def fits(out, x, y):
    """fit over 2 ranks: sj.distributed.fit, and a DDP-wrapped model's own compile/fit."""
    for opt in ("sgd", "adam"):
        model = c.compiled_mlp(seed=dist.rank(), opt=opt)
        history = dist.fit(model, x, y, batch_size=64, epochs=2, verbose=0)
        save(out, f"fit_{opt}", {**c.weights(model), "loss": np.array(history.history["loss"])})
    model = dist.DistributedDataParallel(c.mlp(seed=dist.rank()))
    model.compile(sj.optim.SGD(lr=0.3, momentum=0.9),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, seed=0)
    save(out, "fit_ddp", c.weights(model))
    if "distributed" in inspect.signature(sj.Model.fit).parameters:  # once model.py has it
        model = c.compiled_mlp(seed=dist.rank())
        model.fit(x, y, batch_size=64, epochs=2, verbose=0, distributed=True)
        save(out, "fit_model", c.weights(model))


def collectives(out):
    """all_reduce / broadcast / barrier, and the sampler's shards on real ranks."""
    r, n = dist.rank(), dist.world_size()
    res = {"size": n, "sum": dist.all_reduce(np.array([r + 1.0, 2.0]), "sum").tolist(),
           "mean": dist.all_reduce(np.array([r * 1.0]), "mean").tolist(),
           "max": dist.all_reduce(np.array([r]), "max").tolist(),
           "bcast": dist.broadcast(np.array([r + 5], np.int32), root=1).tolist(),
           "obj": dist.broadcast_object({"from": r}, root=0),
           "tensor": dist.all_reduce(sj.tensor([1.0, 2.0]), "sum").numpy().tolist()}
    dist.barrier()
    for n_samples in (10, 11, 1):
        s = dist.DistributedSampler(n_samples, shuffle=True, seed=3)
        s.set_epoch(2)
        counts = np.zeros(n_samples)
        np.add.at(counts, np.array(list(s), dtype=np.int64), 1)
        res[f"counts_{n_samples}"] = dist.all_reduce(counts, "sum").tolist()
        res[f"len_{n_samples}"] = len(s)
    if r == 0:
        with open(os.path.join(out, "collectives.json"), "w") as f:
            json.dump(res, f)


class Branches(sj.Model):
    """Two heads; ``use_b`` decides per call whether head b takes part (an unused param)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Dense(10, input_dim=64), nn.Dense(10, input_dim=64)
        self.never = nn.Dense(10, input_dim=64)  # in no forward pass on any rank
        self.use_b = True

    def forward(self, x):
        out = self.a(x)
        return out + self.b(x) if self.use_b else out


def unused(out):
    """A parameter unused on rank 1 only, and one unused everywhere."""
    x, y = c.digits(out)
    sj.manual_seed(0)
    model = Branches()
    opt = dist.DistributedOptimizer(sj.optim.SGD(model.parameters(), lr=0.5))
    for k in range(3):
        model.use_b = dist.rank() == 0 or k > 0
        rows = slice(64 * k + 32 * dist.rank(), 64 * k + 32 * (dist.rank() + 1))
        loss = c.loss_fn(model, x[rows], y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = {f"spread_{k}": v for k, v in spread(c.weights(model)).items()}
    res["never_grad_is_none"] = np.array(model.never.kernel.grad is None)
    res["b_grad_rank0"] = model.b.kernel.grad.numpy()
    save(out, "unused", {**res, **c.weights(model)})


def no_sync(out):
    """Two micro-batches of 16 per rank under no_sync, then one step: the mean of 64."""
    x, y = c.digits(out)
    model = dist.DistributedDataParallel(c.mlp(seed=0))
    opt = sj.optim.SGD(model.parameters(), lr=0.5)
    base = 32 * dist.rank()
    for k in range(3):
        rows = [slice(64 * k + base + 16 * j, 64 * k + base + 16 * (j + 1)) for j in range(2)]
        opt.zero_grad()
        with model.no_sync():
            (c.loss_fn(model, x[rows[0]], y[rows[0]]) * 0.5).backward()
        (c.loss_fn(model, x[rows[1]], y[rows[1]]) * 0.5).backward()
        opt.step()
    save(out, "no_sync", c.weights(model))


def batchnorm(out):
    """Running statistics after a fit with batch norm: the same on every rank."""
    x, y = c.digits(out)
    model = c.compiled_mlp(seed=dist.rank(), batchnorm=True)
    dist.fit(model, x[:512], y[:512], batch_size=64, epochs=1, verbose=0, seed=1,
             validation_data=(x[512:640], y[512:640]))
    bn = model.layers[1]
    stats = {"mean": bn.running_mean.numpy(), "var": bn.running_var.numpy()}
    save(out, "batchnorm", {**{f"spread_{k}": v for k, v in spread(stats).items()}, **stats})


class Writer(sj.callbacks.Callback):
    rank_zero_only = True

    def __init__(self, out):
        super().__init__()
        self.out = out

    def on_epoch_end(self, epoch, logs=None):
        with open(os.path.join(self.out, f"written_by_{dist.rank()}"), "w") as f:
            f.write(json.dumps(logs))


def rank_zero(out):
    """Progress lines and writing callbacks on rank 0 only; logs averaged over the ranks."""
    x, y = c.digits(out)
    model = c.compiled_mlp(seed=0)
    dist.fit(model, x[:256], y[:256], batch_size=64, epochs=1, verbose=2, seed=1,
             callbacks=[Writer(out)])


class Failure(sj.callbacks.Callback):
    """Rank 1 fails mid-epoch: ``how`` = exit (dies), hang (stops answering), raise."""

    def __init__(self, how):
        super().__init__()
        self.how = how

    def on_train_batch_end(self, batch, logs=None):
        if dist.rank() != 1 or batch != 3:
            return
        print(f"rank 1 failing by {self.how}", file=sys.stderr, flush=True)
        if self.how == "exit":
            os._exit(1)
        if self.how == "hang":
            time.sleep(600)
        raise ValueError("rank 1 failed on purpose")


def failure(out, how):
    x, y = c.digits(out)
    model = c.compiled_mlp(seed=0)
    dist.fit(model, x, y, batch_size=64, epochs=3, verbose=0, callbacks=[Failure(how)])


def resume_first(out):
    """The first epoch of the resume test, on 2 ranks; rank 0 writes the checkpoint."""
    x, y = c.digits(out)
    model = c.compiled_mlp(seed=0, opt="adam")
    dist.fit(model, x[:c.N_FIT], y[:c.N_FIT], batch_size=64, epochs=1, verbose=0, seed=5,
             callbacks=[dist.Checkpoint(os.path.join(out, "ck.npz"))])


class Heads(sj.Model):
    """The digits MLP plus a head only rank 0 uses: rank 1 has no gradient for it, so the
    averaging completes at the optimizer's ``synchronize``, not inside backward."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Dense(32, input_dim=64, activation="relu")
        self.out, self.extra = nn.Dense(10, input_dim=32), nn.Dense(10, input_dim=64)

    def forward(self, x):
        logits = self.out(self.hidden(x))
        return logits + self.extra(x) if dist.rank() == 0 else logits


class RankBatches:
    """This rank's 8 batches of 32 (an iterable: fit takes it as sharded already); rank 1's
    inputs ×30 at steps 2 and 5: its float16 gradients overflow there, rank 0's do not."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        r = dist.rank()
        for k in range(8):
            rows = slice(64 * k + 32 * r, 64 * k + 32 * (r + 1))
            yield self.x[rows] * (30 if r == 1 and k in (2, 5) else 1), self.y[rows]


class ScalePerStep(sj.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.scales = []

    def on_train_batch_end(self, batch, logs=None):
        self.scales.append(self.model.mixed_precision.loss_scale)


def amp(out):
    """Mixed precision over 2 ranks: a plain fit (compared with one process), and a fit
    where only rank 1's gradients overflow: every rank must skip those steps."""
    x, y = c.digits(out)
    model = c.mlp(seed=dist.rank())
    model.compile(sj.optim.SGD(lr=0.3, momentum=0.9),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  mixed_precision=True)
    history = dist.fit(model, x[:512], y[:512], batch_size=64, epochs=2, verbose=0)
    save(out, "amp_fit", {**c.weights(model),
                          "loss_scale": np.array(history.history["loss_scale"])})
    sj.manual_seed(dist.rank())
    model = Heads()
    model.compile(sj.optim.SGD(lr=0.1), sj.losses.SparseCategoricalCrossentropy(
        from_logits=True), mixed_precision=True)
    if dist.rank() == 1:  # as if only rank 0 had loaded a checkpoint: rank 0's scale wins
        model.mixed_precision = sj.amp.MixedPrecision(True, init_scale=2.0 ** 10)
    scales = ScalePerStep()
    dist.fit(model, RankBatches(x, y), epochs=1, verbose=0, callbacks=[scales])
    got = {**c.weights(model), "scales": np.array(scales.scales)}
    save(out, "amp_skip", {**got, **{f"spread_{k}": v for k, v in spread(got).items()}})


SCENARIOS = {"equivalence": equivalence, "amp": amp, "collectives": collectives, "unused": unused,
             "no_sync": no_sync, "batchnorm": batchnorm, "rank_zero": rank_zero,
             "resume_first": resume_first,
             "exit": lambda out: failure(out, "exit"), "hang": lambda out: failure(out, "hang"),
             "raise": lambda out: failure(out, "raise")}

if __name__ == "__main__":
    dist.init()
    SCENARIOS[sys.argv[1]](sys.argv[2])
