from .base import Cost, ModelInfo, ModelOutput, SeqModel
from .registry import MODELS, build_model, check_compatible, incompatibility, model_class

__all__ = [
    "MODELS",
    "Cost",
    "ModelInfo",
    "ModelOutput",
    "SeqModel",
    "build_model",
    "check_compatible",
    "incompatibility",
    "model_class",
]
