"""Per-job options (CSV text or JSON values) -> a pipeline config dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vecdistill.batch.options import build_config
from vecdistill.errors import InputError


@dataclass
class DemoConfig:
    steps: int = 100
    guidance_scale: float = 7.5
    augment: bool = True
    t_range: tuple[float, float] = (0.02, 0.98)
    method: str = "sds"
    size: int | None = None
    seed: int = 0
    colors: list = field(default_factory=lambda: [1, 2])
    window: tuple[float, float] | None = None
    only: tuple[str, ...] | None = None
    lr: float | None = None


def test_csv_text_becomes_typed_fields():
    config = build_config(DemoConfig, {"steps": "12", "guidance_scale": "3", "augment": "false",
                                       "t_range": "0.1,0.5", "method": "vsd", "size": "32"})
    assert config == DemoConfig(steps=12, guidance_scale=3.0, augment=False, t_range=(0.1, 0.5),
                                method="vsd", size=32)
    assert isinstance(config.guidance_scale, float)
    assert build_config(DemoConfig, {"t_range": "[0.2, 0.4]"}).t_range == (0.2, 0.4)


def test_optional_fields_take_their_annotated_type():
    # pipeline configs leave most fields at None (= the preset's value)
    config = build_config(DemoConfig, {"window": "0.05, 0.95", "only": "logo,text", "lr": "1e-2", "size": "none"})
    assert (config.window, config.only, config.lr, config.size) == ((0.05, 0.95), ("logo", "text"), 0.01, None)
    assert build_config(DemoConfig, {"window": [0, 1], "lr": 1}).window == (0.0, 1.0)
    with pytest.raises(InputError, match="lr"):
        build_config(DemoConfig, {"lr": "fast"})


def test_json_values_pass_through_and_fixed_values_win():
    config = build_config(DemoConfig, {"steps": 7, "t_range": [0.1, 0.2], "seed": 99, "prompt": "x"},
                          skip=("prompt",), fixed={"seed": 3, "device": "cpu"})
    assert (config.steps, config.t_range, config.seed) == (7, (0.1, 0.2), 3)


def test_unknown_options_and_bad_values_are_input_errors():
    with pytest.raises(InputError, match="unknown option 'stpes'.*steps"):
        build_config(DemoConfig, {"stpes": "3"}, command="make")
    with pytest.raises(InputError, match="steps"):
        build_config(DemoConfig, {"steps": "many"})
    with pytest.raises(InputError, match="augment must be true or false"):
        build_config(DemoConfig, {"augment": "maybe"})


@dataclass
class Orbit:
    elevation: tuple[float, float] = (0.0, 30.0)
    distance: float = 2.0


@dataclass
class NestedConfig:
    steps: int = 10
    orbit: Orbit = field(default_factory=Orbit)


def test_nested_configs_from_json_objects_or_dotted_columns():
    assert build_config(NestedConfig, {"orbit": {"distance": 3}}).orbit == Orbit(distance=3.0)
    config = build_config(NestedConfig, {"orbit.elevation": "10,20", "orbit.distance": "2.5", "steps": "4"})
    assert config == NestedConfig(steps=4, orbit=Orbit(elevation=(10.0, 20.0), distance=2.5))
    with pytest.raises(InputError, match="unknown option 'height'"):
        build_config(NestedConfig, {"orbit.height": "1"})


def test_options_apply_on_top_of_a_base_config_and_merge_nested_groups():
    base = NestedConfig(steps=99, orbit=Orbit(elevation=(5.0, 6.0), distance=9.0))  # e.g. a preset
    config = build_config(NestedConfig, {"orbit.distance": "1"}, base=base)
    assert config == NestedConfig(steps=99, orbit=Orbit(elevation=(5.0, 6.0), distance=1.0))
    assert base.orbit.distance == 9.0  # the base is not modified
