"""One reading of a config field for the CLI's flags and the pages' widgets (seqlab.schema)."""

import pytest

from seqlab.cli import build_parser
from seqlab.config import TrainConfig
from seqlab.errors import ConfigError
from seqlab.experiments.fewshot import FewShotConfig
from seqlab.experiments.scaling import ScalingConfig
from seqlab.schema import field_spec, specs


def test_kinds_bounds_and_defaults_are_read_from_the_pydantic_field():
    by_name = {s.name: s for s in specs(ScalingConfig)}
    assert by_name["widths"].kind == "int_list" and by_name["widths"].shown_default == "8,16,32,64,128"
    assert by_name["irreducible"].kind == "choice" and by_name["irreducible"].choices == ("none", "bayes", "fit")
    steps = field_spec("steps", FewShotConfig.model_fields["steps"])
    assert (steps.kind, steps.lo, steps.hi, steps.default) == ("int", 1, 1_000_000, 2000)
    assert field_spec("lr", TrainConfig.model_fields["clip"]).kind == "float"


@pytest.mark.parametrize("text", ["1,x", "", " , "])
def test_a_bad_integer_list_is_refused_naming_the_field(text):
    spec = field_spec("widths", ScalingConfig.model_fields["widths"])
    with pytest.raises(ConfigError) as e:
        spec.parse_list(text, "scaling.widths")
    assert e.value.field == "scaling.widths"


def test_every_experiment_field_is_a_flag_whose_help_shows_the_specs_default():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, cls in (("scaling", ScalingConfig), ("fewshot", FewShotConfig)):
        flags = {a.dest: a for a in sub.choices[name]._actions}
        for spec in specs(cls):
            assert f"(default {spec.shown_default})" in flags[spec.name].help, (name, spec.name)
