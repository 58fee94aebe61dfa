"""Stop targets a metric can never reach are refused, with the metric's range in the message."""

import pytest

from seqlab.config import RunConfig, parse_until
from seqlab.errors import ConfigError


@pytest.mark.parametrize(
    ("task", "until", "says"),
    [
        ("copy", "accuracy=2", r"accuracy lies in \[0, 1\]"),
        ("copy", "accuracy<=-0.1", r"accuracy lies in \[0, 1\]"),
        ("copy", "sequence_accuracy=1.0001", r"sequence_accuracy lies in \[0, 1\]"),
        ("adding", "mse=-1", r"mse lies in \[0, ∞\)"),
        ("adding", "loss<=-1e-9", r"loss lies in \[0, ∞\)"),
    ],
)
def test_a_target_outside_the_metrics_range_is_refused_naming_until(task, until, says):
    with pytest.raises(ConfigError, match=says) as e:
        RunConfig.from_flat({"model": "lstm", "task": task, "until": until})
    assert e.value.field == "train.until" and "can never be met" in str(e.value)


@pytest.mark.parametrize("until", ["accuracy=1", "accuracy=0", "mse=0", "loss<=0", "mse=1e300"])
def test_targets_on_the_edge_of_the_range_are_accepted(until):
    metric = until.split("=")[0].rstrip("<>")
    assert parse_until(until).metric == metric
