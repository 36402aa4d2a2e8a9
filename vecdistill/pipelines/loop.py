"""The optimisation loop shared by the SVG pipelines (``make``, ``edit``, ``word``).

One step::

    hooks(state)                       # may change the scene: re-initialisation, new paths
    image  = render(scene)             # [1, 3, H, W] in [0, 1]
    views  = augment(image)            # [batch, 3, H, W], random perspective + crop
    x0     = encode(views)             # the prior's space (prior.encode by default)
    loss   = objective(x0, progress, generator, reference).loss
           + xing_weight * xing(scene) + sum(aux(state) for aux in aux_losses)
    loss.backward(); NaN guard; Adam step with per-group learning rates; constrain(scene)
    callbacks(report)                  # progress bar, snapshots, video frames

Every stage is timed (seconds, summed over steps; on CUDA after a synchronise) into
``LoopResult.timings``. A non-finite loss or gradient skips the step (counted in
``LoopResult.skipped``); more than ``config.max_skipped`` in a row raises NumericalError.
Ctrl-C (KeyboardInterrupt) ends the loop early with ``LoopResult.interrupted = True``: the
caller writes the best-so-far scene and then re-raises.

The best-so-far scene is the one with the lowest exponential moving average of the total
loss (``config.ema``); ``LoopResult.scene`` is the last one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..errors import InputError, NumericalError
from ..raster import threads
from ..svg.scene import Scene
from .augment import sample_view, warp
from .config import PARAM_GROUPS, LoopConfig, lr_factor
from .kept import KeptCopy
from .losses import xing_loss
from .packed import Packing, pack_run

Tensor = torch.Tensor

STAGES = ("hooks", "render", "augment", "encode", "objective", "aux", "backward", "optimizer", "callbacks")


@dataclass
class LoopState:
    """What hooks, auxiliary losses and callbacks see.

    ``step``: 0-based step; ``progress``: ``step / steps`` in [0, 1). ``groups``: the
    optimised tensors by kind (``points``, ``colors``, ``widths``, ``opacities``).
    ``image``: this step's un-augmented render [1, 3, H, W] (set before aux losses run;
    None in hooks). ``generator``: the run's random generator. ``pack``: the run packs
    what it can (``optimize(pack=True)``); ``packing``: its packed kinds now (a packed kind's
    group is its one leaf and the paths' tensors are views of it), else None.
    """

    step: int
    progress: float
    scene: Scene
    config: LoopConfig
    optimizer: torch.optim.Optimizer
    groups: dict[str, list[Tensor]]
    generator: torch.Generator
    image: Tensor | None = None
    structure_changed: bool = False
    pack: bool = False
    packing: Packing | None = None

    def add_params(self, kind: str, tensors: Sequence[Tensor]) -> None:
        """Optimise new tensors (e.g. paths just added) in group ``kind`` from now on (a
        packed run is unpacked, its moments carried over, and packed again with the new
        tensors before the step renders)."""
        if self.packing is not None:
            self.packing.unpack(self.optimizer, self.groups)
            self.packing = None
        for group in self.optimizer.param_groups:
            if group["name"] == kind:
                for t in tensors:
                    t.requires_grad_(True)
                    group["params"].append(t)
                    self.groups[kind].append(t)
                self.structure_changed = True
                return
        raise ValueError(f"no parameter group {kind!r}")

    def reset_params(self, tensors: Sequence[Tensor]) -> None:
        """Forget the optimiser's moments for ``tensors`` (after re-initialising them; a
        packed path's rows of its leaf's moments are zeroed, see :mod:`.packed`)."""
        for t in tensors:
            if self.packing is None or not self.packing.reset(self.optimizer, t):
                self.optimizer.state.pop(t, None)


@dataclass
class StepReport:
    """After each step: ``loss`` (total, float), ``losses`` by name, ``skipped`` (the step
    was not applied), ``image`` [1, 3, H, W] detached render, ``info`` from the objective."""

    step: int
    steps: int
    progress: float
    loss: float
    losses: dict[str, float]
    skipped: bool
    image: Tensor
    scene: Scene
    info: dict = field(default_factory=dict)


@dataclass
class LoopResult:
    """``scene``: the last state; ``best_scene`` and ``best_step``: the lowest smoothed loss.
    ``steps_done``: steps run to the end of their optimiser stage (fewer than asked when
    interrupted). ``skipped``: non-finite
    steps skipped; ``objective_skipped``: steps whose gradient the objective zeroed.
    ``timings``: seconds per stage summed over steps. ``history``: total loss per step.
    ``error``: the NumericalError that stopped the run (``return_on_error``);
    ``resumed_from``: the step a ``--resume`` continued from."""

    scene: Scene
    best_scene: Scene
    best_step: int
    final_loss: float
    steps_done: int
    skipped: int
    objective_skipped: int
    interrupted: bool
    timings: dict[str, float]
    history: list[float]
    wall_seconds: float
    error: Exception | None = None
    resumed_from: int | None = None


Objective = Callable[..., object]
AuxLoss = Callable[[LoopState], Tensor]
Hook = Callable[[LoopState], None]
Callback = Callable[[StepReport], None]


class _Timer:
    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.totals = dict.fromkeys(STAGES, 0.0)
        self._t = time.perf_counter()

    def mark(self, stage: str | None) -> None:
        """Close the running interval, charging it to ``stage`` (None: not charged)."""
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        if stage is not None:
            self.totals[stage] += now - self._t
        self._t = now


def default_groups(scene: Scene, config: LoopConfig, kinds: Sequence[str] = PARAM_GROUPS) -> dict[str, list[Tensor]]:
    """The scene's tensors of ``kinds`` whose learning rate is non-zero, by kind."""
    found = scene.param_groups(tuple(kinds))
    return {k: list(found[k]) for k in kinds if config.lr(k) > 0 and found[k]}


