"""--checkpoint-every / --resume: a resumed run reaches the same SVG text as an
uninterrupted one with the same seed (make with re-initialisation and LIVE, make with VSD,
edit, word), and the checkpoint refuses other settings."""

import pytest
import torch

from vecdistill.errors import InputError
from vecdistill.pipelines.checkpoint import checkpoint_path
from vecdistill.pipelines.edit import EditConfig, edit
from vecdistill.pipelines.make import MakeConfig, make
from vecdistill.svg.parse import load_svg

pytestmark = pytest.mark.usefixtures("one_thread")


def stop_at(step):
    def callback(report):
        if report.step == step:
            raise KeyboardInterrupt

    return callback


def interrupted_then_resumed(run, out, config, stop, **kw):
    """Run with checkpoints, stop with Ctrl-C at ``stop``, resume; returns the resumed manifest."""
    with pytest.raises(KeyboardInterrupt):
        run(out, config, callbacks=[stop_at(stop)], **kw)
    saved = torch.load(checkpoint_path(out), weights_only=False)
    assert saved["step"] == stop  # the boundary before the interrupted step
    load_svg(out)  # the best-so-far written at the interrupt parses
    config.resume = True
    _, manifest = run(out, config, **kw)
    return manifest, saved


@pytest.mark.parametrize("variant", [
    dict(init="live", live_first=2, live_per_stage=2, paths=6, reinit_every=3, reinit_min_area=1e9),
    dict(method="vsd", paths=3),
])
def test_make_resume_gives_the_same_svg(embedded, tmp_path, variant):
    base = dict(steps=8, size=16, segments=2, quiet=True, seed=5, **variant)
    ref = tmp_path / "ref.svg"
    make("red heart", str(ref), MakeConfig(**base), prior=embedded)

    def run(out, config, **kw):
        return make("red heart", str(out), config, prior=embedded, **kw)

    out = tmp_path / "run.svg"
    manifest, saved = interrupted_then_resumed(run, out, MakeConfig(checkpoint_every=4, **base), stop=5)
    if variant.get("init") == "live":  # paths were added before the checkpoint: structure restored too
        assert saved["scene"].num_paths() > variant["live_first"] and saved["hooks"][0]["added"] > 0
    assert out.read_text() == ref.read_text()
    assert manifest["steps_done"] == 8 and manifest["interrupted"] is False and manifest["resumed_from"] == 5
    assert manifest["timings"]["wall_s"] > saved["counters"]["wall_seconds"] > 0  # the clock continues


def test_edit_resume_from_a_periodic_checkpoint_gives_the_same_svg(embedded, tmp_path):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M2 2 L14 2 L8 14 Z" fill="#e02020"/><circle cx="8" cy="8" r="3" fill="#2020e0"/></svg>'
    base = dict(method="pds", steps=8, size=16, quiet=True, seed=2)
    ref = tmp_path / "ref.svg"
    edit(svg, str(ref), "red heart", "green heart", EditConfig(**base), prior=embedded)

    out = tmp_path / "run.svg"
    saved = {}

    def keep_checkpoint_at_4(report):  # what a kill -9 right after step 4's checkpoint leaves
        if report.step == 4:
            saved["bytes"] = checkpoint_path(out).read_bytes()

    edit(svg, str(out), "red heart", "green heart", EditConfig(checkpoint_every=4, **base), prior=embedded, callbacks=[keep_checkpoint_at_4])
    checkpoint_path(out).write_bytes(saved["bytes"])
    out.write_text("<svg")  # a half-written output does not matter: resume rewrites it
    edit(svg, str(out), "red heart", "green heart", EditConfig(resume=True, **base), prior=embedded)
    assert out.read_text() == ref.read_text()


def test_resume_refuses_other_settings_and_missing_checkpoints(embedded, tmp_path):
    out = tmp_path / "a.svg"
    with pytest.raises(InputError, match="no checkpoint"):
        make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True, resume=True), prior=embedded)
    make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True, checkpoint_every=1), prior=embedded)
    with pytest.raises(InputError, match=r"different settings \(guidance_scale\)"):
        make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True, resume=True, guidance_scale=7.0), prior=embedded)
    checkpoint_path(out).write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True, resume=True), prior=embedded)
    with pytest.raises(InputError, match="exists; pass --overwrite"):  # another run's checkpoint is not replaced silently
        make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True, checkpoint_every=1, overwrite=False), prior=embedded)


