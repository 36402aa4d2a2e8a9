"""Checkpoints of the SVG optimisation loop: ``--checkpoint-every N`` and ``--resume``.

A checkpoint (``OUT.ckpt`` beside ``OUT.svg``, written atomically) holds everything the
loop of :func:`vecdistill.pipelines.loop.optimize` needs to continue *bit for bit*:

- the scene (structure and tensors: re-initialisation and LIVE-style addition change it),
  and which of its tensors each optimiser group holds;
- the Adam state, the run's ``torch.Generator`` state and the next step;
- the best-so-far values, the loss EMA, the loss history and the skipped-step counters;
- the simple attributes (counters) of the loop hooks (re-initialiser, path adder);
- the objective's own state (VSD: the trainable copy's parameters and its Adam state);
- the resolved pipeline config, so that resuming with a different one is refused.

How a resume works: the pipeline is run again from the start with the same config (so
every object is rebuilt the same way, consuming the generator the same way), and
:meth:`Checkpointer.restore` then overwrites the live objects' state with the saved one
before the first step. The loop calls :meth:`Checkpointer.step_done` after every step: it
keeps an in-memory copy of that step boundary (cheap: the scene's tensor values, copied into
a structural copy kept while the scene's structure is unchanged, and Adam's moments) and
writes it every ``every`` steps; :meth:`Checkpointer.interrupted` writes the
last boundary on Ctrl-C / SIGTERM, so a kill mid-step never saves a half-applied step. The
copies are two, refreshed in turn (:class:`_BoundaryCopies`): a kill that lands inside
``step_done`` itself leaves the previous boundary whole.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import torch

from ..errors import InputError, OutputError
from ..fileio import atomic_write_bytes
from .kept import KeptCopy
from .packed import pack_run

FORMAT = "vecdistill-svg-checkpoint/1"

#: Config fields that may differ between the run and its resume (they do not change the result).
VOLATILE_FIELDS = frozenset({"quiet", "overwrite", "resume", "checkpoint_every", "save_every", "video", "video_every"})

_SIMPLE = (int, float, bool, str, type(None))


def checkpoint_path(out: str | Path) -> Path:
    """``OUT.ckpt`` next to ``OUT.svg``."""
    return Path(out).with_suffix(".ckpt")


def config_fingerprint(config) -> dict:
    """The resolved pipeline config as JSON-able values, without :data:`VOLATILE_FIELDS`."""
    values = {}
    for f in dataclasses.fields(config):
        if f.name in VOLATILE_FIELDS:
            continue
        v = getattr(config, f.name)
        values[f.name] = list(v) if isinstance(v, tuple) else v
    return json.loads(json.dumps(values, default=str))


def scene_tensors(scene) -> list[torch.Tensor]:
    """Every distinct tensor of ``scene`` in a fixed traversal order (that of
    ``Scene.map_tensors``), so two scenes of one structure pair up index by index."""
    return _structure(scene)[1]


def _structure(scene) -> tuple[list, list[torch.Tensor]]:
    """``(key, tensors)`` of ``scene``: ``key`` holds everything but its tensors' values (the
    identity and stamp of every node, the length of every list, every plain value, each
    tensor's identity, shape, dtype and device), so two equal keys mean the same structure
    holding the same tensor objects; ``tensors``: the distinct tensors in the traversal
    order of ``Scene.map_tensors``."""
    key: list = []
    tensors: list[torch.Tensor] = []
    seen: set[int] = set()

    def visit(obj) -> None:
        if isinstance(obj, torch.Tensor):
            key.append((id(obj), obj.shape, obj.dtype, obj.device))
            if id(obj) not in seen:
                seen.add(id(obj))
                tensors.append(obj)
        elif isinstance(obj, (list, tuple)):
            key.append((type(obj), len(obj)))
            for x in obj:
                visit(x)
        elif isinstance(obj, dict):
            key.append((dict, len(obj)))
            for k, v in obj.items():
                key.append(k)
                visit(v)
        elif hasattr(obj, "__dataclass_fields__"):
            key.append((id(obj), getattr(obj, "_stamp", None)))
            for name in obj.__dataclass_fields__:
                visit(getattr(obj, name))
        else:
            key.append(obj)

    visit(scene)
    return key, tensors


class _SceneCopy:
    """The step boundary's copy of the scene, kept between steps: while the scene's
    structure (:func:`_structure`) is unchanged only the tensor values are copied into it
    (one multi-tensor copy), instead of a deep copy of every node each step."""

    def __init__(self) -> None:
        self.key: list | None = None
        self.scene = None
        self.tensors: list[torch.Tensor] = []
        self.order: dict[int, int] = {}

    def update(self, scene) -> None:
        key, live = _structure(scene)
        if key == self.key:
            with torch.no_grad():
                torch._foreach_copy_(self.tensors, [t.detach() for t in live])
            return
        order: dict[int, int] = {}
        clones: list[torch.Tensor] = []

        def clone(t):
            order[id(t)] = len(order)  # map_tensors visits each tensor once, in traversal order
            clones.append(t.detach().clone())
            return clones[-1]

        self.scene = scene.map_tensors(clone)
        self.key, self.tensors, self.order = key, clones, order


class _BoundaryCopies:
    """One step boundary's copies (scene, optimiser state, objective state), refreshed in
    place. A :class:`Checkpointer` keeps two and refreshes them in turn, so that a Ctrl-C or
    SIGTERM landing while one is being refreshed leaves the other, the last whole boundary,
    untouched for :meth:`Checkpointer.interrupted` to write."""

    def __init__(self) -> None:
        self.scene = _SceneCopy()
        self.optimizer = KeptCopy()
        self.objective = KeptCopy()


def objective_state(objective, copy) -> dict | None:
    """The objective's trainable state, or None if it has none (SDS, SDI, DDS, PDS).

    Objects with ``state_dict()`` are saved through it; VSD (``model`` + ``optimizer``)
    saves its trainable parameters (not the frozen prior) and its Adam state. ``copy``:
    how nested states are copied (a :class:`.kept.KeptCopy`'s ``copy``)."""
    if hasattr(objective, "state_dict") and callable(objective.state_dict):
        return {"state_dict": copy(objective.state_dict())}
    model = getattr(objective, "model", None)
    if model is not None and hasattr(model, "trainable_parameters"):
        return copy({"trainable": list(model.trainable_parameters()), "optimizer": objective.optimizer.state_dict()})
    return None


def load_objective_state(objective, saved: dict | None, x0_shape, device) -> None:
    """Put :func:`objective_state`'s ``saved`` back into ``objective`` (built lazily when
    needed, with a throw-away generator so the run's generator is not consumed)."""
    if saved is None:
        return
    if "state_dict" in saved:
        objective.load_state_dict(saved["state_dict"])
        return
    if getattr(objective, "model", None) is None:
        objective._ensure_model(torch.empty(tuple(x0_shape), device=device), torch.Generator(device=device).manual_seed(0))
    params = list(objective.model.trainable_parameters())
    if len(params) != len(saved["trainable"]) or any(p.shape != q.shape for p, q in zip(params, saved["trainable"])):
        raise InputError("the checkpoint's VSD state does not fit this model; resume with the same --model and options")
    with torch.no_grad():
        for p, q in zip(params, saved["trainable"]):
            p.copy_(q)
    objective.optimizer.load_state_dict(saved["optimizer"])


def hook_state(hook) -> dict:
    """A hook's simple attributes (counters, flags; callables and tensors are left out)."""
    out = {}
    for k, v in vars(hook).items():
        if isinstance(v, _SIMPLE):
            out[k] = v
        elif isinstance(v, dict) and all(isinstance(x, _SIMPLE) for x in (*v.keys(), *v.values())):
            out[k] = dict(v)
    return out


class Checkpointer:
    """Writes and restores the loop's checkpoints for one run.

    ``path``: the checkpoint file. ``every``: write every N steps (0: only on interrupt,
    when ``resume`` or checkpointing was asked for). ``config``: the resolved pipeline
    config (compared on resume). ``resume``: restore from ``path`` before the first step.
    """

    def __init__(self, path: str | Path, every: int, config, resume: bool = False) -> None:
        if every < 0:
            raise InputError(f"--checkpoint-every must be >= 0, got {every}")
        self.path = Path(path)
        self.every = int(every)
        self.fingerprint = config_fingerprint(config)
        self.resume = resume
        self.resumed_from: int | None = None
        self.written_step: int | None = None
        self._last: dict | None = None
        self._slots = (_BoundaryCopies(), _BoundaryCopies())  # _last holds one; step_done refreshes the other
        self._next = 0  # the slot step_done refreshes next
        self._saved = self._read() if resume else None

    # -- reading -----------------------------------------------------------------------
    def _read(self) -> dict:
        if not self.path.is_file():
            raise InputError(f"--resume: no checkpoint {self.path}; run without --resume (and with --checkpoint-every N) first")
        try:
            data = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a truncated or foreign file: say so in one line
            raise InputError(f"--resume: {self.path} is not a readable checkpoint ({type(exc).__name__}); delete it and start again") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"--resume: {self.path} is not a vecdistill SVG checkpoint")
        if data["config"] != self.fingerprint:
            diff = sorted(k for k in set(data["config"]) | set(self.fingerprint) if data["config"].get(k) != self.fingerprint.get(k))
            raise InputError(f"--resume: the checkpoint was made with different settings ({', '.join(diff)}); resume with the same options or start again with --overwrite")
        return data

    def restore(self, state, objective, hooks) -> dict | None:
        """Load the saved run into the live ``state`` (scene, groups, optimiser,
        generator), ``objective`` and ``hooks``; returns the loop counters (``step``,
        ``history``, ``best_values`` keyed by ``id`` of the live tensors, ...), or None
        when not resuming. A packed run (``state.pack``) is unpacked, restored one tensor
        per path as saved, and packed again (:func:`.packed.pack_run`), its best-so-far
        joined into leaf rows."""
        data, self._saved = self._saved, None
        if data is None:
            return None
        if state.packing is not None:  # restored as saved: one tensor per path, packed again below
            state.packing.unpack(state.optimizer, state.groups)
            state.packing = None
        device = state.scene.device
        to_dev = _to_device(device)
        saved_scene = data["scene"].map_tensors(to_dev)
        saved_list = scene_tensors(saved_scene)
        live_list = scene_tensors(state.scene)
        same = len(live_list) == len(saved_list) and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(live_list, saved_list))
        if same:  # copy values into the live tensors (closures holding them stay valid)
            with torch.no_grad():
                for a, b in zip(live_list, saved_list):
                    a.copy_(b)
            target = live_list
        else:  # the structure grew (LIVE): adopt the saved scene's objects
            state.scene.__dict__.update(saved_scene.__dict__)
            target = saved_list
        groups = {k: [target[i] for i in ids] for k, ids in data["groups"].items()}
        if set(groups) != set(state.groups):
            raise InputError("--resume: the checkpoint optimises other parameter groups; resume with the same options")
        for k, ts in groups.items():
            for t in ts:
                t.requires_grad_(True)
            state.groups[k][:] = ts
        for g in state.optimizer.param_groups:
            g["params"] = list(state.groups[g["name"]])
        state.optimizer.load_state_dict(data["optimizer"])
        state.generator.set_state(data["generator"])
        for hook, saved in zip(hooks, data["hooks"]):
            for k, v in saved.items():
                setattr(hook, k, v)
        load_objective_state(objective, data["objective"], data["x0_shape"], device)
        flat = [t for k in state.groups for t in state.groups[k]]
        counters = dict(data["counters"])
        counters["best_values"] = {id(t): v.to(device) for t, v in zip(flat, data["best"]) if v is not None}
        if state.pack:  # as the uninterrupted run: packed (the best-so-far by leaf too)
            state.packing = pack_run(state.scene, state.groups, state.optimizer)
            if state.packing is not None:
                counters["best_values"] = state.packing.pack_values(counters["best_values"])
        self.resumed_from = int(data["step"])
        counters["step"] = self.resumed_from
        return counters

    # -- writing -----------------------------------------------------------------------
    def step_done(self, next_step: int, state, objective, hooks, counters: dict, x0_shape) -> None:
        """Remember the boundary before step ``next_step`` (in memory); write it to disk
        every ``every`` steps."""
        slot = self._slots[self._next]
        slot.scene.update(state.scene)
        copy, order = slot.scene.scene, slot.scene.order
        best_values = counters.pop("best_values")
        if state.packing is not None:  # saved as one tensor per path: a packed run's views
            live_groups, optimizer_state = state.packing.per_path(state.groups, state.optimizer)
            best_values = state.packing.split_values(best_values)
        else:
            live_groups, optimizer_state = state.groups, state.optimizer.state_dict()
        groups = {k: [order[id(t)] for t in ts] for k, ts in live_groups.items()}
        flat = [t for k in live_groups for t in live_groups[k]]
        self._last = {
            "format": FORMAT,
            "step": int(next_step),
            "config": self.fingerprint,
            "scene": copy,
            "groups": groups,
            "optimizer": slot.optimizer.copy(optimizer_state),
            "generator": state.generator.get_state().clone(),
            "hooks": [hook_state(h) for h in hooks],
            "objective": objective_state(objective, slot.objective.copy),
            "x0_shape": tuple(x0_shape) if x0_shape is not None else None,
            "best": [best_values.get(id(t)) for t in flat],
            "counters": {**counters, "history": list(counters["history"])},
        }
        self._next ^= 1  # only now: an interrupt above left _last, the other slot, whole
        if self.every > 0 and next_step % self.every == 0:
            self.write()

    def write(self) -> None:
        """Write the last boundary (atomically; the previous checkpoint stays intact if
        writing fails). A full disk or unwritable folder is an OutputError."""
        if self._last is None:
            return
        buffer = io.BytesIO()
        torch.save(self._last, buffer)
        try:
            atomic_write_bytes(self.path, buffer.getvalue())
        except OSError as exc:
            raise OutputError(f"cannot write checkpoint {self.path}: {exc.strerror or exc}; free some space or choose another folder") from None
        self.written_step = self._last["step"]

    def interrupted(self) -> None:
        """On Ctrl-C / SIGTERM: save the last completed step (if not already on disk)."""
        if self._last is not None and self.written_step != self._last["step"]:
            self.write()


