"""The in-memory picture: what the rasterizer renders and what the optimisers change.

Coordinates are SVG user units. Every optimisable quantity is a torch tensor (so an
optimiser can own it); structure (segment kinds, subpath layout, transforms, ids, fill
rules) is plain Python and is not optimised.

Path geometry follows diffvg's layout, per subpath: the first anchor, then for each segment
its control points (0 for a line, 1 for a quadratic, 2 for a cubic) followed by its end
anchor. A closed subpath does not repeat its first anchor: its last segment ends there. So a
subpath with segments ``k_0..k_{n-1}`` control points holds ``sum(k_i + 1) + (0 if closed
else 1)`` points.

Colours are straight (not premultiplied) RGBA in [0, 1].

Paints, paths, clip paths, groups and scenes are :class:`Stamped`: every attribute assignment
gives the object a new ``_stamp``, so the rasterizer can keep what it derives from a scene's
structure (``vecdistill.raster.plan``) and see cheaply when that structure changed.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------
# Affine transforms (not optimised: plain floats)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Affine:
    """SVG ``matrix(a b c d e f)``: ``x' = a x + c y + e``, ``y' = b x + d y + f``."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 1.0
    e: float = 0.0
    f: float = 0.0

    @staticmethod
    def identity() -> Affine:
        return Affine()

    @staticmethod
    def translate(tx: float, ty: float = 0.0) -> Affine:
        return Affine(1, 0, 0, 1, tx, ty)

    @staticmethod
    def scale(sx: float, sy: float | None = None) -> Affine:
        return Affine(sx, 0, 0, sx if sy is None else sy, 0, 0)

    @staticmethod
    def rotate(degrees: float, cx: float = 0.0, cy: float = 0.0) -> Affine:
        r = math.radians(degrees)
        cos, sin = math.cos(r), math.sin(r)
        rot = Affine(cos, sin, -sin, cos, 0, 0)
        return Affine.translate(cx, cy) @ rot @ Affine.translate(-cx, -cy)

    @staticmethod
    def skew_x(degrees: float) -> Affine:
        return Affine(1, 0, math.tan(math.radians(degrees)), 1, 0, 0)

    @staticmethod
    def skew_y(degrees: float) -> Affine:
        return Affine(1, math.tan(math.radians(degrees)), 0, 1, 0, 0)

    def __matmul__(self, other: Affine) -> Affine:
        """Composition: ``(self @ other)(p) == self(other(p))``."""
        a, b, c, d, e, f = self.a, self.b, self.c, self.d, self.e, self.f
        A, B, C, D, E, F = other.a, other.b, other.c, other.d, other.e, other.f
        return Affine(
            a * A + c * B,
            b * A + d * B,
            a * C + c * D,
            b * C + d * D,
            a * E + c * F + e,
            b * E + d * F + f,
        )

    def is_identity(self, tol: float = 1e-12) -> bool:
        return all(abs(x - y) <= tol for x, y in zip(self.as_tuple(), (1, 0, 0, 1, 0, 0)))

    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        return (self.a, self.b, self.c, self.d, self.e, self.f)

    def determinant(self) -> float:
        return self.a * self.d - self.b * self.c

    def inverse(self) -> Affine:
        det = self.determinant()
        if det == 0:
            raise ValueError("singular transform has no inverse")
        a, b, c, d = self.d / det, -self.b / det, -self.c / det, self.a / det
        return Affine(a, b, c, d, -(a * self.e + c * self.f), -(b * self.e + d * self.f))

    def scale_factor(self) -> float:
        """Geometric-mean scale (sqrt |det|): how much a stroke width grows."""
        return math.sqrt(abs(self.determinant()))

    def apply(self, points: Tensor) -> Tensor:
        """Map points ``[..., 2]`` (any float dtype/device); differentiable in ``points``."""
        x, y = points[..., 0], points[..., 1]
        return torch.stack((self.a * x + self.c * y + self.e, self.b * x + self.d * y + self.f), -1)

    def matrix(self, dtype=torch.float32, device=None) -> Tensor:
        """The 3x3 homogeneous matrix."""
        return torch.tensor(
            [[self.a, self.c, self.e], [self.b, self.d, self.f], [0.0, 0.0, 1.0]],
            dtype=dtype,
            device=device,
        )


