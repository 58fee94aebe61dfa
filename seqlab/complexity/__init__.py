from .quick import measure, quick_sweep, saved_activation_bytes

__all__ = ["measure", "quick_sweep", "saved_activation_bytes"]
