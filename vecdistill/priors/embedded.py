"""The embedded default prior: the exact diffusion model of a bundled, captioned icon set.

The data distribution is the empirical distribution of the bundled Twemoji icons
(:mod:`vecdistill.priors.icons`) rendered on white at ``resolution`` x ``resolution``, in
pixel space scaled to [-1, 1]. Its noise prediction is exact, not learnt
(:mod:`vecdistill.priors.empirical`): ``x0_hat`` is the softmax-weighted mean of the icons
and ``eps = (x_t - sqrt(abar) x0_hat) / sqrt(1 - abar)``. The schedule is Stable Diffusion
1.5's (scaled linear betas 0.00085..0.012, 1000 steps), so the objectives' timestep ranges
mean the same as with SD.

Prompts select icons by caption (:mod:`vecdistill.priors.captions`, which states the rule):
the condition is the matched icons with their weights, the unconditional branch all icons
(or, with a negative prompt that matches icons with all its words, i.e. not only the
"partial" tier, those icons, as Stable Diffusion uses the negative prompt in place of the
empty one; SD-style negatives such as "blurry, low quality" match nothing and are ignored,
which ``info["negative_note"]`` says). ``PromptCondition.info["matched"]`` lists the
captions matched. Classifier-free guidance then works as with any prior.

Cost: the icon matrix is N x 3 R^2 floats (1252 icons at 64^2: 58.7 MiB in float32), kept
with a transposed copy for the means at high noise (117.4 MiB together, ``denoiser.nbytes``);
a noise prediction is one product with it, and a second one where the posterior spreads
(see :mod:`vecdistill.priors.empirical` and ``benchmarks/embedded_prior_bench.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import Prior, PromptCondition
from .captions import CaptionIndex, CaptionMatch
from .colours import colour_name, colour_shares, recolour
from .empirical import EmpiricalDenoiser
from .gmm import scaled_linear_alphas_cumprod
from .icons import IconSet, cache_file, rendered_icons

Tensor = torch.Tensor

MIN_RESOLUTION, MAX_RESOLUTION = 8, 512
DEFAULT_RESOLUTION = 64  # (the size its renders are cached at when no other is asked for)


@dataclass(eq=False, frozen=True)
class IconCondition:
    """A condition of the embedded prior: ``log_weights`` [N] (log probabilities of the
    icons, ``-inf`` for icons left out) in the prior's compute dtype on its device, and the
    ``captions`` it stands for. ``own``: None, or the exact denoiser of icons of its own
    (recoloured ones, :meth:`EmbeddedPrior.encode_prompt`), weighed equally; then
    ``log_weights`` is [K] zeros over those."""

    log_weights: Tensor
    captions: tuple[str, ...]
    own: EmpiricalDenoiser | None = None


class EmbeddedPrior(Prior):
    """The exact prior of the bundled icon set (see the module docstring).

    ``resolution``: the working size R (images are R x R; ``image_size == (R, R)``).
    ``device``: where the icon matrix lives and predictions run. ``dtype``: the requested
    precision; computations run in float32 (float64 if ``dtype`` is float64) and
    predictions come back in the input's dtype. ``cache_dir``: where renders are cached
    (default :func:`vecdistill.cache.cache_dir`). ``icon_set``: another set (e.g. a subset
    for tests; default the bundled one).
    """

    name = "embedded-icons"

    def __init__(
        self,
        resolution: int = DEFAULT_RESOLUTION,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = torch.float32,
        cache_dir: str | Path | None = None,
        *,
        icon_set: IconSet | None = None,
    ) -> None:
        super().__init__()
        resolution = int(resolution)
        if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
            raise InputError(f"embedded prior resolution must be in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], got {resolution}")
        self.resolution = resolution
        self.image_size = (resolution, resolution)
        self.device = torch.device(device)
        self.dtype = dtype if dtype is not None else torch.float32
        self.compute_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        self.alphas_cumprod = scaled_linear_alphas_cumprod().to(self.device)

        self.icon_set = icon_set if icon_set is not None else IconSet.load()
        self.captions = CaptionIndex(self.icon_set.icons)
        self.cache_path = cache_file(self.icon_set, resolution, cache_dir)
        pixels, self.loaded_from_cache = rendered_icons(self.icon_set, resolution, cache_dir)
        points = pixels.reshape(len(self.icon_set), -1).to(self.device, self.compute_dtype)
        # (copied, not centred in place: the denoiser's own matrices sit on huge pages)
        self.denoiser = EmpiricalDenoiser(points.mul_(2 / 255).sub_(1))
        self._all = IconCondition(torch.zeros(len(self.icon_set), dtype=self.compute_dtype, device=self.device), ("(all icons)",))
        self._shares: Tensor | None = None  # the icons' colour shares, made on first use (colour_shares)

    # -- images <-> model space ---------------------------------------------------------
    def encode(self, images: Tensor) -> Tensor:
        """Images [B, 3, H, W] in [0, 1] -> x0 = 2 images - 1 at R x R (bilinear,
        antialiased resize when H, W differ from R); differentiable, dtype kept."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise InputError(f"the embedded prior encodes images [B, 3, H, W], got shape {tuple(images.shape)}")
        if tuple(images.shape[-2:]) != self.image_size:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", antialias=True, align_corners=False)
        return images * 2 - 1

    # -- prompts ------------------------------------------------------------------------
    def _condition(self, found: CaptionMatch) -> IconCondition:
        log_w = torch.full((len(self.icon_set),), float("-inf"), dtype=self.compute_dtype)
        for index, weight in found.weights.items():
            log_w[index] = torch.tensor(weight, dtype=torch.float64).log()
        return IconCondition(log_w.to(self.device), found.captions)

    def match(self, prompt: str) -> CaptionMatch:
        """The caption match of ``prompt`` (a dropped colour word choosing among the icons
        by their pixels, :mod:`.colours`); raises PromptError with close captions if none."""
        return self.captions.require(prompt, self.colour_shares)

    def colour_shares(self) -> Tensor:
        """[N, len(colours.NAMES)] the share of each icon's drawn pixels each colour names
        (:func:`.colours.colour_shares`, from the icon matrix; computed once, on the CPU)."""
        if self._shares is None:
            r = self.resolution
            d = self.denoiser  # (it keeps the points centred on their mean)
            images = (d.centered + d.center).to("cpu", torch.float32).add_(1).mul_(0.5)
            self._shares = colour_shares(images.view(-1, 3, r, r))
        return self._shares

    def _recoloured(self, found: CaptionMatch) -> tuple[IconCondition, str] | None:
        """For a match that dropped a colour word no matched icon is (``found.colour`` is
        None): its best icons recoloured (:func:`.colours.recolour`) as a condition of
        their own, and the colour; None otherwise (or for "white", which cannot be drawn on
        the white background)."""
        colour = found.missing_colour
        if colour is None:
            return None
        index = torch.tensor(found.primary, dtype=torch.long, device=self.device)
        images = ((self.denoiser.points(index).float() + 1) / 2).view(-1, 3, *self.image_size).cpu()
        points = recolour(images, colour).mul_(2).sub_(1).reshape(len(found.primary), -1)
        own = EmpiricalDenoiser(points.to(self.device, self.compute_dtype), transposed=False)
        zeros = torch.zeros(own.num_points, dtype=self.compute_dtype, device=self.device)
        return IconCondition(zeros, tuple(f"{colour} {c}" for c in found.captions), own), colour

    def _encode_prompt(self, text: str, negative: str) -> PromptCondition:
        info: dict[str, Any] = {}
        if text.strip():
            found = self.match(text)
            recoloured = self._recoloured(found)
            cond = self._condition(found) if recoloured is None else recoloured[0]
            info.update(
                matched=list(found.captions), tier=found.tier, ignored_words=list(found.ignored),
                secondary=[self.icon_set.icons[i].name for i in found.secondary], colour=found.colour,
            )
            if recoloured is not None:  # the colour word is used, not ignored
                colour = recoloured[1]
                info.update(tier="recoloured", colour=colour, secondary=[],
                            ignored_words=[w for w in found.ignored if colour_name(w) != colour])
        else:
            cond = self._all
            info.update(matched=["(all icons)"], tier="unconditional", ignored_words=[], secondary=[])
        uncond = self._all
        if negative.strip():
            neg = self.captions.match(negative)
            if neg is None or neg.tier == "partial":
                info["negative_matched"] = []
                info["negative_note"] = "the negative prompt matches no caption with all its words; the unconditional branch uses all icons"
            else:
                uncond = self._condition(neg)
                info["negative_matched"] = list(neg.captions)
        return PromptCondition(text=text, negative=negative, cond=cond, uncond=uncond, info=info)

    def icons_for(self, prompt: str) -> tuple[Tensor, list[str]]:
        """The icons ``prompt`` matches best (its best tier, recoloured when its colour word
        asks for it): images [K, 3, R, R] in [0, 1] (float32, on the prior's device) and
        their short names."""
        found = self.match(prompt)
        recoloured = self._recoloured(found)
        if recoloured is not None:
            points = recoloured[0].own.points()
        else:
            points = self.denoiser.points(torch.tensor(found.primary, dtype=torch.long, device=self.device))
        images = (points.float() + 1) / 2
        return images.view(-1, 3, *self.image_size).clamp(0, 1), list(found.captions)

    def all_icons(self) -> Tensor:
        """Every icon as images [N, 3, R, R] in [0, 1] (float32, on the prior's device)."""
        return ((self.denoiser.points().float() + 1) / 2).view(-1, 3, *self.image_size).clamp(0, 1)

    # -- noise prediction ---------------------------------------------------------------
    def predict_noise(self, x_t: Tensor, t: Tensor, cond: Any) -> Tensor:
        """Exact eps(x_t, t, cond): ``x_t`` [B, 3, R, R], ``t`` [B] (or scalar) int64,
        ``cond`` an :class:`IconCondition`. Returns [B, 3, R, R] in ``x_t``'s dtype."""
        return self.predict_noise_many([x_t], [t], [cond])[0]

    def predict_noise_many(self, x_t: Sequence[Tensor], t: Sequence[Tensor], conds: Sequence[Any]) -> list[Tensor]:
        """All predictions in one pass: one product with the icon matrix for all distinct
        samples (the same x_t and t objects under two conditions count once), then one
        pruned product per condition for the means (a condition with icons of its own,
        recoloured ones, uses their small matrix)."""
        return self._predict(x_t, t, conds, "noise")

    def predict_x0_many(self, x_t: Sequence[Tensor], t: Sequence[Tensor], conds: Sequence[Any]) -> list[Tensor]:
        """The exact posterior means E[x0 | x_t, cond] (same arguments as
        :meth:`predict_noise_many`), in model space [-1, 1]."""
        return self._predict(x_t, t, conds, "posterior_mean")

    def _predict(self, x_t: Sequence[Tensor], t: Sequence[Tensor], conds: Sequence[Any], what: str) -> list[Tensor]:
        """``what`` (an :class:`EmpiricalDenoiser` method: ``"noise"`` or
        ``"posterior_mean"``) of every triple: those whose condition has icons of its own by
        that condition's denoiser, the others together by the icon matrix."""
        own = [k for k, c in enumerate(conds) if isinstance(c, IconCondition) and c.own is not None]
        if not own:
            flat, abar, log_weights, rows, samples = self._batch(x_t, t, conds)
            return self._split(getattr(self.denoiser, what)(flat, abar, log_weights, rows, samples), x_t)
        out: list[Tensor | None] = [None] * len(conds)
        rest = [k for k in range(len(conds)) if k not in own]
        if rest:
            for k, v in zip(rest, self._predict([x_t[k] for k in rest], [t[k] for k in rest], [conds[k] for k in rest], what)):
                out[k] = v
        for k in own:
            flat, abar = self._flatten(x_t[k], t[k])
            out[k] = self._split(getattr(conds[k].own, what)(flat, abar), [x_t[k]])[0]
        return out

    def _batch(self, x_t: Sequence[Tensor], t: Sequence[Tensor], conds: Sequence[Any]) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """Flatten the triples: the distinct samples [U, D] and their abar [U], the distinct
        conditions' log weights [G, N], and for every requested row its condition [M] and
        its sample [M] (compute dtype, on device; for a single triple both None, row m being
        sample m under condition 0, and the log weights None if that is all icons). A triple whose x_t and t are the same tensor objects
        as an earlier one's (CFG's two branches) reuses its samples."""
        if not (len(x_t) == len(t) == len(conds)) or not x_t:
            raise ValueError("predict_noise_many needs as many x_t, t and conds, at least one")
        if any(not isinstance(c, IconCondition) for c in conds):
            raise InputError("the embedded prior needs conditions from its own encode_prompt")
        if len(x_t) == 1:  # predict_noise: no index bookkeeping (all icons: no weights)
            flat, abar = self._flatten(x_t[0], t[0])
            return flat, abar, None if conds[0] is self._all else conds[0].log_weights[None], None, None
        flats, abars, rows, samples = [], [], [], []
        conditions: dict[int, tuple[int, IconCondition]] = {}
        seen: dict[tuple[int, int], int] = {}  # (id(x), id(t)) -> first sample row
        count = 0
        for x, tt, c in zip(x_t, t, conds):
            key = (id(x), id(tt))
            if key not in seen:
                flat, abar = self._flatten(x, tt)
                seen[key] = count
                flats.append(flat)
                abars.append(abar)
                count += flat.shape[0]
            g = conditions.setdefault(id(c), (len(conditions), c))[0]
            b = x.shape[0]
            rows.extend([g] * b)
            samples.extend(range(seen[key], seen[key] + b))
        log_weights = torch.stack([c.log_weights for _, c in sorted(conditions.values(), key=lambda v: v[0])])
        flat = flats[0] if len(flats) == 1 else torch.cat(flats)
        abar = abars[0] if len(abars) == 1 else torch.cat(abars)
        as_index = dict(dtype=torch.long, device=self.device)
        return flat, abar, log_weights, torch.tensor(rows, **as_index), torch.tensor(samples, **as_index)

    def _flatten(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """One (x_t, t) pair checked: ``x`` as [B, D] and its abar [B] (compute dtype, on device)."""
        dim = 3 * self.resolution * self.resolution
        if x.dim() < 2 or x.shape[1:].numel() != dim:
            raise InputError(f"the embedded prior works on [B, 3, {self.resolution}, {self.resolution}] samples, got {tuple(x.shape)}")
        b = x.shape[0]
        steps = torch.as_tensor(t, device=self.device).reshape(-1)
        if steps.numel() == 1:
            steps = steps.expand(b)
        elif steps.numel() != b:
            raise ValueError(f"t has {steps.numel()} timesteps for a batch of {b}")
        abar = self.alphas_cumprod[steps.long()].to(self.compute_dtype)
        return x.reshape(b, dim).to(self.device, self.compute_dtype), abar

    def _split(self, out: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
        pieces, start = [], 0
        for x in like:
            b = x.shape[0]
            pieces.append(out[start:start + b].reshape(x.shape).to(device=x.device, dtype=x.dtype))
            start += b
        return pieces

    def describe(self) -> dict:
        info = super().describe()
        info.update(icons=len(self.icon_set), icon_set=self.icon_set.digest()[:12], cache=str(self.cache_path))
        return info