def test_word_resume_gives_the_same_svg(embedded, tmp_path):
    from vecdistill.pipelines.word import WordConfig, word

    base = dict(letters="A", steps=4, size=32, quiet=True, seed=3)
    ref = tmp_path / "ref.svg"
    word("CAT", str(ref), "cat", WordConfig(**base), prior=embedded)

    def run(out, config, **kw):
        return word("CAT", str(out), "cat", config, prior=embedded, **kw)

    out = tmp_path / "run.svg"
    interrupted_then_resumed(run, out, WordConfig(checkpoint_every=2, **base), stop=2)
    assert out.read_text() == ref.read_text()


def test_interrupt_inside_a_step_resumes_from_the_boundary_before_it(embedded, tmp_path, monkeypatch):
    """Ctrl-C while the objective runs (the step's noise is already drawn from the
    generator, the parameters not yet moved): the checkpoint is the boundary before it."""
    import vecdistill.pipelines.make as make_module

    base = dict(steps=6, size=16, paths=3, segments=2, quiet=True, seed=8)
    ref = tmp_path / "ref.svg"
    make("red heart", str(ref), MakeConfig(**base), prior=embedded)

    build = make_module.build_objective_for

    def interrupting(*args, **kwargs):
        inner, calls = build(*args, **kwargs), [0]

        def objective(x0, progress, generator, reference=None):
            result = inner(x0, progress, generator, reference=reference)
            calls[0] += 1
            if calls[0] == 4:
                raise KeyboardInterrupt
            return result

        objective.prompt = inner.prompt
        return objective

    out = tmp_path / "run.svg"
    monkeypatch.setattr(make_module, "build_objective_for", interrupting)
    with pytest.raises(KeyboardInterrupt):
        make("red heart", str(out), MakeConfig(checkpoint_every=100, **base), prior=embedded)
    monkeypatch.undo()
    assert torch.load(checkpoint_path(out), weights_only=False)["step"] == 3
    make("red heart", str(out), MakeConfig(resume=True, **base), prior=embedded)
    assert out.read_text() == ref.read_text()


@pytest.mark.parametrize("where", ["scene", "objective"])
def test_interrupt_while_a_boundary_is_being_copied_keeps_the_one_before(embedded, tmp_path, monkeypatch, where):
    """SIGTERM lands anywhere, also inside ``step_done`` while the new boundary's copies are
    being refreshed (after the scene's copy; after the scene's and the optimiser's, while the
    objective's is taken): what the interrupt writes must still be one whole step boundary
    (the one before). Before double-buffered copies, boundary 4's scene went out with
    boundary 3's optimiser state and counters and the resume drifted (CI caught it through
    test_kill's real SIGTERM)."""
    from vecdistill.pipelines import checkpoint as checkpoint_module

    base = dict(steps=6, size=16, paths=3, segments=2, quiet=True, seed=8)
    ref = tmp_path / "ref.svg"
    make("red heart", str(ref), MakeConfig(**base), prior=embedded)

    calls = [0]

    def after(fn):  # fn, then a Ctrl-C on its 4th call: inside step_done(4), boundary 3 not yet on disk
        def run(*args):
            result = fn(*args)
            calls[0] += 1
            if calls[0] == 4:
                raise KeyboardInterrupt
            return result

        return run

    if where == "scene":
        monkeypatch.setattr(checkpoint_module._SceneCopy, "update", after(checkpoint_module._SceneCopy.update))
    else:
        monkeypatch.setattr(checkpoint_module, "objective_state", after(checkpoint_module.objective_state))
    out = tmp_path / "run.svg"
    with pytest.raises(KeyboardInterrupt):
        make("red heart", str(out), MakeConfig(checkpoint_every=2, **base), prior=embedded)
    monkeypatch.undo()
    assert torch.load(checkpoint_path(out), weights_only=False)["step"] == 3
    make("red heart", str(out), MakeConfig(resume=True, **base), prior=embedded)
    assert out.read_text() == ref.read_text()