def clamp_groups(groups: Mapping[str, Sequence[Tensor]], config: LoopConfig) -> None:
    """Keep values legal after a step: colours and opacities in [0, 1], widths in
    [``min_width``, ``max_width``] (in place, no autograd)."""
    with torch.no_grad():  # one multi-tensor call per bound and kind (hundreds of tiny tensors)
        for kind, lo, hi in (("colors", 0.0, 1.0), ("opacities", 0.0, 1.0), ("widths", config.min_width, config.max_width)):
            ts = list(groups.get(kind, ()))
            if ts:
                torch._foreach_clamp_min_(ts, lo)
                torch._foreach_clamp_max_(ts, hi)


def _finite_grads(tensors: Sequence[Tensor]) -> bool:
    """Whether every gradient is finite: one check over all of them (one host read)."""
    grads = [t.grad.reshape(-1) for t in tensors if t.grad is not None]
    return not grads or bool(torch.isfinite(torch.cat(grads)).all())


def adam(param_groups: list[dict], betas: tuple[float, float]) -> torch.optim.Optimizer:
    """Adam over ``param_groups`` with torch's fused kernel where the device supports it (a
    scene gives one small tensor per path and kind, and the default implementation loops
    over them in Python; ``benchmarks/make_step_bench.py`` prints the optimiser's share of
    a step). Same update rule."""
    try:
        return torch.optim.Adam(param_groups, betas=betas, fused=True)
    except (RuntimeError, ValueError, TypeError):  # a device or dtype the fused kernel lacks
        return torch.optim.Adam(param_groups, betas=betas)


