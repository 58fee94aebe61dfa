from .base import IGNORE, Baseline, Batch, Task, TaskSpec
from .registry import TASKS, make_task, task_class

__all__ = ["IGNORE", "TASKS", "Baseline", "Batch", "Task", "TaskSpec", "make_task", "task_class"]
