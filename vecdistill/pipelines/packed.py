"""The loop's points and colours packed into one leaf tensor each for a run.

An optimisation step over a scene of one tensor per path pays autograd and the optimiser
for every tensor: the rasterizer concatenates the paths' points and stacks their colours,
the backward splits the gradient and accumulates it into each leaf (two small operations
per tensor), Adam and the clamps loop over hundreds of tensors. :class:`Packing` moves the
points and the solid colours of the scene into one leaf each for the length of a run
(:func:`vecdistill.raster.packing.pack_into`): the paths' tensors become views of it, the
optimiser steps the leaf, and the rasterizer reads it with one gather. At the end (or when
a hook adds paths) :meth:`Packing.unpack` copies the values back into the scene's own
tensors and puts them back, so the caller finds the tensors it gave.

A kind is packed only when its group is exactly what the rasterizer can read as one leaf:
every path's points (every solid colour) of the scene, in paint order (``scene.param_groups``
gives them so), of one dtype and device, and no clip path in the scene (a clip child's
points would sit outside the leaf and make the rasterizer concatenate views). Anything
else stays one tensor per path.

Checkpoints: :meth:`Packing.per_path` gives a packed run as one tensor per path (groups and
Adam's state over the leaves' views), the form a checkpoint keeps; a resume restores per
path and packs again (:meth:`Packing.adopt`, :meth:`Packing.pack_values`).

Moments: a re-initialised path's rows of Adam's moments are zeroed (:meth:`Packing.reset`);
the step count, and so the bias correction, is the leaf's, so its first updates after a
reset are smaller than a fresh tensor's (about 0.3x with betas (0.9, 0.9), back to 1x
within ~20 steps) instead of full-size. Paths added during a run (``--init live``): the
loop unpacks (:meth:`Packing.unpack` with the optimiser: each tensor gets its rows of the
moments and the step count), the hook adds its tensors, and before the step renders the
loop packs again (:meth:`Packing.adopt`: the new paths' rows start at zero with the leaf's
step count, so their first updates are likewise smaller).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..raster.packing import ATTRIBUTE, pack_into, packable, packed_rows
from ..svg.scene import Scene

Tensor = torch.Tensor

KINDS = ("points", "colors")


def _rows_like(src: Tensor, view: Tensor) -> Tensor:
    """The part of ``src`` (contiguous, shaped as the leaf ``view`` is a view of) that
    ``view`` covers in its leaf."""
    return src.as_strided(view.shape, view.stride(), src.storage_offset() + view.storage_offset())


def _view_state(state: Mapping, leaf: Tensor, view: Tensor) -> dict:
    """A view's part of ``leaf``'s optimiser ``state``: its rows of every per-element tensor
    (views, not copies), the rest (the step count) as it is."""
    return {k: (_rows_like(x.contiguous(), view) if torch.is_tensor(x) and k != "step" and x.shape == leaf.shape else x) for k, x in state.items()}


def _replace(items: Sequence[Tensor], old: Sequence[Tensor], new: Sequence[Tensor]) -> list[Tensor]:
    """``items`` with the tensors ``old`` taken out and ``new`` put where the first of them
    was (unchanged when none is there)."""
    ids = {id(t) for t in old}
    at = next((k for k, t in enumerate(items) if id(t) in ids), None)
    if at is None:
        return list(items)
    kept = [t for t in items if id(t) not in ids]
    first = sum(1 for t in items[:at] if id(t) not in ids)
    return kept[:first] + list(new) + kept[first:]


def _has_clips(scene: Scene) -> bool:
    return any(g.clip_path is not None for g in scene.groups()) or any(p.clip_path is not None for p in scene.paths())


class Packing:
    """Packed kinds of one run. ``leaves``: kind -> its leaf ``[rows, C]``; ``groups``: the
    loop's groups with each packed kind replaced by ``[leaf]``."""

    def __init__(self, scene: Scene, groups: Mapping[str, Sequence[Tensor]]) -> None:
        self.slots: dict[str, list[tuple[object, str]]] = {}
        self.originals: dict[str, list[Tensor]] = {}
        self.leaves: dict[str, Tensor] = {}
        owners = {} if _has_clips(scene) else packable(scene)
        for kind in KINDS:
            objs = owners.get(kind, [])
            given = list(groups.get(kind, ()))
            tensors = [getattr(o, ATTRIBUTE[kind]) for o in objs]
            if len(tensors) < 2 or len(given) != len(tensors) or any(a is not b for a, b in zip(given, tensors)):
                continue
            first = tensors[0]
            if any(not t.is_leaf or t.dtype != first.dtype or t.device != first.device or t.shape[-1:] != first.shape[-1:] for t in tensors):
                continue
            slots = [(o, ATTRIBUTE[kind]) for o in objs]
            self.slots[kind], self.originals[kind] = slots, tensors
            self.leaves[kind] = pack_into(slots)
        self.groups = {k: ([self.leaves[k]] if k in self.leaves else list(v)) for k, v in groups.items()}
        self._leaf_ids = {id(v) for v in self.leaves.values()}

    def __bool__(self) -> bool:
        return bool(self.leaves)

    def packed_leaf(self, t: Tensor) -> Tensor | None:
        """The leaf ``t`` is a view of (a path's packed points or colour), else None."""
        base = t._base
        return base if base is not None and id(base) in self._leaf_ids else None

    def reset(self, optimizer: torch.optim.Optimizer, t: Tensor) -> bool:
        """Zero the moments of the rows ``t`` (a view of a leaf) holds; False if ``t`` is
        not packed here."""
        leaf = self.packed_leaf(t)
        if leaf is None:
            return False
        state = optimizer.state.get(leaf)
        if state:
            rows = packed_rows([t])[1]
            with torch.no_grad():
                for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                    if name in state:
                        state[name].index_fill_(0, rows, 0.0)
        return True

    def split_values(self, values: Mapping[int, Tensor], own: bool = False) -> dict[int, Tensor]:
        """``values`` (tensors by ``id``, as the loop keeps the best-so-far) with each leaf's
        entry split into one per path tensor: its rows (views), keyed by ``id`` of the
        paths' views (``own``: of the scene's own tensors, for after :meth:`unpack`). The
        inverse of :meth:`pack_values`."""
        out = dict(values)
        for kind, leaf in self.leaves.items():
            value = out.pop(id(leaf), None)
            if value is not None:
                value = value.contiguous()
                for view, orig in zip(self.views(kind), self.originals[kind]):
                    out[id(orig if own else view)] = _rows_like(value, view)
        return out

    def views(self, kind: str) -> list[Tensor]:
        """The scene's current tensors of a packed ``kind`` (views of its leaf), in row order."""
        return [getattr(o, name) for o, name in self.slots[kind]]

    def per_path(self, groups: Mapping[str, Sequence[Tensor]], optimizer: torch.optim.Optimizer) -> tuple[dict[str, list[Tensor]], dict]:
        """The run as one tensor per path, without unpacking (a checkpoint's form): the
        groups with each leaf replaced by its views, and ``optimizer.state_dict()`` as it
        would be over those views (each view's state: its rows of the leaf's moments, the
        leaf's step count; views, not copies)."""
        expand = {id(leaf): self.views(kind) for kind, leaf in self.leaves.items()}
        out_groups = {k: [v for t in ts for v in expand.get(id(t), [t])] for k, ts in groups.items()}
        state: dict[int, dict] = {}
        param_groups = []
        index = 0
        for g in optimizer.param_groups:
            ids = []
            for p in g["params"]:
                st = optimizer.state.get(p)
                for v in expand.get(id(p), [p]):
                    if st:
                        state[index] = st if v is p else _view_state(st, p, v)
                    ids.append(index)
                    index += 1
            param_groups.append({**{k: x for k, x in g.items() if k != "params"}, "params": ids})
        return out_groups, {"state": state, "param_groups": param_groups}

    def pack_values(self, values: Mapping[int, Tensor]) -> dict[int, Tensor]:
        """``values`` (tensors by ``id`` of the scene's own tensors, as a checkpoint restores
        the best-so-far) with each packed kind's entries joined into one for its leaf (by
        ``id`` of the leaf), when every tensor of the kind has one. The inverse of
        :meth:`split_values` with ``own``."""
        out = dict(values)
        for kind, leaf in self.leaves.items():
            origs = self.originals[kind]
            if all(id(t) in out for t in origs):
                out[id(leaf)] = torch.cat([out.pop(id(t)).reshape(-1, leaf.shape[1]) for t in origs])
        return out

    def adopt(self, optimizer: torch.optim.Optimizer) -> None:
        """Move ``optimizer`` from the scene's own tensors to the leaves: each leaf replaces
        its kind's tensors in their parameter group, and its moments are their moments as
        rows (zero rows for a tensor with no state yet, e.g. a path just added), its step
        count their largest."""
        for kind, leaf in self.leaves.items():
            origs = self.originals[kind]
            states = [optimizer.state.pop(t, None) for t in origs]
            known = [st for st in states if st]
            if known:
                merged = {"step": max((st["step"] for st in known), key=float).clone()}
                for name in known[0]:
                    if name != "step":
                        merged[name] = torch.cat([(st[name] if st else torch.zeros_like(t)).reshape(-1, leaf.shape[1]) for st, t in zip(states, origs)])
                optimizer.state[leaf] = merged
            for g in optimizer.param_groups:
                g["params"] = _replace(g["params"], origs, [leaf])

    def unpack(self, optimizer: torch.optim.Optimizer | None = None, groups: dict[str, list[Tensor]] | None = None) -> None:
        """Copy the packed values back into the scene's own tensors and put them back in
        place of the views; ``groups`` (the loop's) get the tensors again in place of the
        leaves. With ``optimizer`` (a run that goes on): its parameter groups too, each
        tensor with its rows of the leaf's moments and the leaf's step count."""
        with torch.no_grad():
            for kind, slots in self.slots.items():
                leaf, origs, views = self.leaves[kind], self.originals[kind], self.views(kind)
                for (o, name), view, orig in zip(slots, views, origs):
                    orig.copy_(view)
                    setattr(o, name, orig)
                if groups is not None and kind in groups:
                    groups[kind][:] = _replace(groups[kind], [leaf], origs)
                if optimizer is None:
                    continue
                state = optimizer.state.pop(leaf, None)
                if state:
                    for view, orig in zip(views, origs):
                        optimizer.state[orig] = {k: (x.clone() if torch.is_tensor(x) else x) for k, x in _view_state(state, leaf, view).items()}
                for g in optimizer.param_groups:
                    g["params"] = _replace(g["params"], [leaf], origs)
        self.slots, self.originals, self.leaves, self._leaf_ids = {}, {}, {}, set()


def pack_run(scene: Scene, groups: dict[str, list[Tensor]], optimizer: torch.optim.Optimizer | None = None) -> Packing | None:
    """Pack what ``groups`` allow (:class:`Packing`), replacing each packed kind's tensors
    in ``groups`` by its leaf (in place); with ``optimizer`` (a run that goes on after paths
    were added, or a resume) the optimiser moves onto the leaves (:meth:`Packing.adopt`).
    None when nothing packs."""
    packing = Packing(scene, groups)
    if not packing:
        return None
    if optimizer is not None:
        packing.adopt(optimizer)
    for kind, ts in packing.groups.items():
        groups[kind][:] = ts
    return packing
