"""nerf fit / edit / make end to end at tiny sizes: losses go down, outputs are written,
the edit moves the scene toward the target, resume continues exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vecdistill.cli import main
from vecdistill.nerf.dataset import load_transforms
from vecdistill.nerf.export import load_checkpoint, read_ply, save_checkpoint
from vecdistill.pipelines.nerf_common import apply_preset, scene_from_checkpoint
from vecdistill.pipelines.nerf_edit import NerfEditConfig, edit, view_distance
from vecdistill.pipelines.nerf_fit import NerfFitConfig, fit
from vecdistill.priors.gmm import GaussianMixturePrior

from .synthetic import ball_dataset, ball_images

RED, BLUE = (0.9, 0.15, 0.1), (0.1, 0.2, 0.9)


def run_cli(args, capsys):
    """Run the CLI; returns (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _first_last(losses, k=5):
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, one_thread_module):
    """A red ball dataset (8 views, 16 px) and a tiny fit of it through the CLI."""
    root = tmp_path_factory.mktemp("nerf")
    data_dir, _ = ball_dataset(root / "data", n=8, size=16, colour=RED)
    out = root / "fit"
    try:
        main(["nerf", "fit", str(data_dir), str(out), "--preset", "tiny", "--steps", "40", "--lr", "0.03", "--quiet"])
    except SystemExit as exc:
        assert exc.code == 0
    return data_dir, out


def test_fit_reconstructs_the_ball(fitted):
    data_dir, out = fitted
    m = json.loads((out / "manifest.json").read_text())
    first, last = _first_last(m["losses"])
    assert last < 0.2 * first
    assert m["psnr"]["end"] > m["psnr"]["start"] + 10
    assert m["alpha"] is True and m["images"] == 8
    mesh = read_ply(out / "mesh.ply")
    assert len(mesh.faces) > 0
    # the mesh is the ball: vertices near radius 0.5, coloured red
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert 0.35 < np.median(r) < 0.65
    assert np.median(mesh.colors[:, 0]) > 0.5 > np.median(mesh.colors[:, 2])
    assert (out / "turntable.gif").stat().st_size > 0 and (out / "mesh.obj").stat().st_size > 0
    assert load_checkpoint(out)["extra"]["dataset"].endswith("transforms.json")


def test_edit_moves_the_scene_toward_the_target(fitted, tmp_path):
    """Exact prior over 16 x 16 images: a red-ball class and a blue-ball class (one narrow
    Gaussian each, at the exact renders). PDS from 'red ball' to 'blue ball' must bring the
    scene's renders of the training views closer to the blue-ball images than the fitted
    (red) scene's renders were, and away from the red ones."""
    data_dir, fit_out = fitted
    data = load_transforms(data_dir)
    red = data.composited()
    b = ball_images(data.cameras, 0.5, BLUE)
    blue = b[:, :3] * b[:, 3:] + (1 - b[:, 3:])
    prior = GaussianMixturePrior({"red ball": (red[0].reshape(-1), 0.01), "blue ball": (blue[0].reshape(-1), 0.01)},
                                 shape=(3, 16, 16))
    config = apply_preset(NerfEditConfig(lr=0.02, guidance_scale=1.0), "tiny")
    config.resolution, config.steps = 16, 60
    source_scene = scene_from_checkpoint(load_checkpoint(fit_out))
    before = view_distance(source_scene, data.cameras, blue, config)
    scene, m = edit(fit_out, tmp_path / "edit", "red ball", "blue ball", config, prior=prior)
    after = view_distance(scene, data.cameras, blue, config)
    assert after < 0.25 * before
    assert after < view_distance(scene, data.cameras, red, config)  # now closer to blue than to red
    assert m["method"] == "pds" and len(m["losses"]) == 60
    assert len(read_ply(tmp_path / "edit" / "mesh.ply").faces) > 0


def test_resume_continues_exactly(fitted, tmp_path):
    data_dir, _ = fitted
    config = apply_preset(NerfFitConfig(save_every=0), "tiny")
    config.outputs, config.steps = False, 6
    whole, _ = fit(data_dir, tmp_path / "a", config)
    config.steps = 3
    fit(data_dir, tmp_path / "b", config)
    config.steps = 6
    resumed, m = fit(data_dir, tmp_path / "b", config, resume=True)
    assert m["steps_done"] == 6 and len(m["losses"]) == 6
    for (name, p), q in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name


