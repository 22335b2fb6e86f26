"""The process world: which rank am I, how many are we, and the collectives between us.

The transport is MPI through ``mpi4py`` (Open MPI, MPICH, ...), read from the environment that
``mpirun`` gives each process.  A process not started by an MPI launcher is a world of one
(rank 0 of 1) in which every collective is the identity, so the same script runs with
``python train.py`` and with ``mpirun -n 4 python train.py``.

    import shenjing.distributed as dist
    dist.init()                       # optional: every function below calls it on first use
    print(dist.rank(), "of", dist.world_size())
    total = dist.all_reduce(np.array([1.0]), op="sum")     # [world_size]

Every wait is bounded: collectives are posted non-blocking (``Iallreduce``, ``Ibcast``,
``Ibarrier``) and polled until ``timeout`` seconds (``SHENJING_DISTRIBUTED_TIMEOUT``, default
600); then ``DistributedTimeoutError`` is raised.  Under MPI, ``init`` also makes a failure on
one rank end the whole job instead of leaving the others waiting: an uncaught exception calls
``MPI_Abort`` after printing its traceback, and a SIGTERM from the launcher (``mpirun`` kills
the survivors when a rank dies) prints which rank stopped and why before exiting.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

__all__ = ["DistributedError", "DistributedTimeoutError", "World", "init", "get_world",
           "is_initialized", "rank", "world_size", "local_rank", "barrier", "all_reduce",
           "broadcast", "broadcast_object"]

# Variables an MPI launcher sets in each process (Open MPI, PMI-1/2 launchers such as
# MPICH's Hydra or srun, PMIx, MVAPICH2).
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")
_LOCAL_RANK_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK",
                    "SLURM_LOCALID")
_DEFAULT_TIMEOUT = 600.0
_OPS = ("sum", "mean", "max", "min", "prod")
_world = None


class DistributedError(RuntimeError):
    """A distributed job cannot go on (a rank failed, or the world is misconfigured)."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete in time: another rank has died or is stuck."""


