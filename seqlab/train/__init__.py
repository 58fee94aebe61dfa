from .engine import Trainer, train
from .observers import Observer
from .records import EvalRecord, RunResult, StepRecord

__all__ = ["EvalRecord", "Observer", "RunResult", "StepRecord", "Trainer", "train"]