def test_cli_errors_are_one_line(fitted, tmp_path, capsys):
    code, _, err = run_cli(["nerf", "fit", str(tmp_path / "missing"), str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "transforms.json" in err and "Traceback" not in err
    torch.save({"x": 1}, tmp_path / "foreign.pt")
    code, _, err = run_cli(["nerf", "edit", str(tmp_path / "foreign.pt"), str(tmp_path / "o"), "--source", "a", "--target", "b"], capsys)
    assert code == 2 and "not a vecdistill NeRF checkpoint" in err
    code, _, err = run_cli(["nerf", "make", "qwxzv blorp", str(tmp_path / "nothing"), "--preset", "tiny", "--quiet"], capsys)
    assert code == 2 and "matches" in err and not (tmp_path / "nothing").exists()
    code, _, err = run_cli(["nerf", "fit", str(fitted[0]), str(tmp_path / "o"), "--device", "cuda:7", "--quiet"], capsys)
    if not torch.cuda.is_available():
        assert code == 2 and "CUDA is not available" in err


def test_an_existing_run_is_kept_without_resume_or_overwrite(fitted, tmp_path, capsys):
    data_dir, fit_out = fitted
    before = (fit_out / "checkpoint.pt").read_bytes()
    args = ["nerf", "fit", str(data_dir), str(fit_out), "--preset", "tiny", "--steps", "1", "--quiet"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--resume" in err and "--overwrite" in err and err.count("\n") == 1
    assert (fit_out / "checkpoint.pt").read_bytes() == before
    out = tmp_path / "again"
    code, _, err = run_cli(["nerf", "fit", str(data_dir), str(out), "--preset", "tiny", "--steps", "1", "--quiet"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["nerf", "fit", str(data_dir), str(out), "--preset", "tiny", "--steps", "1", "--quiet", "--overwrite"], capsys)
    assert code == 0, err


def test_make_with_the_embedded_prior(tmp_path, capsys):
    """Text to 3D with the embedded prior at tiny sizes: the objective's loss at fixed
    (view, t, noise) draws goes down, the outputs are written and the mesh is not empty."""
    out = tmp_path / "apple"
    code, stdout, err = run_cli(["nerf", "make", "red apple", str(out), "--preset", "tiny", "--steps", "16",
                                 "--lr", "0.03", "--quiet"], capsys)
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["eval_loss"]["end"] < 0.8 * m["eval_loss"]["start"]
    assert m["model"]["name"] == "embedded-icons" and m["method"] == "sds" and m["view_prompts"] is False
    assert len(m["losses"]) == 16 and all(np.isfinite(m["losses"]))
    assert len(read_ply(out / "mesh.ply").faces) > 0
    assert (out / "turntable.gif").stat().st_size > 0 and (out / "checkpoint.pt").is_file()
    assert "wrote" in stdout


@pytest.mark.parametrize("method", ["sdi", "vsd"])
def test_make_runs_the_other_objectives(method, tmp_path):
    from vecdistill.pipelines.nerf_make import NerfMakeConfig, make
    from vecdistill.priors import load_prior

    config = apply_preset(NerfMakeConfig(method=method), "tiny")
    config.steps, config.eval_draws, config.outputs = 3, 1, False
    scene, m = make("green apple", tmp_path / method, config, prior=load_prior(None))
    assert len(m["losses"]) == 3 and all(np.isfinite(m["losses"])) and m["method"] == method
    assert all(torch.isfinite(p).all() for p in scene.parameters())


def test_edit_cli_with_the_embedded_prior(fitted, tmp_path, capsys):
    """The CLI path of nerf edit (PDS, embedded prior, source branch = the dataset images)."""
    _, fit_out = fitted
    out = tmp_path / "edit"
    code, stdout, err = run_cli(["nerf", "edit", str(fit_out), str(out), "--source", "red apple", "--target", "green apple",
                                 "--preset", "tiny", "--steps", "3", "--resolution", "16", "--quiet"], capsys)
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["method"] == "pds" and m["source"] == "red apple" and len(m["losses"]) == 3
    assert load_checkpoint(out)["pipeline"] == "edit"
    # a missing scene, and a text-to-3D checkpoint (no images for the source branch), are refused
    code, _, err = run_cli(["nerf", "edit", str(tmp_path / "nothing"), str(tmp_path / "x"), "--source", "a", "--target", "b"], capsys)
    assert code == 2 and "no NeRF checkpoint" in err
    save_checkpoint({"pipeline": "make"}, tmp_path / "made.pt")
    code, _, err = run_cli(["nerf", "edit", str(tmp_path / "made.pt"), str(tmp_path / "x"), "--source", "a", "--target", "b"], capsys)
    assert code == 2 and "needs the output of 'nerf fit'" in err


def test_an_existing_run_is_refused_before_any_model_or_data_loads(tmp_path, monkeypatch):
    from vecdistill.errors import OutputError
    from vecdistill.pipelines import nerf_make

    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{}")

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded for a run that is refused")

    monkeypatch.setattr("vecdistill.priors.load_prior", no_loading)
    with pytest.raises(OutputError, match="already holds a run"):
        nerf_make.make("a red apple", out, nerf_make.NerfMakeConfig(steps=1))
    with pytest.raises(OutputError, match="already holds a run"):  # before the scene file is read
        edit(tmp_path / "missing.pt", out, "a ball", "a red ball", NerfEditConfig(steps=1))
    with pytest.raises(OutputError, match="already holds a run"):  # before the dataset is read
        fit(tmp_path / "missing", out, NerfFitConfig(steps=1))


def test_ctrl_c_mid_step_saves_a_step_boundary_and_resume_continues_exactly(fitted, tmp_path, monkeypatch):
    """A real SIGINT while a step renders (its rays already drawn from the generator, the
    field not yet moved): the step finishes first, the checkpoint is the boundary after it,
    and the resume matches an uninterrupted run (before, the live state was saved halfway:
    the generator one step ahead of the step counter)."""
    import signal

    from vecdistill.pipelines import nerf_fit

    data_dir, _ = fitted
    config = apply_preset(NerfFitConfig(save_every=0), "tiny")
    config.outputs, config.steps = False, 6
    whole, _ = fit(data_dir, tmp_path / "a", config)
    render_rays, calls = nerf_fit.render_rays, [0]

    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            signal.raise_signal(signal.SIGINT)
        return render_rays(*args, **kwargs)

    monkeypatch.setattr(nerf_fit, "render_rays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(data_dir, tmp_path / "b", config)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "b")["step"] == 3  # the interrupted step (index 2) was finished
    resumed, m = fit(data_dir, tmp_path / "b", config, resume=True)
    assert m["steps_done"] == 6
    for (name, p), q in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
