"""``word``: Word-As-Image (Iluz et al. 2023): deform letters of a word toward a concept.

    scene, manifest = word("CAT", "cat.svg", concept="cat")

The word is set in a font (a bundled one or any TTF/OTF file, :mod:`vecdistill.text`), one
path per letter. The chosen letters (``letters``: indices or characters; default all) are
subdivided so that they have control points to bend, rendered alone in a square view
around them, and their control points (only those: colours and the other letters stay
exactly as the font draws them) are optimised with

    loss = SDS(render) + acap_weight * ACAP(letters) + tone(render, progress)

(:mod:`vecdistill.pipelines.word_losses`): SDS toward the prompt, the as-conformal-as-
possible angle loss that keeps each letter's local shape, and the low-pass tone loss that
keeps its ink where it was. The shared loop (:func:`~vecdistill.pipelines.loop.optimize`)
runs it with random perspective + crop views, Adam (0.9, 0.9) and a warm-up then decay of
the learning rate (1.0 -> 0.4).

Every hyper-parameter is a :class:`WordConfig` field; None takes the preset of the prior:
:data:`SD_DEFAULTS` (the paper's: 500 steps, CFG 100, t in [0.05, 0.95],
w(t) = sqrt(abar)(1 - abar), render 600, ACAP 0.5, tone 100 peaking at 60 % of the run)
or :data:`EMBEDDED_DEFAULTS` for the embedded icon prior (a short run at its 64 px size).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from ..svg.scene import Group, Scene
from ..text.fonts import load_font
from ..text.glyphs import WordLayout, word_scene
from ..text.subdivide import subdivide_path
from .checkpoint import checkpointer_for
from .common import (
    DistillOptions,
    Reporting,
    check_outputs,
    finish_run,
    is_embedded,
    load_prior_for,
    make_generator,
    objective_overrides,
    parse_device,
    resolve,
)
from .config import loop_config_from
from .loop import LoopResult, LoopState, StepReport, optimize
from .word_losses import ACAPLoss, ToneLoss

WORD_METHODS = ("sds", "sdi", "vsd")

#: The paper's prompt for Stable Diffusion.
SD_TEMPLATE = "a {concept}. minimal flat 2d vector. lineal color. trending on artstation"
#: The embedded prior matches prompts against icon captions: the concept alone.
EMBEDDED_TEMPLATE = "{concept}"


@dataclass
class WordConfig(DistillOptions):
    """Settings of ``word`` (None = the preset's value; see the module docstring).

    Text: ``font`` (bundled name or TTF/OTF path; None = the default font), ``letters``
    (which letters deform: comma-separated 0-based indices "0,2", or characters "AT" meaning
    every occurrence of them; None = every letter), ``kerning`` (GPOS/kern pair kerning),
    ``font_size`` (the em in SVG user units), ``subdivide`` (longest control-polygon
    piece after subdivision, a fraction of the em; 0 keeps the font's own segments).

    Distillation: ``method`` ("sds" | "sdi" | "vsd"), ``prompt_template`` (with
    ``{concept}``; None = :data:`SD_TEMPLATE` for diffusers models, the concept alone for
    the embedded prior), ``negative_prompt``, ``guidance_scale``, ``t_range`` (fractions of
    T), ``weighting`` (w(t)), ``steps``, ``size`` (square render in pixels), ``batch``
    (augmented views per step), ``augment`` and its ``aug_*`` settings (see LoopConfig).

    ``objective_reduction``: "mean" divides the objective's loss (and so its gradient) by
    the number of spatial positions of x0, as the paper's SDS loss averages over latent
    pixels, which sets its balance against the shape losses; "sum" keeps the target
    trick's sum.

    Optimiser: ``lr_points`` in pixels of the render per step (converted to user units),
    ``lr_warmup`` (fraction of the run), ``lr_final`` (factor at the end), ``betas``.

    Shape losses: ``acap_weight`` (0 = off), ``tone_weight`` (0 = off), ``tone_peak`` and
    ``tone_width`` (the bump ``exp(-((p - peak) / width)^2 / 5)`` over progress p; width 0
    = constant), ``tone_sigma`` (blur, fraction of the render size). ``view_margin``: blank
    border of the square view around the letters, fraction of their size.
    """

    method: str = "sds"
    font: str | None = None
    letters: str | None = None
    kerning: bool = True
    font_size: float = 100.0
    subdivide: float | None = None
    prompt_template: str | None = None
    objective_reduction: str = "mean"
    aug_perspective_p: float | None = None
    aug_distortion: float | None = None
    aug_crop_scale: tuple[float, float] | None = None
    acap_weight: float | None = None
    tone_weight: float | None = None
    tone_peak: float | None = None
    tone_width: float | None = None
    tone_sigma: float | None = None
    view_margin: float | None = None


#: The paper's settings for Stable Diffusion (REFERENCE.md section 2).
SD_DEFAULTS = WordConfig(
    subdivide=0.12, guidance_scale=100.0, t_range=(0.05, 0.95), weighting="sqrt(abar)(1-abar)",
    steps=500, size=600, batch=1, augment=True, aug_perspective_p=0.7, aug_distortion=0.5,
    aug_crop_scale=(0.73, 0.73), lr_points=1.0, lr_warmup=0.2, lr_final=0.4, betas=(0.9, 0.9),
    acap_weight=0.5, tone_weight=100.0, tone_peak=0.6, tone_width=0.04, tone_sigma=0.05,
    view_margin=0.1,
)

#: A short run for the embedded 64 x 64 icon prior (its scores are exact: few steps do).
EMBEDDED_DEFAULTS = replace(
    SD_DEFAULTS,
    guidance_scale=30.0, weighting="1-abar", steps=150, size=None, aug_perspective_p=0.3,
    aug_distortion=0.3, aug_crop_scale=(0.85, 1.0), lr_points=0.2, tone_weight=100.0,
    tone_width=0.15,
)


# --------------------------------------------------------------------------------------
# Letters, view, prompt
# --------------------------------------------------------------------------------------


def select_letters(text: str, spec: str | Sequence[int] | None) -> list[int]:
    """Indices (0-based, into ``text``) of the letters to deform.

    ``spec``: None (every non-space character), a list of indices, a string of
    comma-separated indices ("0,3"; negative counts from the end), or characters ("AT":
    every occurrence of each). Raises :class:`InputError` for an index out of range, a
    space, or a character not in the text."""
    visible = [i for i, c in enumerate(text) if not c.isspace()]
    if spec is None:
        return visible
    if isinstance(spec, str):
        s = spec.strip()
        if not s:
            raise InputError("--letters is empty; give indices like 0,2 or characters like AT")
        if re.fullmatch(r"-?\d+(\s*,\s*-?\d+)*", s):
            indices = [int(x) for x in s.split(",")]
        else:
            chars = [c for c in s if not c.isspace() and c != ","]
            absent = sorted({c for c in chars if c not in text})
            if absent:
                raise InputError(f"--letters {spec!r}: {', '.join(map(repr, absent))} not in {text!r}; "
                                 f"use characters of the text or indices 0..{len(text) - 1}")
            return sorted({i for i in visible if text[i] in chars})
    else:
        indices = [int(x) for x in spec]
    out = set()
    for i in indices:
        j = i + len(text) if i < 0 else i
        if not 0 <= j < len(text):
            raise InputError(f"--letters index {i} is out of range for {text!r} ({len(text)} characters: 0..{len(text) - 1})")
        if text[j].isspace():
            raise InputError(f"--letters index {i} is a space in {text!r}; choose a letter")
        out.add(j)
    return sorted(out)


def letter_view(paths, margin: float) -> tuple[float, float, float, float]:
    """A square viewBox (x, y, side, side) centred on the bounding box of ``paths``' points,
    the box's longer side plus ``margin`` of it on each side."""
    pts = torch.cat([p.points.detach() for p in paths])
    lo, hi = pts.min(0).values, pts.max(0).values
    centre = (lo + hi) / 2
    side = float((hi - lo).max()) * (1 + 2 * margin)
    side = max(side, 1e-3)
    return (float(centre[0]) - side / 2, float(centre[1]) - side / 2, side, side)


def word_prompt(concept: str, template: str | None, embedded: bool) -> str:
    """The prompt for ``concept``: ``template`` with ``{concept}`` filled in (None: the
    paper's template, or the concept alone for the embedded prior)."""
    if not isinstance(concept, str) or not concept.strip():
        raise InputError("the concept is empty; say what the word should look like, e.g. --concept \"cat\"")
    if template is None:
        template = EMBEDDED_TEMPLATE if embedded else SD_TEMPLATE
    if "{concept}" not in template:
        raise InputError(f"the prompt template {template!r} has no {{concept}}; put it where the concept goes")
    return template.replace("{concept}", concept.strip())


class _Averaged:
    """An objective whose loss (and gradient) is divided by x0's spatial size H x W."""

    def __init__(self, objective) -> None:
        self.objective = objective
        self.prompt = getattr(objective, "prompt", None)

    def __call__(self, x0, progress, generator, reference=None):
        result = self.objective(x0, progress, generator, reference=reference)
        scale = 1.0 / float(x0.shape[-1] * x0.shape[-2]) if x0.dim() >= 3 else 1.0
        return replace(result, loss=result.loss * scale, grad=result.grad * scale)


def _resolve_word(config: WordConfig, prior) -> WordConfig:
    embedded = is_embedded(prior)
    cfg = resolve(config, EMBEDDED_DEFAULTS if embedded else SD_DEFAULTS)
    if cfg.size is None:
        cfg = replace(cfg, size=int(prior.image_size[0]))
    if cfg.steps < 0:
        raise InputError(f"--steps must be >= 0, got {cfg.steps}")
    if cfg.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {cfg.size}")
    if cfg.font_size <= 0:
        raise InputError(f"font size must be positive, got {cfg.font_size}")
    for name in ("acap_weight", "tone_weight", "subdivide", "lr_points"):
        if getattr(cfg, name) < 0:
            raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
    return cfg


# --------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------


def prepare_word(text: str, cfg: WordConfig, device) -> tuple[Scene, WordLayout, list[int], list]:
    """The word's scene (letters to deform subdivided), its layout, the chosen indices and
    their paths (in text order), on ``device``."""
    tt = load_font(cfg.font)  # checks the font before the text, so a bad font is named first
    del tt
    scene, layout = word_scene(text, cfg.font, size=cfg.font_size, kerning=cfg.kerning)
    chosen = select_letters(text, cfg.letters)
    ids = layout.extra["letters"]
    missing = [i for i in chosen if i not in ids]
    if missing:
        raise InputError(f"--letters: {', '.join(repr(text[i]) for i in missing)} has no outline in this font; choose other letters")
    degree = 3 if layout.extra.get("cubic") else 2
    max_len = cfg.subdivide * cfg.font_size
    chosen_ids = {ids[i] for i in chosen}
    children = []
    for p in scene.root.children:
        children.append(subdivide_path(p, max_len, degree) if p.id in chosen_ids and max_len > 0 else p)
    scene.root.children = children
    scene = scene.to(device=device)
    by_id = {p.id: p for p in scene.paths()}
    return scene, layout, chosen, [by_id[ids[i]] for i in chosen]


def word(
    text: str,
    out: str | None = None,
    concept: str = "",
    config: WordConfig | None = None,
    *,
    prior=None,
    callbacks: Sequence[Callable[[StepReport], None]] = (),
    argv: list[str] | None = None,
) -> tuple[Scene, dict]:
    """Deform letters of ``text`` toward ``concept``; write the SVG to ``out`` (and
    ``OUT.json``) if given.

    ``prior``: an already loaded prior (else ``config.model`` is loaded). ``callbacks``:
    extra loop callbacks. ``argv``: the command line, for the manifest. Returns the whole
    word's scene (letters not chosen are exactly the font's outlines) and the manifest.
    On Ctrl-C the best-so-far word and the manifest are written, then KeyboardInterrupt
    is re-raised.
    """
    config = config or WordConfig()
    if config.objective_reduction not in ("mean", "sum"):
        raise InputError(f"objective_reduction must be mean or sum; got {config.objective_reduction!r}")
    if config.method not in WORD_METHODS:
        raise InputError(f"word: method must be one of {', '.join(WORD_METHODS)}; got {config.method!r}")
    if not isinstance(text, str) or not text.strip():
        raise InputError("the text is empty; give the word to draw, e.g. vecdistill word CAT cat.svg --concept cat")
    if not isinstance(concept, str) or not concept.strip():
        raise InputError("the concept is empty; say what the word should look like, e.g. --concept \"cat\"")
    target = check_outputs(out, config)
    device = parse_device(config.device)
    # the text, font and letters are checked before a model is loaded
    scene, layout, chosen, letter_paths = prepare_word(text, replace(config, subdivide=0.0), device)
    prior = prior if prior is not None else load_prior_for(config)
    cfg = _resolve_word(config, prior)
    scene, layout, chosen, letter_paths = prepare_word(text, cfg, device)
    prompt = word_prompt(concept, cfg.prompt_template, is_embedded(prior))
    generator = make_generator(cfg.seed, device)
    overrides = objective_overrides(cfg.method, guidance_scale=cfg.guidance_scale, t_range=cfg.t_range, weighting=cfg.weighting)
    from .make import build_objective_for

    objective = build_objective_for(cfg.method, prior, prompt, cfg.negative_prompt, overrides)
    if cfg.objective_reduction == "mean":
        objective = _Averaged(objective)

    view_box = letter_view(letter_paths, cfg.view_margin)
    view = Scene(Group(children=list(letter_paths)), width=cfg.size, height=cfg.size, view_box=view_box)
    background = (1.0, 1.0, 1.0)

    def render(_scene: Scene) -> torch.Tensor:
        from ..raster import rasterize

        return rasterize(view, cfg.size, cfg.size, background=background)

    with torch.no_grad():
        original = render(scene).unsqueeze(0)
    aux: dict = {}
    acap = ACAPLoss(letter_paths)
    if cfg.acap_weight > 0:
        aux["acap"] = lambda st: cfg.acap_weight * acap(letter_paths)
    if cfg.tone_weight > 0:
        tone = ToneLoss(original, cfg.tone_sigma * cfg.size, cfg.tone_weight, cfg.tone_peak, cfg.tone_width)

        def tone_term(st: LoopState) -> torch.Tensor:
            return tone(st.image, st.progress)

        aux["tone"] = tone_term

    units_per_px = view_box[2] / cfg.size
    loop_cfg = loop_config_from(cfg, lr_points=cfg.lr_points * units_per_px, background=background,
                                xing_weight=0.0, reinit_every=0)
    groups = {"points": [p.points for p in letter_paths]}
    reporting = Reporting(cfg, loop_cfg.steps, target, desc=text[:24])
    result = optimize(scene, objective, loop_cfg, generator, encode=prior.encode, render=render,
                      groups=groups, aux_losses=aux, callbacks=[*reporting.callbacks, *callbacks],
                      checkpoint=checkpointer_for(target, cfg, cfg.checkpoint_every, cfg.resume), return_on_error=True)
    info = {
        "text": text,
        "concept": concept,
        "prompt": prompt,
        "font": {"name": cfg.font, "file": layout.font_file, "family": layout.family,
                 "units_per_em": layout.units_per_em, "kerning": layout.kerning},
        "letters": [{"index": i, "char": text[i], "id": p.id, "points": int(p.points.shape[0])}
                    for i, p in zip(chosen, letter_paths)],
        "view_box": list(view_box),
        "acap_triangles": acap.num_triangles,
        "prompt_info": getattr(getattr(objective, "prompt", None), "info", None),
    }
    final, manifest = _finish(cfg, prior, result, target, reporting, argv, info)
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise KeyboardInterrupt
    return final, manifest


def fit_view_box(scene: Scene, pad: float) -> Scene:
    """Grow ``scene``'s viewBox (and size) so that every control point lies at least ``pad``
    user units inside it (deformed letters may reach past the original margin); a scene
    that already fits is returned unchanged. Coordinates are not moved."""
    pts = torch.cat([p.points.detach().float() for p in scene.paths()])
    lo, hi = pts.min(0).values.tolist(), pts.max(0).values.tolist()
    x, y, w, h = scene.view_box
    x0, y0 = min(x, lo[0] - pad), min(y, lo[1] - pad)
    x1, y1 = max(x + w, hi[0] + pad), max(y + h, hi[1] + pad)
    if (x0, y0, x1, y1) == (x, y, x + w, y + h):
        return scene
    x0, y0, w, h = (round(v, 3) for v in (x0, y0, x1 - x0, y1 - y0))
    scene.view_box = (x0, y0, w, h)
    scene.width, scene.height = w, h
    return scene


def _finish(cfg: WordConfig, prior, result: LoopResult, target, reporting: Reporting, argv, info: dict):
    scene = result.best_scene if result.interrupted else result.scene
    scene = fit_view_box(scene.map_tensors(lambda t: t.detach().clone()), 0.1 * cfg.font_size)
    manifest = finish_run("word", scene, result, cfg, prior, target, reporting, argv, info)
    return scene, manifest