def launched_by_mpi() -> bool:
    """True when an MPI launcher (``mpirun``, ``mpiexec``, ``srun``) started this process."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _env_timeout():
    text = os.environ.get("SHENJING_DISTRIBUTED_TIMEOUT", "").strip()
    if not text:
        return _DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"SHENJING_DISTRIBUTED_TIMEOUT must be a number of seconds > 0, "
                         f"got {text!r}.")
    return value


class World:
    """The processes of one job: ``rank``, ``size`` and bounded-time collectives.

    ``comm`` is an ``mpi4py`` communicator, or None for the world of one.  ``timeout`` bounds
    every wait, in seconds.  Costs (ring algorithms, p ranks, n bytes, bandwidth B, latency
    a): all_reduce ≈ 2(p-1)/p·n/B + 2(p-1)·a; broadcast ≈ n/B + log2(p)·a.
    """

    def __init__(self, comm=None, timeout=_DEFAULT_TIMEOUT):
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"the distributed timeout must be a number of seconds > 0, got "
                             f"{timeout!r}.")
        self.comm, self.timeout = comm, float(timeout)
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.MPI = None
        if comm is not None:
            from mpi4py import MPI  # noqa: PLC0415  (optional dependency)

            self.MPI = MPI

    def __repr__(self):
        kind = "no MPI" if self.comm is None else "MPI"
        return f"World(rank={self.rank}, size={self.size}, {kind}, timeout={self.timeout:g}s)"

    # ------------------------------------------------------------------ waiting
    def wait(self, requests, what="a collective"):
        """Complete the MPI ``requests``, polling until ``timeout``; then raise.

        Spins for the first millisecond (short collectives), then sleeps between polls
        (50 µs growing to 2 ms) so a waiting rank does not steal a core from compute.
        """
        requests = [r for r in requests if r is not None]
        if not requests:
            return
        test_all = self.MPI.Request.Testall
        start = time.monotonic()
        pause = 0.0
        while not test_all(requests):
            now = time.monotonic()
            if now - start > self.timeout:
                raise self.timeout_error(what)
            if now - start > 1e-3:
                pause = min(max(pause * 2, 5e-5), 2e-3)
                time.sleep(pause)

    def timeout_error(self, what):
        return DistributedTimeoutError(
            f"rank {self.rank} of {self.size}: {what} did not complete within "
            f"{self.timeout:g} s; another rank has probably died, hung or taken a different "
            "code path (every rank must make the same collective calls in the same order). "
            "Raise the limit with init(timeout=...) or SHENJING_DISTRIBUTED_TIMEOUT if a rank "
            "legitimately works alone that long (e.g. rank 0 writing a large checkpoint).")

    # ------------------------------------------------------------------ collectives
    def barrier(self):
        """Return when every rank has called ``barrier()``."""
        if self.size > 1:
            self.wait([self.comm.Ibarrier()], "barrier()")

    def all_reduce(self, array, op="sum"):
        """``op`` (sum, mean, max, min, prod) of ``array`` over all ranks, as a new array."""
        if op not in _OPS:
            raise ValueError(f"all_reduce op must be one of {_OPS}, got {op!r}.")
        xp_array = array
        if self.size == 1:
            return xp_array.copy() if op != "mean" else _divide(xp_array.copy(), 1)
        host = _to_host(array)
        buf = np.ascontiguousarray(host).copy()
        mpi_op = {"sum": self.MPI.SUM, "mean": self.MPI.SUM, "max": self.MPI.MAX,
                  "min": self.MPI.MIN, "prod": self.MPI.PROD}[op]
        self.wait([self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=mpi_op)],
                  f"all_reduce({op}) of {buf.nbytes} bytes")
        if op == "mean":
            buf = _divide(buf, self.size)
        return _like(buf, array)

    def broadcast(self, array, root=0):
        """Rank ``root``'s ``array`` on every rank (same shape and dtype everywhere)."""
        self._check_root(root)
        if self.size == 1:
            return array.copy()
        buf = np.ascontiguousarray(_to_host(array)).copy()
        self.wait([self.comm.Ibcast(buf, root=root)], f"broadcast of {buf.nbytes} bytes")
        return _like(buf, array)

    def broadcast_object(self, obj, root=0):
        """Rank ``root``'s picklable ``obj`` on every rank (sizes first, then the bytes)."""
        self._check_root(root)
        if self.size == 1:
            return obj
        import pickle  # noqa: PLC0415

        data = pickle.dumps(obj) if self.rank == root else b""
        size = self.broadcast(np.array([len(data)], np.int64), root)[0]
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else \
            np.empty(int(size), np.uint8)
        buf = self.broadcast(buf, root)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def _check_root(self, root):
        if not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise ValueError(f"root must be a rank in [0, {self.size}), got {root!r}.")


def _to_host(array):
    return array.get() if type(array).__module__.startswith("cupy") else np.asarray(array)


def _like(host, original):
    """``host`` back on ``original``'s device (CuPy arrays go back to the GPU)."""
    if type(original).__module__.startswith("cupy"):
        import cupy  # noqa: PLC0415

        return cupy.asarray(host)
    return host


def _divide(a, n):
    return a / n if a.dtype.kind == "f" else a / float(n)