def optimize(
    scene: Scene,
    objective: Objective,
    config: LoopConfig,
    generator: torch.Generator,
    *,
    encode: Callable[[Tensor], Tensor],
    render: Callable[[Scene], Tensor] | None = None,
    groups: Mapping[str, Sequence[Tensor]] | None = None,
    reference_image: Tensor | None = None,
    aux_losses: Mapping[str, AuxLoss] | None = None,
    hooks: Sequence[Hook] = (),
    callbacks: Sequence[Callback] = (),
    constrain: Callable[[LoopState], None] | None = None,
    checkpoint=None,
    return_on_error: bool = False,
    pack: bool = False,
) -> LoopResult:
    """Optimise ``scene`` in place against ``objective`` for ``config.steps`` steps.

    ``objective(x0, progress, generator, reference=None) -> DistillResult`` (any object with
    a scalar ``loss``; ``skipped``/``info`` are read when present). ``encode``: images
    [B, 3, H, W] in [0, 1] -> x0 (usually ``prior.encode``). ``render``: scene -> [3, H, W]
    (default: the rasterizer at ``config.size`` over ``config.background``).
    ``groups``: tensors to optimise by kind (default: :func:`default_groups`); each kind
    gets learning rate ``config.lr_<kind>``. ``reference_image``: [1, 3, H, W] for editing
    objectives: it is augmented with the same views as the render and encoded (no grad)
    into the objective's ``reference``. ``aux_losses``: name -> fn(state) -> scalar, added
    to the loss (weights are the caller's). ``hooks`` run before each step's render,
    ``callbacks`` after it. ``constrain(state)`` runs after each optimiser step (default:
    :func:`clamp_groups`). ``checkpoint``: a
    :class:`~vecdistill.pipelines.checkpoint.Checkpointer` that restores a saved run before
    the first step and saves step boundaries (``--checkpoint-every``, ``--resume``).
    ``return_on_error``: on NumericalError return (``error`` set, ``interrupted`` True) so
    the caller can write the best-so-far before raising ``result.error``.
    ``pack``: optimise the scene's points and solid colours as one leaf each for the run
    (:mod:`.packed`; fewer autograd and optimiser operations per step) when the groups allow
    it (checkpoints still hold one tensor per path: :meth:`.packed.Packing.per_path`); the
    scene gets its own tensors back at the end. Only
    for callers whose hooks, losses and ``constrain`` read the scene's tensors through the
    scene (``path.points``), not through references taken before the run.
    """
    if config.steps < 0:
        raise InputError(f"steps must be >= 0, got {config.steps}; pass a positive --steps")
    if config.batch < 1:
        raise InputError(f"batch must be >= 1, got {config.batch}")
    if render is None:
        from ..raster import rasterize

        def render(s: Scene) -> Tensor:
            return rasterize(s, config.size, config.size, background=config.background)

    groups = {k: list(v) for k, v in (groups if groups is not None else default_groups(scene, config)).items() if len(v)}
    if not groups:
        raise InputError("nothing to optimise: every parameter group is empty or has a learning rate of 0")
    def tensors_all() -> list[Tensor]:
        return [t for ts in groups.values() for t in ts]

    for t in tensors_all():
        t.requires_grad_(True)
    packing = pack_run(scene, groups) if pack else None
    optimizer = adam(
        [{"params": ts, "lr": config.lr(k), "name": k, "base_lr": config.lr(k)} for k, ts in groups.items()],
        tuple(config.betas),
    )
    state = LoopState(0, 0.0, scene, config, optimizer, groups, generator, pack=pack, packing=packing)
    timer = _Timer(scene.device)
    aux_losses = dict(aux_losses or {})
    constrain = constrain or (lambda st: clamp_groups(st.groups, config))
    ref_x0_fixed = None
    if reference_image is not None and not config.augment:
        with torch.no_grad():
            ref_x0_fixed = encode(reference_image.expand(config.batch, -1, -1, -1))

    history: list[float] = []
    best_values: dict[int, Tensor] = {}
    best_copy = KeptCopy()  # the best-so-far's tensors, refreshed in place on improving steps
    best_step, best_ema, ema = -1, math.inf, None
    skipped = obj_skipped = consecutive = 0
    interrupted = False
    completed = first = 0
    error: NumericalError | None = None
    x0_shape = None
    saved = checkpoint.restore(state, objective, hooks) if checkpoint is not None else None

    def step_threads() -> int | None:
        # hundreds of tiny tensors: the optimiser step runs on one CPU thread (each
        # multi-threaded kernel would first wake the sleeping OpenMP threads; see
        # vecdistill.raster.threads); depends on the groups only
        return threads.threads_for(scene.device, sum(t.numel() for t in tensors_all()))

    optimizer_threads = step_threads()
    if saved is not None:
        first, history, best_values, best_step = saved["step"], saved["history"], saved["best_values"], saved["best_step"]
        best_ema, ema, skipped, obj_skipped = saved["best_ema"], saved["ema"], saved["skipped"], saved["obj_skipped"]
        consecutive, completed, x0_shape = saved["consecutive"], saved["completed"], saved["x0_shape"]
        timer.totals.update(saved.get("timings", {}))  # checkpoints written before timings were kept lack them
    start = time.perf_counter() - (saved.get("wall_seconds", 0.0) if saved is not None else 0.0)  # a resume continues the clock
    try:
        for step in range(first, config.steps):
            progress = step / max(config.steps, 1)
            state.step, state.progress, state.image = step, progress, None
            timer.mark(None)
            for hook in hooks:
                hook(state)
            if pack and state.structure_changed and state.packing is None:
                state.packing = pack_run(scene, groups, optimizer)
            factor = lr_factor(step, config.steps, config.lr_warmup, config.lr_final)
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            timer.mark("hooks")

            image = render(scene).unsqueeze(0)
            state.image = image
            timer.mark("render")
            reference = ref_x0_fixed
            if config.augment:
                maps = torch.stack(
                    [sample_view(generator, config.aug_perspective_p, config.aug_distortion, config.aug_crop_scale) for _ in range(config.batch)]
                )
                views = warp(image.expand(config.batch, -1, -1, -1), maps, config.background)
                if reference_image is not None:
                    with torch.no_grad():
                        ref_views = warp(reference_image.expand(config.batch, -1, -1, -1), maps, config.background)
            else:
                views = image.expand(config.batch, -1, -1, -1)
            timer.mark("augment")
            x0 = encode(views)
            x0_shape = tuple(x0.shape)
            if config.augment and reference_image is not None:
                with torch.no_grad():
                    reference = encode(ref_views)
            timer.mark("encode")
            result = objective(x0, progress, generator, reference=reference)
            loss = result.loss
            losses = {"objective": float(loss.detach())}
            if getattr(result, "skipped", False):
                obj_skipped += 1
            timer.mark("objective")
            if config.xing_weight > 0:
                xl = xing_loss(scene)
                losses["xing"] = float(xl.detach())
                loss = loss + config.xing_weight * xl
            for name, fn in aux_losses.items():
                al = fn(state)
                losses[name] = float(al.detach())
                loss = loss + al
            timer.mark("aux")

            optimizer.zero_grad(set_to_none=True)
            total = float(loss.detach())
            ok = math.isfinite(total)
            if ok:
                loss.backward()
                ok = _finite_grads(tensors_all())
            timer.mark("backward")
            if ok:
                if state.structure_changed:  # a hook added tensors this step
                    optimizer_threads = step_threads()
                with threads.at_most(optimizer_threads):
                    optimizer.step()
                    constrain(state)
                consecutive = 0
            else:
                optimizer.zero_grad(set_to_none=True)
                skipped += 1
                consecutive += 1
                if consecutive > config.max_skipped:
                    raise NumericalError(
                        f"the loss or its gradient was not finite for {consecutive} steps in a row "
                        f"(step {step}); lower the learning rates or the guidance scale"
                    )
            timer.mark("optimizer")

            history.append(total)
            completed += 1
            if state.structure_changed:  # the best-so-far must have today's structure
                state.structure_changed = False
                best_ema, ema = math.inf, None
            if ok:
                ema = total if ema is None else config.ema * ema + (1 - config.ema) * total
                if ema < best_ema:
                    best_ema, best_step = ema, step
                    live = tensors_all()
                    best_values = dict(zip(map(id, live), best_copy.copy(live)))
            report = StepReport(step, config.steps, progress, total, losses, not ok, image.detach(), scene, dict(getattr(result, "info", {}) or {}))
            for cb in callbacks:
                cb(report)
            timer.mark("callbacks")
            if checkpoint is not None:
                checkpoint.step_done(step + 1, state, objective, hooks, dict(
                    history=history, best_values=best_values, best_step=best_step, best_ema=best_ema, ema=ema,
                    skipped=skipped, obj_skipped=obj_skipped, consecutive=consecutive, completed=completed, x0_shape=x0_shape,
                    timings=dict(timer.totals), wall_seconds=time.perf_counter() - start,
                ), x0_shape)
    except KeyboardInterrupt:
        interrupted = True
        if checkpoint is not None:
            checkpoint.interrupted()
    except NumericalError as exc:  # diverged: the caller writes the best-so-far, then raises
        if not return_on_error:
            raise
        interrupted, error = True, exc
    finally:  # a packed run gives the scene its own tensors back, whatever stops it
        if state.packing is not None:
            best_values = state.packing.split_values(best_values, own=True)
            state.packing.unpack(groups=groups)
            state.packing = None
    for t in tensors_all():
        t.grad = None
    finite = [h for h in history if math.isfinite(h)]
    best_scene = scene.map_tensors(lambda t: best_values.get(id(t), t).detach().clone())
    return LoopResult(
        scene=scene,
        best_scene=best_scene,
        best_step=best_step,
        final_loss=finite[-1] if finite else float("nan"),
        steps_done=completed,
        skipped=skipped,
        objective_skipped=obj_skipped,
        interrupted=interrupted,
        timings=dict(timer.totals),
        history=history,
        wall_seconds=time.perf_counter() - start,
        error=error,
        resumed_from=checkpoint.resumed_from if checkpoint is not None else None,
    )
