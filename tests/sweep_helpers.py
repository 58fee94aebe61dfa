"""Point runners for the sweep tests: module-level so a pool worker can import them by name."""

import os
import signal

from seqlab.sweep import PointJob, run_point


def killed_on_seed_1(job: PointJob) -> dict:
    """Seed 1's worker is killed outright (SIGKILL, as the OOM killer would) as its training starts: no
    Python error, no result. The patch lives only in that worker, which dies with it."""
    if job.flat["seed"] == 1:
        from seqlab.train.engine import Trainer

        Trainer.run = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    return run_point(job)
