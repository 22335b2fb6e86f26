"""``sj.distributed``: data-parallel training across processes and machines through MPI.

One process per CPU socket or GPU, started by MPI; each trains the same model on its shard of
the data, and the gradients are averaged after every backward pass (MPI all-reduce through
``mpi4py``, or NCCL through CuPy for GPU gradients).  Without an MPI launcher the world has
one rank and everything here is a no-op, so scripts run unchanged under plain ``python``.

    mpirun -n 2 python train.py

    # train.py
    import shenjing as sj
    import shenjing.distributed as dist
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    dist.fit(model, x, y, batch_size=64, epochs=5)      # = model.fit(..., distributed=True)

Manual loops: ``DistributedDataParallel(model)`` or ``DistributedOptimizer(opt)`` with a
``DataLoader(dataset, sampler=DistributedSampler(dataset))``.  See docs/distributed.md.
"""
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .ddp import (DistributedDataParallel, DistributedOptimizer, broadcast_optimizer_state,
                  broadcast_state, sync_buffers)
from .training import DistributedCallback, fit, rank_zero_only
from .reducer import GradientReducer
from .sampler import DistributedSampler
from .world import (DistributedError, DistributedTimeoutError, World, all_reduce, barrier,
                    broadcast, broadcast_object, get_world, init, is_initialized,
                    launched_by_mpi, local_rank, rank, world_size)

__all__ = ["init", "get_world", "is_initialized", "launched_by_mpi", "rank", "world_size",
           "local_rank", "barrier", "all_reduce", "broadcast", "broadcast_object", "World",
           "DistributedError", "DistributedTimeoutError", "DistributedSampler",
           "DistributedDataParallel", "DistributedOptimizer", "GradientReducer",
           "broadcast_state", "broadcast_optimizer_state", "sync_buffers", "fit",
           "DistributedCallback", "rank_zero_only", "save_checkpoint", "load_checkpoint",
           "Checkpoint"]
