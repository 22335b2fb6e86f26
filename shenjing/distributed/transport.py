"""How a gradient bucket is summed across ranks: MPI on host memory, NCCL on GPU memory.

A transport posts an in-place sum of a flat buffer and lets the caller poll and wait:

    handle = transport.start(buffer)      # non-blocking: MPI_Iallreduce or ncclAllReduce
    transport.test(handles)               # progress; True when all are done
    transport.wait(handles, what)         # bounded by the world's timeout
    transport.finish(handle)              # copy a host-staged result back to the GPU

``pick_transport(world, buffer)`` chooses: NumPy buffers → ``MpiTransport``; CuPy buffers →
``NcclTransport`` when CuPy ships NCCL (``cupy.cuda.nccl``), else ``StagedTransport`` (copy to
host, MPI, copy back).
"""
from __future__ import annotations

import time

from .world import DistributedError

_NCCL = {}  # device id -> NcclTransport (one communicator per GPU and process)


class MpiTransport:
    """``MPI_Iallreduce(MPI_IN_PLACE, buffer, MPI_SUM)`` on host memory."""

    def __init__(self, world):
        self.world = world

    def start(self, buffer):
        return self.world.comm.Iallreduce(self.world.MPI.IN_PLACE, buffer, op=self.world.MPI.SUM)

    def test(self, handles):
        return self.world.MPI.Request.Testall(handles)

    def wait(self, handles, what):
        self.world.wait(handles, what)

    def finish(self, handle):
        pass


class StagedTransport(MpiTransport):
    """GPU buffer without NCCL: copy to host, MPI sum there, copy back in ``finish``."""

    def start(self, buffer):
        host = buffer.get()
        request = super().start(host)
        return _Staged(request, host, buffer)

    def test(self, handles):
        return super().test([h.request for h in handles])

    def wait(self, handles, what):
        super().wait([h.request for h in handles], what)

    def finish(self, handle):
        handle.device.set(handle.host)


class _Staged:
    __slots__ = ("request", "host", "device")

    def __init__(self, request, host, device):
        self.request, self.host, self.device = request, host, device


class NcclTransport:
    """``ncclAllReduce`` in place on a side stream that waits for the gradients' stream.

    The communicator's unique id is made on rank 0 and broadcast over MPI (NCCL's own
    bootstrap).  One GPU per rank: NCCL refuses two ranks on one device.
    """

    def __init__(self, world, device_id):
        import cupy  # noqa: PLC0415  (optional dependency)
        from cupy.cuda import nccl  # noqa: PLC0415

        self.world, self.cupy, self.nccl = world, cupy, nccl
        uid = nccl.get_unique_id() if world.rank == 0 else None
        uid = world.broadcast_object(uid)
        with cupy.cuda.Device(device_id):
            self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
                      "float16": nccl.NCCL_FLOAT16}

    def start(self, buffer):
        cupy = self.cupy
        ready = cupy.cuda.Event()
        ready.record(cupy.cuda.get_current_stream())  # the gradients are written by then
        self.stream.wait_event(ready)
        dtype = self.types.get(str(buffer.dtype))
        if dtype is None:
            raise DistributedError(f"NCCL all-reduce supports float16/32/64 gradients, got "
                                   f"{buffer.dtype}.")
        self.comm.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size, dtype,
                            self.nccl.NCCL_SUM, self.stream.ptr)
        done = cupy.cuda.Event(disable_timing=True)
        done.record(self.stream)
        return done

    def test(self, handles):
        return all(h.done for h in handles)

    def wait(self, handles, what):
        start = time.monotonic()
        while not self.test(handles):
            if time.monotonic() - start > self.world.timeout:
                self.comm.abort()
                raise self.world.timeout_error(what + " (NCCL)")
            time.sleep(1e-4)
        self.cupy.cuda.get_current_stream().wait_event(handles[-1])

    def finish(self, handle):
        pass


def nccl_available() -> bool:
    """True when CuPy with NCCL support is importable."""
    try:
        from cupy.cuda import nccl  # noqa: PLC0415, F401
    except Exception:  # noqa: BLE001  (ImportError, or a CUDA library that fails to load)
        return False
    return True


def pick_transport(world, buffer, use_nccl=None):
    """The transport for ``buffer``'s device (see the module docstring).

    ``use_nccl``: None picks NCCL for GPU buffers when available; False forces host staging.
    """
    if not type(buffer).__module__.startswith("cupy"):
        return MpiTransport(world)
    if use_nccl is None:
        use_nccl = nccl_available()
    if not use_nccl:
        return StagedTransport(world)
    device = buffer.device.id
    if device not in _NCCL:
        _NCCL[device] = NcclTransport(world, device)
    return _NCCL[device]
