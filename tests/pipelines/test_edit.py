"""``edit`` end to end on the embedded prior: what it changes and what it must keep."""

import json
import xml.etree.ElementTree as ET

import pytest
import torch

from vecdistill.errors import InputError
from vecdistill.pipelines.edit import EditConfig, edit
from vecdistill.svg.parse import load_svg
from vecdistill.svg.write import to_svg_string

LOGO = """<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 36 36">
  <defs>
    <linearGradient id="grad" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#ffcc00"/><stop offset="1" stop-color="#ff6600"/>
    </linearGradient>
    <clipPath id="clip"><rect x="2" y="2" width="30" height="30"/></clipPath>
  </defs>
  <g id="body" transform="translate(1 2) rotate(5)" opacity="0.9">
    <path id="heart" fill="#DD2E44" d="M18 32C10 26 3 20 3 12a7 7 0 0 1 15-3a7 7 0 0 1 15 3c0 8-7 14-15 20z"/>
    <path id="ring" fill="none" stroke="#222222" stroke-width="2" d="M6 6L30 6L30 30"/>
  </g>
  <g id="badge" clip-path="url(#clip)">
    <circle id="dot" cx="28" cy="8" r="5" fill="url(#grad)"/>
    <rect id="bar" x="4" y="26" width="10" height="4" fill="#1f77b4" transform="skewX(10)"/>
  </g>
</svg>"""

OPTIMISED_ATTRS = {"d", "fill", "stroke", "stroke-width"}


@pytest.fixture(scope="module")
def prior():
    from vecdistill.priors.embedded import EmbeddedPrior

    return EmbeddedPrior()


def cfg(**kw):
    base = dict(steps=4, size=16, supersample=1, quiet=True, overwrite=True, lr_points=2.0, lr_colors=0.1, lr_widths=0.5)
    base.update(kw)
    return EditConfig(**base)


def elements(svg_text):
    """id -> (tag, attributes) for every element with an id, plus the defs' children."""
    root = ET.fromstring(svg_text)
    return {el.get("id"): (el.tag, dict(el.attrib)) for el in root.iter() if el.get("id")}


def test_edit_changes_only_points_colours_and_widths(prior, tmp_path):
    src = tmp_path / "logo.svg"
    src.write_text(LOGO)
    out = tmp_path / "edited.svg"
    scene, manifest = edit(str(src), str(out), source="red heart", target="blue heart", config=cfg(), prior=prior)
    before = elements(to_svg_string(load_svg(str(src))))
    after = elements(out.read_text())
    assert before.keys() == after.keys()
    changed = set()
    for key, (tag, attrs) in before.items():
        tag2, attrs2 = after[key]
        assert tag == tag2, key
        assert attrs.keys() == attrs2.keys(), key
        for name, value in attrs.items():
            if name in OPTIMISED_ATTRS and attrs2[name] != value:
                changed.add((key, name))
            else:
                assert attrs2[name] == value, (key, name)
    # gradients and clip paths are never optimised; the solid-filled paths did move
    assert ("heart", "d") in changed and ("heart", "fill") in changed
    assert not any(k in ("grad", "clip") for k, _ in changed)
    assert manifest["edited_paths"] == 4 and json.loads(out.with_suffix(".json").read_text())["command"] == "edit"


def test_only_and_locks_restrict_what_moves(prior, tmp_path):
    src = tmp_path / "logo.svg"
    src.write_text(LOGO)
    base = load_svg(str(src))
    scene, _ = edit(str(src), None, source="red heart", target="blue heart", config=cfg(only=("heart",), lock_colors=True), prior=prior)
    h0, h1 = base.find("heart"), scene.find("heart")
    assert not torch.equal(h0.points, h1.points)
    assert torch.equal(h0.fill.color, h1.fill.color)
    for pid in ("ring", "dot", "bar"):
        assert torch.equal(base.find(pid).points, scene.find(pid).points), pid
    # a group id selects its paths; --lock-geometry keeps every point and width
    scene, _ = edit(str(src), None, source="red heart", target="blue heart", config=cfg(only=("body",), lock_geometry=True), prior=prior)
    assert torch.equal(base.find("heart").points, scene.find("heart").points)
    assert torch.equal(base.find("ring").stroke_width, scene.find("ring").stroke_width)
    assert not torch.equal(base.find("heart").fill.color, scene.find("heart").fill.color)
    assert torch.equal(base.find("bar").fill.color, scene.find("bar").fill.color)


def test_edit_input_errors(prior, tmp_path):
    src = tmp_path / "logo.svg"
    src.write_text(LOGO)
    with pytest.raises(InputError, match="ids in this SVG"):
        edit(str(src), None, source="red heart", target="blue heart", config=cfg(only=("nope",)), prior=prior)
    with pytest.raises(InputError, match="source"):
        edit(str(src), None, source="", target="blue heart", config=cfg(), prior=prior)
    with pytest.raises(InputError, match="nothing to edit"):
        edit(str(src), None, source="red heart", target="blue heart", config=cfg(lock_colors=True, lock_geometry=True), prior=prior)
    with pytest.raises(InputError, match="method"):
        edit(str(src), None, source="red heart", target="blue heart", config=cfg(method="vsd"), prior=prior)


def test_same_seed_same_edit(prior, tmp_path):
    src = tmp_path / "logo.svg"
    src.write_text(LOGO)
    outs = []
    for i in range(2):
        out = tmp_path / f"e{i}.svg"
        edit(str(src), str(out), source="red heart", target="blue heart", config=cfg(method="dds", steps=3), prior=prior)
        outs.append(out.read_text())
    assert outs[0] == outs[1]


PLAIN = """<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">
  <path id="a" fill="#c8283c80" d="M4 4h14v14z"/>
  <path id="b" fill="rgba(20,40,200,0.5)" stroke="#222222" stroke-width="1.5" d="M10 10h16v16h-16z"/>
  <circle id="c" cx="22" cy="9" r="6" fill="#33aa55"/>
</svg>"""


def test_an_edit_of_a_clip_free_svg_runs_packed_and_keeps_every_alpha(prior, tmp_path):
    """Without clip paths and with every path selected, the edit optimises packed leaves
    (the paths' tensors are views of them during the run); each colour keeps its alpha (the
    constraint writes through the paint, which holds the packed view), and the result's
    tensors are the scene's own again."""
    src = tmp_path / "plain.svg"
    src.write_text(PLAIN)
    base = load_svg(str(src))
    packed = []
    scene, _ = edit(str(src), None, source="red heart", target="blue heart", config=cfg(steps=6, lr_colors=0.3), prior=prior,
                    callbacks=[lambda r: packed.append(r.scene.paths()[0].points._base is not None)])
    assert packed and all(packed)
    for pid in ("a", "b", "c"):
        before, after = base.find(pid), scene.find(pid)
        assert after.points._base is None and after.fill.color._base is None, pid
        assert not torch.equal(before.fill.color[:3], after.fill.color[:3]), pid  # the hue moved
        assert torch.equal(before.fill.color[3], after.fill.color[3]), pid  # the alpha did not
    assert torch.equal(base.find("b").stroke.color[3], scene.find("b").stroke.color[3])
