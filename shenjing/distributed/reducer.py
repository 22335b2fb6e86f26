"""Gradient averaging across ranks: buckets, all-reduced while the backward pass runs.

The parameters are packed into flat buckets of about ``bucket_cap_mb``, in the order backward
produces their gradients (reverse definition order at first; from the second step on, the
order rank 0 observed in the first).  A gradient hook on every parameter copies its gradient
into its slot; when a bucket is full it is all-reduced non-blocking (``MPI_Iallreduce`` /
``ncclAllReduce``) while backward goes on with the earlier layers.  Buckets are started
strictly in index order, so every rank posts the same collectives in the same order even when
their gradients arrive differently.

After the last gradient (or at ``finish()``) each gradient becomes

    p.grad = (1/W) · Σ_ranks g_rank          W = world size

where ``g_rank`` is the rank's accumulated ``p.grad``, zero where a rank has none.  Each
bucket carries one flag per parameter (1 if the rank had a gradient), summed along with the
gradients: a parameter no rank has a gradient for keeps ``grad = None`` everywhere.

When the last parameter's hook fires, the reduction completes inside backward (so a plain
optimizer works after ``loss.backward()``).  If some parameter got no gradient on this rank,
``finish()`` completes the round: ``DistributedOptimizer.step()`` and ``fit`` call it.

Cost per step: bytes = 4·(number of parameters) for float32; ring all-reduce time
≈ 2(W-1)/W · bytes / bandwidth + 2(W-1)·latency per bucket, hidden behind backward as far as
the buckets overlap it.  With MPI on CPUs, a posted all-reduce only advances when a rank calls
into MPI; the hooks poll the buckets in flight (``MPI_Testall``) at every gradient.
"""
from __future__ import annotations

import weakref

from ..backend import array_module, to_numpy
from ..tensor import Tensor
from .transport import pick_transport

_OWNERS = weakref.WeakValueDictionary()  # id(parameter) -> the GradientReducer hooked on it


def owner_of(p):
    """The GradientReducer whose hook is on parameter ``p``, or None."""
    return _OWNERS.get(id(p))


def check_bucket_cap(bucket_cap_mb):
    if isinstance(bucket_cap_mb, bool) or not (isinstance(bucket_cap_mb, (int, float))
                                               and bucket_cap_mb > 0):
        raise ValueError(f"bucket_cap_mb must be a number of MiB > 0, got {bucket_cap_mb!r}.")


class _Bucket:
    """A flat buffer [grad_0 | grad_1 | ... | flag_0 flag_1 ...] for a few parameters."""

    def __init__(self, params, xp, dtype):
        self.params = params
        sizes = [p.data.size for p in params]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.buffer = xp.zeros(self.offsets[-1] + len(params), dtype=dtype)
        self.ready = [False] * len(params)
        self.count = 0
        self.handle = None
        self.transport = None

    @property
    def nbytes(self):
        return self.buffer.nbytes

    def reset(self):
        self.ready = [False] * len(self.params)
        self.count, self.handle = 0, None

    def put(self, i, g, prev):
        """Slot ``i`` := the rank's total gradient (``prev`` + this backward's ``g``)."""
        slot = self.buffer[self.offsets[i]:self.offsets[i + 1]].reshape(self.params[i].shape)
        if g is None and prev is None:
            slot[...] = 0
        else:
            slot[...] = g if prev is None else (prev if g is None else prev + g)
        self.buffer[self.offsets[-1] + i] = 0 if g is None and prev is None else 1
        self.ready[i] = True
        self.count += 1

    def averages(self, size):
        """The averaged gradient of each slot (fresh arrays), None where no rank had one."""
        flags = to_numpy(self.buffer[self.offsets[-1]:])
        xp = array_module(self.buffer)
        out = []
        for i, p in enumerate(self.params):
            if flags[i] == 0:
                out.append(None)
                continue
            avg = xp.empty(p.shape, dtype=self.buffer.dtype)
            xp.divide(self.buffer[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape), size,
                      out=avg)
            out.append(avg)
        return out


