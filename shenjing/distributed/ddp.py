"""Data parallelism: the same model on every rank, each on its own shard, gradients averaged.

Two ways in, which can be combined:

``DistributedOptimizer(opt)`` (Horovod style) turns an optimizer into one whose ``step()``
first averages the gradients over all ranks.  It changes the optimizer in place and returns
it, so ``model.compile(optimizer=DistributedOptimizer(sj.optim.Adam(1e-3)), ...)`` and
``fit`` work unchanged, and ``state_dict()`` stays the plain optimizer's.  Parameters it gets
(``bind``/``add_param_group``) are broadcast from rank 0 first, so all ranks start equal.

``DistributedDataParallel(model)`` (PyTorch style) wraps a model: its first forward builds the
model, broadcasts rank 0's weights and buffers, and hooks every parameter so that
``loss.backward()`` leaves the averaged gradient in ``p.grad`` (bucketed all-reduce
overlapped with backward; see ``reducer``).  Any optimizer then works in a manual loop; the
wrapper is a ``Model``, so ``compile``/``fit`` work too (``fit`` shards the data, see
``distributed.fit``).  ``state_dict`` names are the wrapped model's (no ``module.`` prefix).

    model = sj.distributed.DistributedDataParallel(net)
    opt = sj.optim.SGD(model.parameters(), lr=0.1)      # after the first forward
    for xb, yb in loader:                                # loader with a DistributedSampler
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()

Batch norm: each rank normalises with its own batch's statistics (as PyTorch DDP without
SyncBatchNorm); ``sync_buffers`` averages the running mean/variance over the ranks, and
``fit`` calls it before validation and at each epoch end, so every rank evaluates and saves
the same model.
"""
from __future__ import annotations

import contextlib

from ..autograd import enable_grad, is_grad_enabled, no_grad
from ..backend import array_module
from ..nn.module import Module
from ..optim import Optimizer
from ..optim import get as get_optimizer
from ..train.model import Model
from .reducer import GradientReducer, check_bucket_cap, owner_of
from .world import get_world

__all__ = ["DistributedDataParallel", "DistributedOptimizer", "broadcast_state",
           "broadcast_optimizer_state", "sync_buffers"]


# ---------------------------------------------------------------------- state helpers
def _flat_collective(tensors, fn):
    """Apply ``fn(flat) -> flat`` to the tensors' data packed per dtype; write results back."""
    groups = {}
    for t in tensors:
        groups.setdefault((str(t.data.dtype), array_module(t.data).__name__), []).append(t)
    for ts in groups.values():
        xp = array_module(ts[0].data)
        flat = fn(xp.concatenate([t.data.reshape(-1) for t in ts]))
        start = 0
        for t in ts:
            t.data[...] = flat[start:start + t.data.size].reshape(t.data.shape)
            start += t.data.size


def broadcast_state(module, root=0, world=None):
    """Overwrite every parameter and buffer of ``module`` with rank ``root``'s values.

    One broadcast per dtype (about n/bandwidth + log2(W)·latency for n bytes).
    """
    world = world or get_world()
    if world.size > 1:
        tensors = [t for _, t, _ in module._walk()]
        _flat_collective(tensors, lambda flat: world.broadcast(flat, root))


def sync_buffers(module, world=None):
    """Average the floating-point buffers (batch-norm running mean/var) over the ranks, and
    give the others (counters) rank 0's values, so every rank holds the same model."""
    world = world or get_world()
    if world.size == 1:
        return
    buffers = list(module.buffers())
    floats = [b for b in buffers if b.data.dtype.kind == "f"]
    others = [b for b in buffers if b.data.dtype.kind != "f"]
    _flat_collective(floats, lambda flat: world.all_reduce(flat, "mean").astype(flat.dtype))
    _flat_collective(others, lambda flat: world.broadcast(flat, 0))


def broadcast_optimizer_state(optimizer, root=0, world=None):
    """Give every rank rank ``root``'s optimizer state (moments, step counts, lr), e.g. after
    only rank 0 loaded a checkpoint.  The optimizer must be bound to its parameters."""
    world = world or get_world()
    if world.size > 1:
        state = world.broadcast_object(optimizer.state_dict(), root)
        if world.rank != root:
            optimizer.load_state_dict(state)


