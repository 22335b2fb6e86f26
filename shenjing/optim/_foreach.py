"""Multi-tensor ("foreach") optimizer steps: one ``update`` call over flat buffers.

The parameters of a group that share dtype and device form a *bucket*.  Its weights live
in one flat array ``w`` (each ``p.data`` becomes a reshaped view of it), its gradients are
gathered into one flat array ``g`` (a single ``concatenate``), and its state (``exp_avg``,
``momentum_buffer``, ...) in flat arrays whose per-parameter slices are what
``opt.state[p]`` holds.  The optimizer's own elementwise ``update(w, g, state, group)`` then
runs once on the flat arrays: a fixed number of array operations per step whatever the
number of parameters (one kernel each on the GPU), with the very same arithmetic, so the
numbers are bit for bit those of the per-parameter loop.

Validity, checked at every step (identity tests only):

* someone replaced ``p.data`` (``Module.to``, ``gradcheck``, a user) -> the flat weight
  buffer is rebuilt from the current arrays, and ``p.data`` re-pointed at its view;
* the per-parameter states are not the bucket's (``load_state_dict``, a per-parameter step
  in between) -> the flat state is rebuilt from them, or the bucket falls back to the
  per-parameter loop for this step when they cannot be fused (different step counts);
* a different set of parameters has gradients this step -> a new plan of buckets.

On the CPU (NumPy) only parameters of at most ``CPU_FUSE_MAX_SIZE`` elements are fused by
default: for a large tensor the Python overhead of its own update is negligible and the
gather would be one more pass over memory (measurements in docs/performance.md).
"""
from __future__ import annotations

from ..backend import array_module

CPU_FUSE_MAX_SIZE = 1 << 13  # elements; larger NumPy parameters keep their own update
CPU_BUCKET_SIZE = 1 << 16  # elements per fused NumPy bucket (its arrays stay in cache)


def step_group(opt, index, group, active, clip, scale):
    """Fused update of ``active`` (the group's parameters with a gradient); returns the
    parameters left for the per-parameter loop."""
    key = tuple(map(id, active))
    cached = opt._foreach_plans.get(index)
    if cached is None or cached[0] != key:
        cached = opt._foreach_plans[index] = (key, _plan(active, opt.foreach is True))
    buckets, rest = cached[1]
    left = list(rest)
    for bucket in buckets:
        if not bucket.step(opt, group, clip, scale):
            left.extend(bucket.params)
            bucket.sdicts = None  # the per-parameter loop changes the states: re-read them
            if bucket.stale:  # a dtype or device changed: plan again next step
                opt._foreach_plans.pop(index, None)
    return left


def _plan(active, fuse_all):
    """(buckets, rest): parameters grouped by array type and dtype.  On the CPU (unless
    ``fuse_all``) only the small ones, in buckets of at most ``CPU_BUCKET_SIZE`` elements
    so that each pass of the update stays in cache; a bucket of one parameter gains
    nothing."""
    groups, rest = {}, []
    for p in active:
        data = p.data
        on_cpu = array_module(data).__name__ == "numpy"
        if fuse_all or not on_cpu or data.size <= CPU_FUSE_MAX_SIZE:
            limit = CPU_BUCKET_SIZE if on_cpu and not fuse_all else float("inf")
            groups.setdefault((type(data), data.dtype, limit), []).append(p)
        else:
            rest.append(p)
    buckets = []
    for (_, _, limit), params in groups.items():
        for chunk in _chunks(params, limit):
            if len(chunk) > 1:
                buckets.append(FlatBucket(chunk))
            else:
                rest.extend(chunk)
    return buckets, rest


def _chunks(params, limit):
    """Consecutive runs of ``params`` of at most ``limit`` elements in all (or one)."""
    chunk, total = [], 0
    for p in params:
        if chunk and total + p.data.size > limit:
            yield chunk
            chunk, total = [], 0
        chunk.append(p)
        total += p.data.size
    if chunk:
        yield chunk


class FlatBucket:
    """Parameters of one dtype and device whose weights, gradients and state are flat."""

    def __init__(self, params):
        self.params = params
        self.shapes = [p.data.shape for p in params]
        bounds, start = [], 0
        for p in params:
            bounds.append((start, start + p.data.size))
            start += p.data.size
        self.bounds, self.dtype, self.kind = bounds, params[0].data.dtype, type(params[0].data)
        self.g = array_module(params[0].data).empty(start, self.dtype)
        self.w = self.w_views = None
        self.flat, self.arrays, self.sdicts = {}, {}, None
        self.stale = False

    @property
    def xp(self):
        """The array module of the buffers (not stored: a module cannot be deep-copied)."""
        return array_module(self.g)

    def views(self, flat):
        return [flat[a:b].reshape(s) for (a, b), s in zip(self.bounds, self.shapes)]

    def step(self, opt, group, clip, scale):
        """One fused update; False (nothing changed) when it cannot be fused this step."""
        dtype = self.dtype
        grads = [p.grad.data for p in self.params]
        if clip:
            grads = [opt._clip(g, scale) for g in grads]
        if any(g.dtype != dtype or (type(g) is not self.kind and array_module(g) is not self.xp)
               for g in grads):  # (a 0-d result of a ufunc is a NumPy scalar)
            return False
        w = self.weights()
        if w is None:
            return False
        flat = self.state_in([opt.state[p] for p in self.params])
        if flat is None:
            return False
        g = self.xp.concatenate([g.reshape(-1) for g in grads], out=self.g)
        opt.update(w, g, flat, group)
        self.state_out()
        return True

    def weights(self):
        """The flat weight buffer, (re)built when a parameter's ``.data`` was replaced."""
        params, views = self.params, self.w_views
        if views is not None and all(p.data is v for p, v in zip(params, views)):
            return self.w
        if any(type(p.data) is not self.kind or p.data.dtype != self.dtype
               or p.data.shape != s for p, s in zip(params, self.shapes)):
            self.stale = True
            return None
        self.w = self.xp.concatenate([p.data.reshape(-1) for p in params])
        self.w_views = self.views(self.w)
        for p, v in zip(params, self.w_views):
            p.data = v
        return self.w

    def state_in(self, sdicts):
        """The flat state, rebuilt from the per-parameter states unless they are the
        bucket's own; None (fall back) when they differ in keys or scalars (step counts)."""
        if self.sdicts is not None and all(a is b for a, b in zip(sdicts, self.sdicts)):
            return self.flat
        self.sdicts = None
        first = sdicts[0]
        scalars = {k: v for k, v in first.items() if not hasattr(v, "shape")}
        for s in sdicts:
            if s.keys() != first.keys() or any(s[k] != v for k, v in scalars.items()):
                return None
            if any(type(v) is not self.kind or v.dtype != self.dtype
                   for k, v in s.items() if k not in scalars):
                return None
        flat, arrays = dict(scalars), {}
        for k in first.keys() - scalars.keys():
            flat[k] = self.xp.concatenate([s[k].reshape(-1) for s in sdicts])
        self.flat, self.arrays, self.sdicts = flat, arrays, list(sdicts)
        self.state_out()
        return flat

    def state_out(self):
        """Share the flat state with the per-parameter dicts: views of (new) arrays, and
        the scalars (step counts) copied into each."""
        for k, v in self.flat.items():
            if hasattr(v, "shape"):
                if self.arrays.get(k) is not v:
                    self.arrays[k] = v
                    for s, view in zip(self.sdicts, self.views(v)):
                        s[k] = view
            else:
                for s in self.sdicts:
                    s[k] = v
