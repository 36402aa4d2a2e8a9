"""An exact prior: class-conditional Gaussian mixtures under the DDPM forward process.

Each class ``c`` is a mixture ``p_0(x | c) = sum_k w_k N(x; mu_k, Sigma_k)`` in ``R^D`` with
isotropic (``Sigma_k = s_k I``) or diagonal (``Sigma_k = diag(s_k)``) covariances. Under the
forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` the noised marginal is again
a mixture, with means ``sqrt(abar_t) mu_k`` and covariances ``abar_t Sigma_k + (1 - abar_t) I``,
so the score and the optimal (MMSE) noise prediction are exact::

    eps*(x_t, t, c) = E[eps | x_t, c] = -sqrt(1 - abar_t) grad_x log p_t(x_t | c)

The unconditional model (the "empty prompt") is the union of all classes weighted by the class
weights. Prompts are class names; ``encode`` is the identity. Samples are points ``[B, D]`` or
images ``[B, C, H, W]`` seen as flattened vectors (``D = C H W``). Computations run in float64
and results are returned in the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import InputError, PromptError
from .base import Prior, PromptCondition

Tensor = torch.Tensor


def scaled_linear_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> Tensor:
    """Stable Diffusion's schedule: ``beta_t = (linspace(sqrt(b0), sqrt(b1), T))^2``,
    ``abar_t = prod_{s<=t} (1 - beta_s)``; [T] float32."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


@dataclass
class GaussianClass:
    """One class: ``means`` [K, D], ``variances`` [K] (isotropic) or [K, D] (diagonal),
    ``weights`` [K] (normalised on use; ``None`` = equal)."""

    means: Tensor
    variances: Tensor | float
    weights: Tensor | None = None


@dataclass(eq=False)
class Mixture:
    """A mixture as the prior's condition: ``means`` [K, D], ``variances`` [K, D],
    ``log_weights`` [K] (normalised), all float64; ``name`` for messages."""

    name: str
    means: Tensor
    variances: Tensor
    log_weights: Tensor


