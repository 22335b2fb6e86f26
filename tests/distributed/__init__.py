"""Tests of sj.distributed (MPI data parallelism); see _common.py and _worker.py."""
