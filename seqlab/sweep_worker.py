"""What a sweep's pool worker needs before its first point, imported once in the forkserver that forks
the workers (``seqlab.sweep.worker_context`` preloads it there, through seqlab/pool_server.py).

A worker that imported these itself spent ≈ 2.5 s of CPU before its first step: torch (≈ 1.3 s), seqlab
(≈ 0.25 s) and ``torch._dynamo`` (≈ 1.1 s, imported by the first ``optimizer.step``, which torch wraps in
``torch._disable_dynamo``). On a 2-core box that is two cores' worth of the sweep's first seconds, paid
again by each new pool after a worker dies. Forked from this server a worker starts with them loaded.

The server is pinned to one OpenMP/MKL thread before torch is imported: the workers run one thread
each (see seqlab/sweep.py), and a forked child must not inherit a thread pool sized for the machine.
Measured here (torch 2.13, CPU): the same LSTM point takes the same CPU time per step in a worker
forked from this server as in one that imported torch itself (1.5–2.2 s either way, machine loaded).
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"  # this process only forks workers, each of them one thread
os.environ["MKL_NUM_THREADS"] = "1"

import torch  # noqa: E402
import torch._dynamo  # noqa: E402, F401 - see the docstring: the first optimizer step would import it

torch.set_num_threads(1)

from . import store, sweep  # noqa: E402, F401
from .models import registry as _models  # noqa: E402, F401
from .tasks import registry as _tasks  # noqa: E402, F401
from .train import engine  # noqa: E402, F401