def test_a_checkpoint_written_before_timings_were_kept_still_resumes(embedded, tmp_path):
    # the format string did not change when "timings" and "wall_seconds" joined the counters
    base = dict(steps=6, size=16, segments=2, paths=3, quiet=True, seed=4)
    ref = tmp_path / "ref.svg"
    make("red heart", str(ref), MakeConfig(**base), prior=embedded)
    out = tmp_path / "run.svg"
    with pytest.raises(KeyboardInterrupt):
        make("red heart", str(out), MakeConfig(checkpoint_every=2, **base), prior=embedded, callbacks=[stop_at(3)])
    saved = torch.load(checkpoint_path(out), weights_only=False)
    del saved["counters"]["timings"], saved["counters"]["wall_seconds"]
    torch.save(saved, checkpoint_path(out))
    _, manifest = make("red heart", str(out), MakeConfig(checkpoint_every=2, resume=True, **base), prior=embedded)
    assert manifest["resumed_from"] == 3 and out.read_text() == ref.read_text()


def _circles(n):
    from vecdistill.svg.scene import Group, Path, Scene, Solid

    paths = [Path.circle((4.0 + 3 * i, 5.0), 2.0, fill=Solid(torch.tensor([0.1 * i, 0.2, 0.3, 1.0]))) for i in range(n)]
    return Scene(Group(paths), 16, 16)


def _same(copy, live):
    from vecdistill.pipelines.checkpoint import scene_tensors
    from vecdistill.svg.write import to_svg_string

    a, b = scene_tensors(copy), scene_tensors(live)
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b)) and to_svg_string(copy) == to_svg_string(live)


def test_the_boundary_copy_follows_values_and_structure_and_never_aliases():
    """The checkpointer keeps its copy of the scene between steps and refreshes only the
    values while the structure is unchanged; in-place value changes, replaced attributes,
    paths added to a group and edited plain values must all reach the copy."""
    from vecdistill.pipelines.checkpoint import _SceneCopy
    from vecdistill.svg.scene import Solid

    scene, copy = _circles(2), _SceneCopy()
    copy.update(scene)
    kept = copy.scene
    assert _same(kept, scene)
    with torch.no_grad():
        scene.paths()[0].points.add_(1.5)  # what an optimiser step does
    copy.update(scene)
    assert copy.scene is kept and _same(kept, scene)
    scene.paths()[1].fill = Solid(torch.tensor([0.9, 0.1, 0.1, 0.5]))  # a replaced attribute
    copy.update(scene)
    assert copy.scene is not kept and _same(copy.scene, scene)
    scene.root.children.append(_circles(1).paths()[0])  # LIVE adds paths in place
    copy.update(scene)
    assert len(copy.scene.paths()) == 3 and _same(copy.scene, scene)
    scene.paths()[2].subpaths[0] = (4, False)  # a plain value edited in place
    copy.update(scene)
    assert copy.scene.paths()[2].subpaths[0] == (4, False)
    with torch.no_grad():
        scene.paths()[0].points.mul_(0)  # the copy holds its own tensors
    assert not torch.equal(copy.scene.paths()[0].points, scene.paths()[0].points)


def test_the_boundary_copy_of_optimiser_state_follows_values_and_structure():
    """The optimiser's (and objective's) state is copied at every step boundary into kept
    tensors while its tensors keep their shapes: each copy holds the state's values at
    that boundary (not later ones), its own tensors, and new entries or reshaped tensors
    (LIVE adds paths) are copied fresh."""
    from vecdistill.pipelines.kept import KeptCopy

    params = [torch.zeros(3, 2, requires_grad=True), torch.zeros(4, requires_grad=True)]
    opt = torch.optim.Adam(params, lr=0.1)

    def step():
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()

    def values(state):
        return [state["state"][i][k].clone() for i in sorted(state["state"]) for k in ("step", "exp_avg", "exp_avg_sq")]

    copier = KeptCopy()
    step()
    first = copier.copy(opt.state_dict())
    expected = values(opt.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(values(first), expected))
    assert first["param_groups"][0]["lr"] == 0.1
    step()  # the live state moves on; the copy keeps its own tensors
    assert all(torch.equal(a, b) for a, b in zip(values(first), expected))
    second = copier.copy(opt.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(values(second), values(opt.state_dict())))
    assert second["state"][0]["exp_avg"] is first["state"][0]["exp_avg"]  # refreshed in place
    params.append(torch.zeros(5, requires_grad=True))  # a new parameter (LIVE adds paths)
    opt.add_param_group({"params": [params[-1]]})
    step()
    third = copier.copy(opt.state_dict())
    assert len(third["state"]) == 3 and third["state"][2]["exp_avg"].shape == (5,)
    assert all(torch.equal(a, b) for a, b in zip(values(third), values(opt.state_dict())))