class GradientReducer:
    """Averages the gradients of ``params`` over the ``world`` (see the module docstring).

    >>> reducer = GradientReducer(list(model.parameters()), sj.distributed.get_world())
    >>> loss.backward()          # buckets all-reduced during backward
    >>> reducer.finish()         # wait; every p.grad is now the mean over ranks
    """

    def __init__(self, params, world, bucket_cap_mb=1.0, use_nccl=None):
        check_bucket_cap(bucket_cap_mb)
        self.world, self.params = world, [p for p in params if p.requires_grad]
        self._cap, self._use_nccl, self._handles = bucket_cap_mb * 2 ** 20, use_nccl, []
        self._arrange(self.params[::-1])
        self._seen = []  # parameter indices in the order their gradients came (first round)
        self.require_sync, self.closed, self.ordered = True, False, False
        self._open, self._fresh, self._ready, self._next = False, False, 0, 0
        for p in self.params:
            self._handles.append(p.register_hook(self._hook_for(p)))
            _OWNERS[id(p)] = self

    def _arrange(self, order):
        """Pack the parameters into buckets in ``order`` (the order gradients arrive)."""
        self.buckets = _make_buckets(order, self._cap)
        self._slot = {}
        for b in self.buckets:
            b.transport = pick_transport(self.world, b.buffer, self._use_nccl)
            for i, p in enumerate(b.params):
                self._slot[id(p)] = (b, i)

    def _reorder(self):
        """After the first round: buckets in the order rank 0 saw the gradients arrive
        (PyTorch DDP rebuilds its buckets likewise), so the first bucket fills first.  The
        parameters start in reverse definition order, but a model's last Dense layer may get
        its gradient at the very end of backward, which would hold every bucket back."""
        index = {id(p): i for i, p in enumerate(self.params)}
        seen = self.world.broadcast_object([index[id(p)] for p in self._seen], 0)
        self._seen = []
        if not seen:  # rank 0 saw no hooked gradient (reduced at finish): next time
            return
        rest = [p for p in self.params[::-1] if index[id(p)] not in set(seen)]
        self._arrange([self.params[i] for i in seen] + rest)
        self.ordered = True

    def __repr__(self):
        size = sum(b.nbytes for b in self.buckets) / 2 ** 20
        return (f"GradientReducer({len(self.params)} parameters in {len(self.buckets)} "
                f"buckets, {size:.2f} MiB, world size {self.world.size})")

    def close(self):
        """Remove the gradient hooks (the parameters go back to plain local gradients)."""
        for h in self._handles:
            h.remove()
        for p in self.params:
            if _OWNERS.get(id(p)) is self:
                del _OWNERS[id(p)]
        self._handles, self.closed = [], True

    @property
    def pending(self) -> bool:
        """True while a backward pass has started a reduction that ``finish`` must complete."""
        return self._open

    def mark_stale(self):
        """The gradients changed outside backward (e.g. ``zero_grad``): ``finish`` re-reads."""
        self._fresh = False

    # ------------------------------------------------------------------ the hooks
    def _hook_for(self, p):
        def hook(grad):
            return self._on_grad(p, grad.data)
        return hook

    def _on_grad(self, p, g):
        if not self.require_sync or self.world.size == 1:
            self._fresh = False  # no_sync(): local gradients that finish() must reduce
            return None
        bucket, i = self._slot[id(p)]
        if self._open and bucket.ready[i]:  # a second backward before finish(): settle the
            self.finish()                   # first, then start a new round
        if not self._open:
            self._begin()
        bucket.put(i, g, None if p.grad is None else p.grad.data)
        if not self.ordered:
            self._seen.append(p)
        self._ready += 1
        self._start_ready_buckets()
        if self._ready == len(self.params):
            return self._complete(last=p)
        self._progress()
        return None

    def _begin(self):
        for b in self.buckets:
            b.reset()
        self._open, self._fresh, self._ready, self._next = True, False, 0, 0

    def _start_ready_buckets(self):
        buckets = self.buckets
        while self._next < len(buckets) and buckets[self._next].count == len(
                buckets[self._next].params):
            b = buckets[self._next]
            b.handle = b.transport.start(b.buffer)
            self._next += 1

    def _progress(self):
        started = [b for b in self.buckets[:self._next] if b.handle is not None]
        if started:
            started[0].transport.test([b.handle for b in started])

    # ------------------------------------------------------------------ completing
    def finish(self):
        """Complete the round: gradients not yet in a bucket are read from ``p.grad`` (zero
        where None), every bucket is reduced, and each ``p.grad`` becomes the average.

        A no-op when the last backward already completed it; without any hooked backward
        since the last ``finish``/``mark_stale``, all gradients are read and reduced now.
        """
        if self.world.size == 1 or (not self._open and self._fresh):
            return
        if not self._open:
            self._begin()
        for b in self.buckets:
            for i, p in enumerate(b.params):
                if not b.ready[i]:
                    b.put(i, None, None if p.grad is None else p.grad.data)
        self._start_ready_buckets()
        self._complete(last=None)

    def _complete(self, last):
        """Wait for every bucket and write the averages; ``last``'s is returned instead (its
        hook is running: backward then stores the returned array as its gradient)."""
        started = [b for b in self.buckets if b.handle is not None]
        if started:
            nbytes = sum(b.nbytes for b in started)
            started[0].transport.wait([b.handle for b in started],
                                      f"gradient all-reduce ({nbytes / 1e6:.2f} MB in "
                                      f"{len(started)} buckets)")
        out = None
        size = self.world.size
        for b in self.buckets:
            b.transport.finish(b.handle)
            for p, avg in zip(b.params, b.averages(size)):
                if p is last:
                    p.grad, out = None, avg
                elif avg is not None:
                    p.grad = Tensor._wrap(avg)
        self._open, self._fresh = False, True
        if not self.ordered:
            self._reorder()
        return out


def _make_buckets(params, cap_bytes):
    """Consecutive parameters of one dtype and device, about ``cap_bytes`` per bucket."""
    buckets, group, key, size = [], [], None, 0
    for p in params:
        k = (array_module(p.data).__name__, str(p.data.dtype), _device(p.data))
        if group and (k != key or size + p.data.nbytes > cap_bytes):
            buckets.append(_Bucket(group, array_module(group[0].data), group[0].data.dtype))
            group, size = [], 0
        group.append(p)
        key, size = k, size + p.data.nbytes
    if group:
        buckets.append(_Bucket(group, array_module(group[0].data), group[0].data.dtype))
    return buckets


def _device(a):
    dev = getattr(a, "device", None)
    return getattr(dev, "id", None) if not isinstance(dev, str) else dev