# ---------------------------------------------------------------------- the global world
def init(timeout=None, backend="auto", abort_on_error=True):
    """Join the MPI world (or make a world of one) and return it; later calls return it.

    ``backend``: ``"auto"`` uses MPI when an MPI launcher started this process, else a world
    of one; ``"mpi"`` always initialises MPI (mpirun or an MPI singleton); ``"none"`` makes a
    world of one.  ``timeout``: seconds any collective may wait (default
    ``SHENJING_DISTRIBUTED_TIMEOUT`` or 600).  ``abort_on_error``: under MPI with several
    ranks, an uncaught exception aborts the whole job and a SIGTERM says why it came.

    >>> world = sj.distributed.init()
    >>> world.rank, world.size
    (0, 1)
    """
    global _world
    if backend not in ("auto", "mpi", "none"):
        raise ValueError(f"init backend must be 'auto', 'mpi' or 'none', got {backend!r}.")
    timeout = _env_timeout() if timeout is None else timeout
    if _world is not None:
        World(None, timeout)  # validates the value
        _world.timeout = float(timeout)
        return _world
    use_mpi = backend == "mpi" or (backend == "auto" and launched_by_mpi())
    _world = World(_mpi_comm() if use_mpi else None, timeout)
    if abort_on_error and _world.size > 1:
        _install_failure_handlers(_world)
    return _world


def _mpi_comm():
    try:
        from mpi4py import MPI  # noqa: PLC0415
    except ImportError as e:
        raise DistributedError(
            "this process was started by an MPI launcher (mpirun) but mpi4py is not "
            "installed: pip install 'shenjing[mpi]' (it needs the system's MPI, e.g. apt-get "
            "install openmpi-bin libopenmpi-dev).") from e
    return MPI.COMM_WORLD


def _install_failure_handlers(world):
    """Uncaught exception → traceback, then MPI_Abort (others would wait forever);
    SIGTERM (mpirun stopping survivors after a rank died) → a clear line, then exit."""
    previous = sys.excepthook

    def abort_hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        sys.stderr.write(f"shenjing.distributed: rank {world.rank} of {world.size} failed "
                         f"({exc_type.__name__}); aborting all ranks with MPI_Abort.\n")
        sys.stderr.flush()
        world.comm.Abort(1)

    sys.excepthook = abort_hook

    def on_sigterm(signum, frame):
        sys.stderr.write(
            f"shenjing.distributed: rank {world.rank} of {world.size} stopped by "
            f"{signal.Signals(signum).name} from the launcher, most likely because another "
            "rank died (see the launcher's message); resume from the last checkpoint, with "
            "any number of ranks.\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: keep the default action
        pass


def get_world():
    """The current world (initialising it on first use)."""
    return _world if _world is not None else init()


def is_initialized() -> bool:
    return _world is not None


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 without MPI)."""
    return get_world().rank


def world_size() -> int:
    """Number of processes in the job (1 without MPI)."""
    return get_world().size


def local_rank() -> int:
    """Rank among the processes on this machine (picks this rank's GPU), from the launcher."""
    for var in _LOCAL_RANK_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0 if get_world().size == 1 else get_world().rank


def barrier() -> None:
    """Wait until every rank gets here (bounded by the timeout)."""
    get_world().barrier()


def all_reduce(x, op="sum"):
    """``op`` over all ranks of an array or Tensor (a new one; ``x`` is left unchanged).

    ``op``: ``"sum"``, ``"mean"``, ``"max"``, ``"min"`` or ``"prod"``.  Ring cost for n
    bytes on p ranks: 2(p-1)/p·n/bandwidth.

    >>> sj.distributed.all_reduce(np.array([1.0, 2.0]), op="mean")   # same on every rank
    array([1., 2.])
    """
    return _on_tensor_or_array(x, lambda a: get_world().all_reduce(a, op))


def broadcast(x, root=0):
    """Rank ``root``'s array or Tensor, on every rank (a new one)."""
    return _on_tensor_or_array(x, lambda a: get_world().broadcast(a, root))


def broadcast_object(obj, root=0):
    """Rank ``root``'s picklable object on every rank (e.g. a config dict, a seed)."""
    return get_world().broadcast_object(obj, root)


def _on_tensor_or_array(x, fn):
    from ..tensor import Tensor  # noqa: PLC0415  (keep `import world` free of the engine)

    if isinstance(x, Tensor):
        return Tensor._wrap(fn(x.data))
    if not (hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__")):
        x = np.asarray(x)
    return fn(x)