class GaussianMixturePrior(Prior):
    """Exact noise prediction for class-conditional Gaussian mixtures.

    ``classes``: class name -> :class:`GaussianClass` (or a ``(means, variances[, weights])``
    tuple). ``shape``: the shape of one sample (default ``(D,)``; e.g. ``(3, 8, 8)`` for
    images). ``class_weights``: name -> weight of the class in the unconditional mixture
    (default equal). ``alphas_cumprod``: [T] (default Stable Diffusion's schedule, T = 1000).
    """

    name = "gaussian-mixture"

    def __init__(
        self,
        classes: Mapping[str, GaussianClass | Sequence],
        shape: Sequence[int] | None = None,
        class_weights: Mapping[str, float] | None = None,
        alphas_cumprod: Tensor | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not classes:
            raise InputError("a Gaussian mixture prior needs at least one class")
        self.device = torch.device(device)
        self.dtype = dtype
        self.alphas_cumprod = (alphas_cumprod if alphas_cumprod is not None else scaled_linear_alphas_cumprod()).float().to(self.device)
        self.classes: dict[str, Mixture] = {}
        for cname, spec in classes.items():
            self.classes[cname] = self._mixture(cname, spec)
        dims = {m.means.shape[1] for m in self.classes.values()}
        if len(dims) != 1:
            raise InputError(f"all classes must have the same dimension, got {sorted(dims)}")
        self.dim = dims.pop()
        self.shape = tuple(shape) if shape is not None else (self.dim,)
        if math.prod(self.shape) != self.dim:
            raise InputError(f"shape {self.shape} does not hold {self.dim} values")
        self.image_size = tuple(self.shape[-2:]) if len(self.shape) == 3 else (1, self.dim)
        cw = {c: float((class_weights or {}).get(c, 1.0)) for c in self.classes}
        total = sum(cw.values())
        self.union = Mixture(
            "<unconditional>",
            torch.cat([m.means for m in self.classes.values()]),
            torch.cat([m.variances for m in self.classes.values()]),
            torch.cat([m.log_weights + math.log(cw[c] / total) for c, m in self.classes.items()]),
        )

    def _mixture(self, cname: str, spec: GaussianClass | Sequence) -> Mixture:
        if not isinstance(spec, GaussianClass):
            spec = GaussianClass(*spec)
        means = torch.as_tensor(spec.means, dtype=torch.float64, device=self.device)
        if means.dim() == 1:
            means = means[None]
        K, D = means.shape
        var = torch.as_tensor(spec.variances, dtype=torch.float64, device=self.device)
        if var.dim() == 0:
            var = var.expand(K)
        if var.dim() == 1:
            var = var[:, None].expand(K, D)
        if var.shape != (K, D) or not bool((var > 0).all()):
            raise InputError(f"class {cname!r}: variances must be positive, [K] or [K, D] for K={K}, D={D}")
        w = torch.ones(K, dtype=torch.float64, device=self.device) if spec.weights is None else torch.as_tensor(spec.weights, dtype=torch.float64, device=self.device)
        if w.shape != (K,) or not bool((w > 0).all()):
            raise InputError(f"class {cname!r}: weights must be {K} positive numbers")
        return Mixture(cname, means, var.contiguous(), torch.log(w / w.sum()))

    # -- images <-> model space ---------------------------------------------------------
    def encode(self, images: Tensor) -> Tensor:
        """Identity (cast to the prior's dtype); images must have the prior's sample shape."""
        if tuple(images.shape[1:]) != self.shape:
            raise InputError(f"expected samples of shape {self.shape}, got {tuple(images.shape[1:])}")
        return images.to(self.dtype)

    def decode(self, x0: Tensor) -> Tensor:
        return x0.float().clamp(0, 1)

    # -- prompts ------------------------------------------------------------------------
    def _condition(self, text: str) -> Mixture:
        if text == "":
            return self.union
        if text not in self.classes:
            raise PromptError(f"unknown class {text!r}; this mixture prior knows: {', '.join(sorted(self.classes))}")
        return self.classes[text]

    def _encode_prompt(self, text: str, negative: str) -> PromptCondition:
        return PromptCondition(text=text, negative=negative, cond=self._condition(text), uncond=self._condition(negative))

    # -- exact densities ----------------------------------------------------------------
    def _noised(self, x: Tensor, abar: Tensor, mix: Mixture, log_weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """For flattened x [B, D] and abar [B]: (diff [B,K,D], var [B,K,D], log joint [B,K]).
        ``log_weights`` [B, K] overrides ``mix.log_weights`` per row."""
        a = abar.to(torch.float64).view(-1, 1, 1)
        diff = x.to(torch.float64)[:, None, :] - a.sqrt() * mix.means[None]
        var = a * mix.variances[None] + (1 - a)
        log_n = -0.5 * (diff**2 / var + torch.log(2 * math.pi * var)).sum(-1)
        return diff, var, log_n + (mix.log_weights[None] if log_weights is None else log_weights)

    def _flat(self, x: Tensor) -> Tensor:
        if math.prod(x.shape[1:]) != self.dim:
            raise InputError(f"expected samples with {self.dim} values, got shape {tuple(x.shape[1:])}")
        return x.reshape(x.shape[0], self.dim)

    def log_density_abar(self, x: Tensor, abar: Tensor, cond: Mixture) -> Tensor:
        """``log p(x)`` of the mixture noised to ``abar`` ([B] float; 1 = clean); [B] float64."""
        _, _, logj = self._noised(self._flat(x), abar, cond)
        return torch.logsumexp(logj, dim=1)

    def score_abar(self, x: Tensor, abar: Tensor, cond: Mixture) -> Tensor:
        """``grad_x log p(x)`` of the mixture noised to ``abar``; same shape as ``x``, float64."""
        diff, var, logj = self._noised(self._flat(x), abar, cond)
        resp = torch.softmax(logj, dim=1)[:, :, None]
        return (resp * (-diff / var)).sum(1).reshape(x.shape)

    def log_density(self, x_t: Tensor, t: Tensor, cond: Mixture) -> Tensor:
        """``log p_t(x_t | cond)`` at integer timesteps ``t`` [B]; [B] float64."""
        return self.log_density_abar(x_t, self.abar(t), cond)

    def score(self, x_t: Tensor, t: Tensor, cond: Mixture) -> Tensor:
        """``grad log p_t(x_t | cond)`` at integer timesteps ``t`` [B]; float64."""
        return self.score_abar(x_t, self.abar(t), cond)

    def predict_noise(self, x_t: Tensor, t: Tensor, cond: Mixture) -> Tensor:
        """The exact ``eps*(x_t, t) = -sqrt(1 - abar_t) grad log p_t(x_t | cond)``."""
        t = t.expand(x_t.shape[0]) if t.dim() == 0 else t
        abar = self.abar(t).to(torch.float64)
        sigma = (1 - abar).sqrt().view(-1, *([1] * (x_t.dim() - 1)))
        return (-sigma * self.score_abar(x_t, abar, cond)).to(x_t.dtype)

    def predict_noise_many(self, x_t, t, conds) -> list[Tensor]:
        """All pairs in one computation: the components of every distinct condition are
        stacked and each row keeps the log-weights of its own condition (-inf elsewhere)."""
        mixes: list[Mixture] = []
        for c in conds:
            if not any(c is m for m in mixes):
                mixes.append(c)
        offsets = [0]
        for m in mixes:
            offsets.append(offsets[-1] + m.means.shape[0])
        stacked = Mixture("<stacked>", torch.cat([m.means for m in mixes]), torch.cat([m.variances for m in mixes]), torch.zeros(offsets[-1], dtype=torch.float64, device=self.device))
        rows, abars, logws = [], [], []
        for x, tt, c in zip(x_t, t, conds):
            j = next(i for i, m in enumerate(mixes) if m is c)
            lw = torch.full((offsets[-1],), -math.inf, dtype=torch.float64, device=self.device)
            lw[offsets[j] : offsets[j + 1]] = c.log_weights
            tt = tt.expand(x.shape[0]) if tt.dim() == 0 else tt
            rows.append(self._flat(x))
            abars.append(self.abar(tt).to(torch.float64))
            logws.append(lw.expand(x.shape[0], -1))
        abar = torch.cat(abars)
        diff, var, logj = self._noised(torch.cat(rows), abar, stacked, torch.cat(logws))
        resp = torch.softmax(logj, dim=1)[:, :, None]
        eps = (1 - abar).sqrt()[:, None] * (resp * (diff / var)).sum(1)
        out, start = [], 0
        for x in x_t:
            out.append(eps[start : start + x.shape[0]].reshape(x.shape).to(x.dtype))
            start += x.shape[0]
        return out

    def sample(self, n: int, cond: Mixture, generator: torch.Generator) -> Tensor:
        """``n`` exact samples of the clean mixture ``cond``; [n, *shape] in the prior's dtype."""
        gen_dev = generator.device
        k = torch.multinomial(cond.log_weights.exp().cpu(), n, replacement=True, generator=generator if gen_dev.type == "cpu" else None)
        z = torch.randn((n, self.dim), generator=generator, device=gen_dev, dtype=torch.float64).to(self.device)
        k = k.to(self.device)
        x = cond.means[k] + cond.variances[k].sqrt() * z
        return x.reshape(n, *self.shape).to(self.dtype)

    def describe(self) -> dict:
        info = super().describe()
        info["classes"] = {c: int(m.means.shape[0]) for c, m in self.classes.items()}
        return info