IDENTITY = Affine()


def value_of(t: Tensor | float) -> float:
    """A Python float of a scalar tensor (detached: an optimised tensor requires grad, and
    reading it is not part of its graph) or of a number."""
    return float(t.detach()) if isinstance(t, Tensor) else float(t)


def _scalar(value: float | Tensor, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    kwargs = {} if like is None else {"dtype": like.dtype, "device": like.device}
    return torch.tensor(float(value), **({"dtype": torch.float32} | kwargs))


_STAMPS = itertools.count(1)


class Stamped:
    """Base of the scene model's mutable objects. ``_stamp`` is a number from one global
    counter, taken anew at every attribute assignment (construction included), so two
    objects never share a stamp unless one was copied from the other (``copy``/``pickle``
    copy the stamp with the rest of the state; compare identities too). Assigning through
    ``obj.__dict__`` or ``object.__setattr__`` bypasses it."""

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_stamp", next(_STAMPS))


# --------------------------------------------------------------------------------------
# Paints
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Solid(Stamped):
    """A flat colour. ``color``: [4] RGBA straight, in [0, 1]."""

    color: Tensor

    def tensors(self) -> dict[str, list[Tensor]]:
        return {"colors": [self.color]}


@dataclass(eq=False)
class Gradient(Stamped):
    """Common part of linear and radial gradients.

    ``offsets``: [K] in [0, 1], non-decreasing; ``colors``: [K, 4] RGBA straight.
    ``units``: ``"objectBoundingBox"`` (the SVG default: geometry in fractions of the
    painted path's bounding box) or ``"userSpaceOnUse"``. ``transform`` is the
    gradientTransform. ``spread``: ``"pad" | "reflect" | "repeat"``.
    """

    offsets: Tensor
    colors: Tensor
    units: str = "objectBoundingBox"
    transform: Affine = IDENTITY
    spread: str = "pad"
    id: str | None = None

    def tensors(self) -> dict[str, list[Tensor]]:
        return {"colors": [self.colors], "stops": [self.offsets]}


@dataclass(eq=False)
class LinearGradient(Gradient):
    """``start``/``end``: [2] (x1, y1) and (x2, y2) in ``units``."""

    start: Tensor = field(default_factory=lambda: torch.tensor([0.0, 0.0]))
    end: Tensor = field(default_factory=lambda: torch.tensor([1.0, 0.0]))

    def tensors(self) -> dict[str, list[Tensor]]:
        out = super().tensors()
        out["gradient_geometry"] = [self.start, self.end]
        return out


@dataclass(eq=False)
class RadialGradient(Gradient):
    """``center``: [2] (cx, cy); ``radius``: [] r; ``focal``: [2] (fx, fy), in ``units``."""

    center: Tensor = field(default_factory=lambda: torch.tensor([0.5, 0.5]))
    radius: Tensor = field(default_factory=lambda: torch.tensor(0.5))
    focal: Tensor | None = None

    def tensors(self) -> dict[str, list[Tensor]]:
        out = super().tensors()
        geo = [self.center, self.radius] + ([self.focal] if self.focal is not None else [])
        out["gradient_geometry"] = geo
        return out


Paint = Solid | LinearGradient | RadialGradient


# --------------------------------------------------------------------------------------
# Shapes and structure
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Path(Stamped):
    """One SVG ``<path>`` (basic shapes are converted to paths): one or more subpaths.

    ``points``: [P, 2] control points in the path's own user units (before ``transform``).
    ``segments``: [S] int64, control points per segment (0 line, 1 quadratic, 2 cubic),
    all subpaths concatenated. ``subpaths``: list of ``(num_segments, closed)``.
    ``stroke_width`` is the full SVG width (diffvg's is a half-width). Opacities are [] tensors.
    ``fill_rule`` is ``"nonzero"`` or ``"evenodd"`` (for a path inside a clipPath it is the
    clip-rule). ``attrs`` keeps attributes we do not interpret so that writing preserves them.
    """

    points: Tensor
    segments: Tensor
    subpaths: list[tuple[int, bool]]
    fill: Paint | None = None
    stroke: Paint | None = None
    stroke_width: Tensor = field(default_factory=lambda: torch.tensor(1.0))
    fill_rule: str = "nonzero"
    linecap: str = "butt"
    linejoin: str = "miter"
    miterlimit: float = 4.0
    fill_opacity: Tensor = field(default_factory=lambda: torch.tensor(1.0))
    stroke_opacity: Tensor = field(default_factory=lambda: torch.tensor(1.0))
    opacity: Tensor = field(default_factory=lambda: torch.tensor(1.0))
    transform: Affine = IDENTITY
    clip_path: ClipPath | None = None
    id: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stroke_width = _scalar(self.stroke_width, self.points)
        self.fill_opacity = _scalar(self.fill_opacity, self.points)
        self.stroke_opacity = _scalar(self.stroke_opacity, self.points)
        self.opacity = _scalar(self.opacity, self.points)

    # -- layout helpers ---------------------------------------------------------------
    def subpath_ranges(self) -> list[tuple[slice, slice, bool]]:
        """For each subpath: (segment slice, point slice, closed)."""
        out = []
        seg0 = pt0 = 0
        counts = self.segments.tolist()
        for nseg, closed in self.subpaths:
            kinds = counts[seg0 : seg0 + nseg]
            npts = sum(k + 1 for k in kinds) + (0 if closed else 1)
            out.append((slice(seg0, seg0 + nseg), slice(pt0, pt0 + npts), closed))
            seg0 += nseg
            pt0 += npts
        return out

    def num_segments(self) -> int:
        return int(self.segments.numel())

    def paints_stroke(self) -> bool:
        """True if its stroke can paint: a stroke paint with opacity and width above 0 (the
        path's own opacity aside)."""
        return self.stroke is not None and value_of(self.stroke_opacity) > 0 and value_of(self.stroke_width) > 0

    def is_visible(self) -> bool:
        """True if it can paint anything (has a fill or a stroke with non-zero opacity)."""
        if value_of(self.opacity) <= 0:
            return False
        return (self.fill is not None and value_of(self.fill_opacity) > 0) or self.paints_stroke()

    @staticmethod
    def polygon(points: Tensor, closed: bool = True, **kwargs) -> Path:
        """A path of straight segments through ``points`` [N, 2]."""
        n = points.shape[0]
        nseg = n if closed else n - 1
        return Path(points, torch.zeros(nseg, dtype=torch.long), [(nseg, closed)], **kwargs)

    @staticmethod
    def circle(center: tuple[float, float], radius: float, segments: int = 4, **kwargs) -> Path:
        """A closed path of ``segments`` cubic Beziers approximating a circle."""
        cx, cy = center
        k = 4.0 / 3.0 * math.tan(math.pi / (2 * segments))
        pts = []
        for i in range(segments):
            a0 = 2 * math.pi * i / segments
            a1 = 2 * math.pi * (i + 1) / segments
            p0 = (cx + radius * math.cos(a0), cy + radius * math.sin(a0))
            c0 = (p0[0] - k * radius * math.sin(a0), p0[1] + k * radius * math.cos(a0))
            p1 = (cx + radius * math.cos(a1), cy + radius * math.sin(a1))
            c1 = (p1[0] + k * radius * math.sin(a1), p1[1] - k * radius * math.cos(a1))
            pts += [p0, c0, c1]
        return Path(
            torch.tensor(pts, dtype=torch.float32),
            torch.full((segments,), 2, dtype=torch.long),
            [(segments, True)],
            **kwargs,
        )


@dataclass(eq=False)
class ClipPath(Stamped):
    """A ``<clipPath>``: the union of its paths' coverage (each with its own clip-rule in
    ``fill_rule`` and its own transform). ``units``: ``"userSpaceOnUse"`` (default) or
    ``"objectBoundingBox"``. ``clip_path``: a clip applied to this clip (nested)."""

    children: list[Path]
    units: str = "userSpaceOnUse"
    transform: Affine = IDENTITY
    clip_path: ClipPath | None = None
    id: str | None = None


@dataclass(eq=False)
class Group(Stamped):
    """A ``<g>`` (or the root ``<svg>``): children drawn in order, then composited as one
    layer with ``opacity`` (an isolated group, as SVG specifies)."""

    children: list[Node] = field(default_factory=list)
    transform: Affine = IDENTITY
    opacity: Tensor = field(default_factory=lambda: torch.tensor(1.0))
    clip_path: ClipPath | None = None
    id: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.opacity = _scalar(self.opacity)


Node = Path | Group


@dataclass
class DrawItem:
    """A path in paint order with everything above it resolved.

    ``transform``: local user units -> viewBox user units (all ancestors composed).
    ``groups``: the chain of ancestor groups, outermost first (for group opacity / clips).
    """

    path: Path
    transform: Affine
    groups: tuple[Group, ...]
    index: int


PARAM_KINDS = ("points", "colors", "widths", "opacities", "stops", "gradient_geometry")


@dataclass(eq=False)
class Scene(Stamped):
    """A whole picture.

    ``width``/``height``: intrinsic size in CSS px. ``view_box``: (x, y, w, h) in user units.
    ``preserve_aspect_ratio``: the SVG attribute (``"xMidYMid meet"`` by default).
    ``dropped``: names of features the loader dropped (text, filter, mask...).
    ``attrs``: extra root attributes to keep on write.
    """

    root: Group
    width: float
    height: float
    view_box: tuple[float, float, float, float] | None = None
    preserve_aspect_ratio: str = "xMidYMid meet"
    dropped: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.view_box is None:
            self.view_box = (0.0, 0.0, float(self.width), float(self.height))

    # -- traversal ---------------------------------------------------------------------
    def walk(self) -> Iterator[DrawItem]:
        """Paths in paint order with composed transforms (local -> viewBox units)."""
        counter = [0]

        def rec(group: Group, transform: Affine, chain: tuple[Group, ...]):
            t = transform @ group.transform
            chain = chain + (group,)
            for child in group.children:
                if isinstance(child, Group):
                    yield from rec(child, t, chain)
                else:
                    yield DrawItem(child, t @ child.transform, chain, counter[0])
                    counter[0] += 1

        yield from rec(self.root, IDENTITY, ())

    def paths(self) -> list[Path]:
        """All paths in paint order."""
        return [item.path for item in self.walk()]

    def groups(self) -> Iterator[Group]:
        def rec(g: Group):
            yield g
            for c in g.children:
                if isinstance(c, Group):
                    yield from rec(c)

        yield from rec(self.root)

    def find(self, node_id: str) -> Node | None:
        """The path or group with this id, or None."""
        for g in self.groups():
            if g.id == node_id:
                return g
            for c in g.children:
                if isinstance(c, Path) and c.id == node_id:
                    return c
        return None

    # -- canvas mapping ----------------------------------------------------------------
    def canvas_transform(self, width: int, height: int) -> Affine:
        """viewBox user units -> pixel coordinates of a ``width`` x ``height`` canvas,
        honouring ``preserve_aspect_ratio`` (pixel (0,0) is the top-left corner)."""
        vx, vy, vw, vh = self.view_box
        if vw <= 0 or vh <= 0:
            raise ValueError("viewBox has zero size")
        sx, sy = width / vw, height / vh
        par = (self.preserve_aspect_ratio or "xMidYMid meet").split()
        align = par[0] if par else "xMidYMid"
        if align == "none":
            return Affine(sx, 0, 0, sy, -vx * sx, -vy * sy)
        slice_ = len(par) > 1 and par[1] == "slice"
        s = max(sx, sy) if slice_ else min(sx, sy)
        tx, ty = -vx * s, -vy * s
        if "xMid" in align:
            tx += (width - vw * s) / 2
        elif "xMax" in align:
            tx += width - vw * s
        if "YMid" in align:
            ty += (height - vh * s) / 2
        elif "YMax" in align:
            ty += height - vh * s
        return Affine(s, 0, 0, s, tx, ty)

    # -- parameters ----------------------------------------------------------------------
    def param_groups(self, kinds: tuple[str, ...] = PARAM_KINDS) -> dict[str, list[Tensor]]:
        """Optimisable tensors by kind, each tensor once, in paint order.

        Kinds: ``points``, ``colors`` (solid colours and gradient stop colours), ``widths``
        (stroke widths), ``opacities`` (fill/stroke/path/group opacity), ``stops`` (gradient
        offsets), ``gradient_geometry``.
        """
        out: dict[str, list[Tensor]] = {k: [] for k in kinds}
        seen: set[int] = set()

        def add(kind: str, t: Tensor) -> None:
            if kind in out and id(t) not in seen:
                seen.add(id(t))
                out[kind].append(t)

        def add_paint(p: Paint | None) -> None:
            if p is not None:
                for kind, ts in p.tensors().items():
                    for t in ts:
                        add(kind, t)

        for g in self.groups():
            add("opacities", g.opacity)
        for path in self.paths():
            add("points", path.points)
            add_paint(path.fill)
            add_paint(path.stroke)
            add("widths", path.stroke_width)
            for t in (path.fill_opacity, path.stroke_opacity, path.opacity):
                add("opacities", t)
        return out

    def parameters(self, kinds: tuple[str, ...] = ("points", "colors", "widths", "opacities")) -> list[Tensor]:
        """The optimisable tensors (like ``nn.Module.parameters()``), default kinds:
        points, colours, stroke widths and opacities."""
        groups = self.param_groups(kinds)
        return [t for k in kinds for t in groups[k]]

    def requires_grad_(self, requires_grad: bool = True, kinds: tuple[str, ...] = PARAM_KINDS) -> Scene:
        """Set ``requires_grad`` on the tensors of ``kinds``; returns self."""
        for ts in self.param_groups(kinds).values():
            for t in ts:
                t.requires_grad_(requires_grad)
        return self

    # -- copies --------------------------------------------------------------------------
    def map_tensors(self, fn) -> Scene:
        """A structural copy with every tensor replaced by ``fn(tensor)``.

        A tensor shared by several nodes (a gradient used twice) stays shared in the copy.
        Clip paths, gradients and segment tables are included.
        """
        memo: dict[int, object] = {}

        def visit(obj):
            if isinstance(obj, Tensor):
                if id(obj) not in memo:
                    memo[id(obj)] = fn(obj)
                return
            if isinstance(obj, (list, tuple)):
                for x in obj:
                    visit(x)
                return
            if hasattr(obj, "__dataclass_fields__"):
                for name in obj.__dataclass_fields__:
                    visit(getattr(obj, name))

        visit(self)
        return copy.deepcopy(self, memo)

    def clone(self) -> Scene:
        """A deep copy whose tensors are detached copies (same ``requires_grad``)."""
        return self.map_tensors(lambda t: t.detach().clone().requires_grad_(t.requires_grad))

    def to(self, device=None, dtype: torch.dtype | None = None) -> Scene:
        """A copy with tensors on ``device`` and float tensors in ``dtype`` (leaf tensors)."""

        def move(t: Tensor) -> Tensor:
            target = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
            return t.detach().to(device=device, dtype=target).requires_grad_(t.requires_grad)

        return self.map_tensors(move)

    @property
    def device(self) -> torch.device:
        for path in self.paths():
            return path.points.device
        return torch.device("cpu")

    def num_paths(self) -> int:
        return sum(1 for _ in self.walk())
