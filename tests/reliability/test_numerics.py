"""NaN/Inf never reaches the parameters: a non-finite objective gradient or prior prediction
skips the step (counted in the manifest); a run that stays non-finite stops with one
NumericalError line (exit 1) and keeps the best SVG written."""

import json
import math

import pytest
import torch

import vecdistill.pipelines.make as make_module
from vecdistill.cli import main
from vecdistill.errors import NumericalError
from vecdistill.pipelines.make import MakeConfig, make
from vecdistill.svg.parse import load_svg

pytestmark = pytest.mark.usefixtures("one_thread")

NAN_STEPS = {2, 5}


def config(**kw):
    return MakeConfig(**{**dict(steps=8, size=16, paths=3, segments=2, quiet=True, seed=1, clean=False), **kw})


def wrap_objective(monkeypatch, fault):
    """Make every run's objective go through ``fault(step, result, x0)``."""
    build = make_module.build_objective_for

    def patched(*args, **kwargs):
        inner = build(*args, **kwargs)
        calls = [0]

        def objective(x0, progress, generator, reference=None):
            step, calls[0] = calls[0], calls[0] + 1
            return fault(step, inner, x0, progress, generator, reference)

        objective.prompt = inner.prompt
        return objective

    monkeypatch.setattr(make_module, "build_objective_for", patched)


def finite_params(scene):
    return all(bool(torch.isfinite(t).all()) for ts in scene.param_groups().values() for t in ts)


def watch_params(seen):
    def callback(report):
        seen.append(finite_params(report.scene))

    return callback


def test_nan_gradient_from_the_objective_is_skipped_and_counted(embedded, tmp_path, monkeypatch):
    def fault(step, inner, x0, *rest):
        if step in NAN_STEPS:  # finite loss, NaN gradient
            x0.register_hook(lambda g: g * float("nan"))
        return inner(x0, *rest)

    wrap_objective(monkeypatch, fault)
    seen = []
    out = tmp_path / "a.svg"
    scene, manifest = make("red heart", str(out), config(), prior=embedded, callbacks=[watch_params(seen)])
    assert seen == [True] * 8 and finite_params(scene)
    assert json.loads(out.with_suffix(".json").read_text())["skipped_steps"] == len(NAN_STEPS)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_prior_prediction_never_reaches_the_parameters(embedded, tmp_path, monkeypatch, value):
    calls = [0]
    originals = {name: getattr(embedded, name) for name in ("predict_noise", "predict_noise_many")}

    def poison(x):
        return torch.full_like(x, value) if calls[0] - 1 in NAN_STEPS else x

    def predict_noise(*a, **k):
        calls[0] += 1
        return poison(originals["predict_noise"](*a, **k))

    def predict_noise_many(*a, **k):
        calls[0] += 1
        return [poison(x) for x in originals["predict_noise_many"](*a, **k)]

    monkeypatch.setattr(embedded, "predict_noise", predict_noise)
    monkeypatch.setattr(embedded, "predict_noise_many", predict_noise_many)
    seen = []
    out = tmp_path / "b.svg"
    scene, manifest = make("red heart", str(out), config(), prior=embedded, callbacks=[watch_params(seen)])
    assert calls[0] >= 8
    assert seen == [True] * 8 and finite_params(scene)
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["skipped_steps"] + on_disk["objective_skipped_steps"] == len(NAN_STEPS)
    assert all(v is None or math.isfinite(v) for v in on_disk["loss_curve"]["values"])


def diverge_after(first_bad):
    def fault(step, inner, x0, *rest):
        result = inner(x0, *rest)
        if step >= first_bad:
            result.loss = result.loss * float("nan")
        return result

    return fault


def test_a_diverged_run_stops_with_numerical_error_and_keeps_the_best(embedded, tmp_path, monkeypatch):
    wrap_objective(monkeypatch, diverge_after(4))
    loop_config_from = make_module.loop_config_from
    monkeypatch.setattr(make_module, "loop_config_from", lambda cfg, **kw: loop_config_from(cfg, max_skipped=3, **kw))
    out = tmp_path / "c.svg"
    with pytest.raises(NumericalError, match="not finite for 4 steps in a row"):
        make("red heart", str(out), config(steps=50), prior=embedded)
    assert load_svg(out).num_paths() == 3 and finite_params(load_svg(out))
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["steps_done"] == 7 and manifest["best_step"] <= 3  # 4 good, 3 skipped, the 4th bad one raised
    assert "not finite" in manifest["error"]


def test_cli_reports_divergence_in_one_line_with_exit_1(embedded, tmp_path, monkeypatch, capsys):
    import signal

    monkeypatch.setattr("vecdistill.priors.load_prior", lambda *a, **k: embedded)
    wrap_objective(monkeypatch, diverge_after(0))
    previous = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "d.svg"
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["make", "red heart", str(out), "--steps", "60", "--size", "16", "--paths", "2", "-q"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1
    assert len(err) == 1 and err[0].startswith("error: the loss or its gradient was not finite for 51 steps")
    assert out.is_file() and load_svg(out).num_paths() == 2  # the (initial) drawing is kept