def _to_device(device):
    def move(t):
        return t.to(device)

    return move


def checkpointer_for(out: Path | None, config, every: int, resume: bool) -> Checkpointer | None:
    """The run's :class:`Checkpointer` (None when neither ``every`` nor ``resume`` is
    set). ``out``: the SVG output (the checkpoint is ``OUT.ckpt``); ``config``: the
    resolved pipeline config."""
    if not every and not resume:
        return None
    if out is None:
        raise InputError("--checkpoint-every and --resume need an output file (the checkpoint is written next to it)")
    return Checkpointer(checkpoint_path(out), every, config, resume=resume)


def check_checkpoint_path(out: Path | None, every: int, resume: bool, overwrite: bool) -> None:
    """Before a run: ``--resume`` needs ``OUT.ckpt``; checkpointing must not silently
    replace another run's checkpoint (without ``--overwrite``); the folder must be writable."""
    if not every and not resume:
        return
    if out is None:
        raise InputError("--checkpoint-every and --resume need an output file (the checkpoint is written next to it)")
    if every < 0:
        raise InputError(f"--checkpoint-every must be >= 0, got {every}")
    path = checkpoint_path(out)
    if resume:
        if not path.is_file():
            raise InputError(f"--resume: no checkpoint {path}; run without --resume (and with --checkpoint-every N) first")
        return
    from ..fileio import check_output_path

    check_output_path(path, overwrite=overwrite)