# ---------------------------------------------------------------------- the optimizer
class _DistributedMixin:
    """Methods put in front of an optimizer's own (see ``DistributedOptimizer``)."""

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        new = self.param_groups[-1]["params"]
        world = self._dist["world"]
        if world.size > 1:  # every rank starts from rank 0's values
            _flat_collective(new, lambda flat: world.broadcast(flat, 0))

    def zero_grad(self, set_to_none=True):
        super().zero_grad(set_to_none)
        for r in self._reducers():  # hooks in place before the backward that follows
            r.mark_stale()

    def synchronize(self):
        """Complete the averaging now, so every ``p.grad`` is the mean over the ranks (as
        Horovod's).  With loss scaling, call it before ``scaler.step(opt)``: the inf/NaN
        check then reads the averaged gradients, the same on every rank, so all ranks skip
        or step together (``fit`` does this); ``step`` does not average again."""
        for r in self._reducers():
            r.finish()

    def step(self, closure=None):
        """Average the gradients over all ranks, then the optimizer's own step."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self.synchronize()
        super().step()
        return loss

    def _reducers(self):
        """The reducers hooked on this optimizer's parameters (creating one for those that
        have none), in parameter order, so every rank finishes them in the same order."""
        d = self._dist
        if d["world"].size == 1:
            return []
        params = [p for p in self._parameters() if p.requires_grad]
        own = d["own"]
        loose = [p for p in params if owner_of(p) is None or owner_of(p) is own]
        if own is not None and (own.closed or [id(p) for p in own.params] != [id(p) for p in
                                                                               loose]):
            own.close()
            d["own"] = None
        if loose and d["own"] is None:
            d["own"] = GradientReducer(loose, d["world"], d["bucket_cap_mb"], d["use_nccl"])
        owners = []
        for p in params:
            r = owner_of(p)
            if r is not None and r not in owners:
                owners.append(r)
        return owners


_CLASSES = {}


def DistributedOptimizer(optimizer, bucket_cap_mb=1.0, use_nccl=None, world=None):  # noqa: N802
    """Make ``optimizer`` average gradients over all ranks before each ``step()``.

    Returns the same object, changed in place (its class gains the distributed step; its
    hyperparameters, state and ``state_dict`` are untouched).  Already-bound parameters are
    broadcast from rank 0 now; parameters bound later, when they are bound.  Gradients are
    hooked and all-reduced in buckets of ``bucket_cap_mb`` MiB during backward when the
    optimizer is bound before the backward pass (``zero_grad`` is enough), else at ``step``.
    ``use_nccl``: None → NCCL for GPU gradients when CuPy has it.  A name (``"adam"``) is
    accepted for ``optimizer``.  In a world of one it changes nothing.

    >>> opt = sj.distributed.DistributedOptimizer(sj.optim.SGD(model.parameters(), lr=0.1))
    >>> opt.zero_grad(); loss.backward(); opt.step()     # mean gradient over the ranks
    """
    optimizer = get_optimizer(optimizer)
    check_bucket_cap(bucket_cap_mb)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"DistributedOptimizer expects an sj.optim optimizer, got "
                        f"{type(optimizer).__name__}.")
    world = world or get_world()
    if isinstance(optimizer, _DistributedMixin):
        optimizer._dist.update(bucket_cap_mb=bucket_cap_mb, use_nccl=use_nccl)
        return optimizer
    cls = type(optimizer)
    if cls not in _CLASSES:
        _CLASSES[cls] = type(cls.__name__, (_DistributedMixin, cls),
                             {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                              "__doc__": cls.__doc__})
    optimizer._dist = {"world": world, "own": None, "bucket_cap_mb": bucket_cap_mb,
                       "use_nccl": use_nccl}
    optimizer.__class__ = _CLASSES[cls]
    params = list(optimizer._parameters())
    if params and world.size > 1:
        _flat_collective(params, lambda flat: world.broadcast(flat, 0))
    return optimizer


# ---------------------------------------------------------------------- the model wrapper
class DistributedDataParallel(Model):
    """Wrap ``module`` for data-parallel training (see the module docstring).

    ``bucket_cap_mb``: gradient bucket size in MiB (smaller: earlier overlap, more messages).
    ``use_nccl``: None → NCCL for GPU gradients when available, False → MPI.

    >>> model = sj.distributed.DistributedDataParallel(sj.models.resnet20())
    >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(x, y, batch_size=128, epochs=5)   # each rank trains on its shard
    """

    def __init__(self, module, bucket_cap_mb=1.0, use_nccl=None, world=None):
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an sj.nn.Module, got "
                            f"{type(module).__name__}.")
        super().__init__(name=f"ddp_{module.name}")
        self.module = module
        self.world = world or get_world()
        self.bucket_cap_mb, self.use_nccl = bucket_cap_mb, use_nccl
        self.reducer, self._key = None, None
        check_bucket_cap(bucket_cap_mb)

    def _walk(self, prefix="", recurse=True, memo=None):
        # parameter and buffer names are the wrapped model's: checkpoints interchange
        return self.module._walk(prefix, recurse, memo)

    def forward(self, *args, **kwargs):
        if self.world.size > 1:
            self._prepare(args, kwargs)
        return self.module(*args, **kwargs)

    def _prepare(self, args, kwargs):
        if not all(m.built for m in self.module.modules()):
            was_training = self.module.training
            self.module.eval()
            try:
                with no_grad():
                    self.module(*args, **kwargs)  # lazy layers create their weights
            finally:
                self.module.train(was_training)
        key = [id(p) for p in self.module.parameters() if p.requires_grad]
        if key != self._key:
            self.broadcast_state()
            if self.reducer is not None:
                self.reducer.close()
            params = [p for p in self.module.parameters() if p.requires_grad]
            for p in params:  # take over from an optimizer's own reducer
                if owner_of(p) is not None:
                    owner_of(p).close()
            self.reducer = GradientReducer(params, self.world, self.bucket_cap_mb,
                                           self.use_nccl)
            self._key = key
        elif self.reducer.pending and self.training and is_grad_enabled():
            raise RuntimeError(
                "DistributedDataParallel: the last backward pass left some parameters without "
                "a gradient on this rank, so their averaging was not completed before the "
                "optimizer stepped and the ranks may now differ. Call model.synchronize() "
                "between loss.backward() and opt.step(), or use "
                "sj.distributed.DistributedOptimizer(opt), whose step() completes it.")

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                mixed_precision=False):
        """As ``Model.compile``; the optimizer is made a ``DistributedOptimizer``."""
        super().compile(optimizer, loss, metrics, loss_weights, mixed_precision)
        DistributedOptimizer(self.optimizer, self.bucket_cap_mb, self.use_nccl, self.world)
        return self

    def fit(self, x=None, y=None, **kwargs):
        """``sj.distributed.fit(self, x, y, ...)``: shards the data over the ranks."""
        from .training import fit  # noqa: PLC0415  (training imports this module)

        return fit(self, x, y, **kwargs)

    def synchronize(self):
        """Complete the gradient averaging of the last backward (a no-op when it completed
        during backward, which it does whenever every parameter got a gradient)."""
        if self.reducer is not None:
            self.reducer.finish()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside keep local gradients (accumulation); the next backward
        outside averages the accumulated sum, as PyTorch's ``no_sync``.

        >>> with model.no_sync():
        ...     loss_fn(model(x1), y1).backward()
        >>> loss_fn(model(x2), y2).backward()        # averages the sum of both
        """
        reducer = self.reducer
        if reducer is None:
            yield
            return
        previous, reducer.require_sync = reducer.require_sync, False
        try:
            yield
        finally:
            reducer.require_sync = previous

    def broadcast_state(self, root=0):
        """Give every rank rank ``root``'s weights and buffers."""
        broadcast_state(self.module, root, self.world)

    def sync_buffers(self):
        """Average batch-norm running statistics over the ranks (see ``sync_buffers``)."""
        sync_buffers(self.module, self.world)

    def extra_repr(self):
        return f"world_size={self.world.size}, bucket_cap_mb={self.bucket_cap_mb}"
