"""seqlab: train the history of neural sequence models live, and look inside while they learn."""

from .config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from .errors import ConfigError, SeqlabError

__version__ = "0.1.0"
__all__ = ["ConfigError", "ModelConfig", "RunConfig", "SeqlabError", "TaskConfig", "TrainConfig"]
