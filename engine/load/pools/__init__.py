"""Worker pools behind one interface: in this process, or in worker processes."""

from engine.load.pools.base import Pool
from engine.load.pools.local import LocalPool
from engine.load.pools.process import ProcessPool, worker_main

__all__ = ["LocalPool", "Pool", "ProcessPool", "worker_main"]
