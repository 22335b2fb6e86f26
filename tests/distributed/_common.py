"""What the MPI worker and the single-process references share: data, models, loops, mpirun."""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys

import numpy as np

import shenjing as sj
from shenjing import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
STEPS, GLOBAL_BATCH = 5, 64
N_FIT = 1792  # digits samples used by the fit tests: 28 batches of 64, even over 2 ranks


def digits(folder=None):
    """The 8x8 digits (1,797 samples, 64 features, float32; labels int64), read from
    ``folder/digits.npz`` when there (importing scikit-learn in every rank takes seconds)."""
    path = os.path.join(folder, "digits.npz") if folder else None
    if path and os.path.exists(path):
        with np.load(path) as data:
            return data["x"], data["y"]
    return _sklearn_digits()


@functools.lru_cache(maxsize=1)
def _sklearn_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def cache_digits(folder):
    """Write ``folder/digits.npz`` for the ranks to read."""
    x, y = digits()
    np.savez(os.path.join(folder, "digits.npz"), x=x, y=y)


def mlp(seed=0, batchnorm=False):
    """The digits MLP: 64 → 32 (relu) → 10 logits; all weights made at once (input_dim)."""
    sj.manual_seed(seed)
    layers = [nn.Dense(32, input_dim=64, activation="relu")]
    if batchnorm:
        layers.append(nn.BatchNorm1d(32))
    return sj.Sequential([*layers, nn.Dense(10, input_dim=32)])


def make_optimizer(name, params):
    if name == "sgd":
        return sj.optim.SGD(params, lr=0.5, momentum=0.9)
    return sj.optim.Adam(params, lr=0.01)


def loss_fn(model, x, y):
    return sj.nn.functional.cross_entropy(model(sj.tensor(x)), sj.tensor(y))


def manual_steps(model, opt, x, y, lo=0, hi=GLOBAL_BATCH, steps=STEPS):
    """``steps`` updates; step k uses rows [k·64 + lo, k·64 + hi) of (x, y)."""
    for k in range(steps):
        rows = slice(k * GLOBAL_BATCH + lo, k * GLOBAL_BATCH + hi)
        loss = loss_fn(model, x[rows], y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return weights(model)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def compiled_mlp(seed=0, batchnorm=False, opt="sgd"):
    model = mlp(seed, batchnorm)
    optimizer = sj.optim.SGD(lr=0.3, momentum=0.9) if opt == "sgd" else sj.optim.Adam(lr=0.01)
    model.compile(optimizer, sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


# ---------------------------------------------------------------------- launching
def mpirun_missing():
    """Why the MPI tests cannot run here, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'shenjing[mpi]')"
    if shutil.which("mpirun") is None:
        return "mpirun is not on PATH (apt-get install openmpi-bin libopenmpi-dev)"
    return None


def mpirun(scenario, out_dir, n=2, timeout=180, env=None, argv=None, options=()):
    """Run ``_worker.py scenario out_dir`` (or ``python *argv``) on ``n`` ranks; returns the
    CompletedProcess.  ``options``: more ``mpirun`` options.

    Open MPI refuses to run as root unless told; that permission is given here, for the
    tests only.  One BLAS thread per rank (2 cores).
    """
    full_env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1",
                "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1",
                "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
                "SHENJING_DISTRIBUTED_TIMEOUT": "60", **(env or {})}
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", "--bind-to", "none", *options,
           sys.executable,
           *(argv or [WORKER, scenario, str(out_dir)])]
    # a session of its own: on a timeout, mpirun and the ranks it started are ended
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=ROOT, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # mpirun passes SIGTERM on to its ranks
        try:
            proc.communicate(timeout=15)
        finally:
            _kill_session(proc.pid)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_session(sid):
    """SIGKILL what is left of the session ``sid`` (ranks run in process groups of their
    own, so killing mpirun's group would miss them)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after the name: state, ppid, pgrp, session
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass
