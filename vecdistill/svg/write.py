"""Scene -> SVG text: compact, valid SVG 1.1 that cairosvg and browsers render alike.

Every path carries its paint explicitly (``fill="none"`` when it has no fill), so nothing
depends on inheritance. Groups keep their ids, transforms, opacities and clips; gradients
and clip paths go into one ``<defs>`` (named ids are kept, anonymous ones get ``vd-gN`` /
``vd-cN``). Solid colours are written as ``#rrggbb``; a colour's alpha is folded into the
fill-/stroke-opacity (same picture, SVG 1.1 compatible).
"""

from __future__ import annotations

import math
import os
from xml.sax.saxutils import quoteattr

import numpy as np

from ..errors import NumericalError
from ..fileio import atomic_write_text
from .bbox import node_bbox
from .scene import (
    Affine,
    ClipPath,
    Gradient,
    Group,
    LinearGradient,
    Path,
    RadialGradient,
    Scene,
    Solid,
    value_of,
)

SVG_NS = "http://www.w3.org/2000/svg"

# attributes the writer produces itself; preserved ``attrs`` never override them
_WRITTEN = frozenset(
    "id d transform fill fill-opacity fill-rule clip-rule stroke stroke-width stroke-opacity "
    "stroke-linecap stroke-linejoin stroke-miterlimit opacity clip-path style xmlns "
    "width height viewBox preserveAspectRatio".split()
)


def fmt(x: float, precision: int = 3) -> str:
    """A number with at most ``precision`` decimals, no trailing zeros, no ``-0``."""
    s = f"{float(x):.{precision}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


def _exact(x: float) -> str:
    """Sizes and viewBox: 10 significant digits (a tiny or huge viewBox stays valid)."""
    s = f"{float(x):.10g}"
    return "0" if s == "-0" else s


def _fmt_array(values: np.ndarray, precision: int) -> list[str]:
    if not np.isfinite(values).all():
        raise NumericalError("the scene has non-finite coordinates (NaN/Inf); cannot write it as SVG")
    return [fmt(v, precision) for v in np.round(values.ravel(), precision).tolist()]


def _numpy(t) -> np.ndarray:
    return t.detach().to("cpu").double().numpy()


def path_data(path: Path, precision: int = 3) -> str:
    """The ``d`` attribute of ``path``: absolute M/L/Q/C commands, ``Z`` for closed subpaths."""
    pts = _fmt_array(_numpy(path.points), precision)
    kinds = path.segments.tolist()
    out: list[str] = []
    seg = 0
    p = 0  # index of the current point (pairs in pts)

    def xy(i: int) -> str:
        x, y = pts[2 * i], pts[2 * i + 1]
        return f"{x}{' ' if not y.startswith('-') else ''}{y}"

    letters = ("L", "Q", "C")
    for nseg, closed in path.subpaths:
        first = p
        out.append("M" + xy(p))
        p += 1
        last_cmd = None
        for j in range(nseg):
            k = kinds[seg + j]
            idx = list(range(p, p + k + 1))
            if closed and j == nseg - 1:
                idx[-1] = first  # the closing segment ends at the first anchor
                if k == 0 and nseg > 1 and xy(p - 1) != xy(first):
                    break  # a closing line is what Z draws
            cmd = letters[k]
            coords = " ".join(xy(i) for i in idx)
            out.append((cmd if cmd != last_cmd else " ") + coords)
            last_cmd = cmd
            p += k + (0 if closed and j == nseg - 1 else 1)
        if closed:
            out.append("Z")
        seg += nseg
    return "".join(out).replace(" -", "-")


def _color_hex(rgba) -> tuple[str, float]:
    """``#rrggbb`` and the alpha of a [4] RGBA tensor (clamped to [0, 1])."""
    c = np.clip(np.nan_to_num(_numpy(rgba), nan=0.0), 0.0, 1.0)
    r, g, b = (int(round(v * 255)) for v in c[:3])
    return f"#{r:02x}{g:02x}{b:02x}", float(c[3]) if c.shape[0] > 3 else 1.0


def _transform_attr(t, precision: int) -> str | None:
    if t.is_identity():
        return None
    p = max(precision, 6)
    a, b, c, d, e, f = t.as_tuple()
    if (a, b, c, d) == (1, 0, 0, 1):
        return f"translate({fmt(e, p)} {fmt(f, p)})"
    return "matrix(" + " ".join(fmt(v, p) for v in (a, b, c, d, e, f)) + ")"


def _attrs(pairs) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None)


class _Writer:
    def __init__(self, precision: int):
        self.precision = precision
        self.ids: set[str] = set()
        self.names: dict[int, str] = {}  # id(gradient) -> its id in the file
        self.clip_names: dict[tuple, str] = {}  # (id(clip), bbox or nothing) -> id
        self.defs: list[str] = []
        self.counter = 0

    # -- ids ---------------------------------------------------------------------------
    def _fresh(self, prefix: str) -> str:
        while True:
            self.counter += 1
            name = f"vd-{prefix}{self.counter}"
            if name not in self.ids:
                self.ids.add(name)
                return name

    def _name(self, obj, prefix: str) -> tuple[str, bool]:
        """(id, is_new) for a gradient or clip path shared by reference."""
        key = id(obj)
        if key in self.names:
            return self.names[key], False
        want = getattr(obj, "id", None)
        if want and want not in self.ids:
            self.ids.add(want)
            name = want
        else:
            name = self._fresh(prefix)
        self.names[key] = name
        return name, True

    # -- defs --------------------------------------------------------------------------
    def gradient(self, grad: Gradient) -> str:
        name, new = self._name(grad, "g")
        if not new:
            return name
        p = self.precision
        tag = "linearGradient" if isinstance(grad, LinearGradient) else "radialGradient"
        attrs: list[tuple[str, str | None]] = [("id", name)]
        if isinstance(grad, LinearGradient):
            s, e = _numpy(grad.start), _numpy(grad.end)
            attrs += [("x1", fmt(s[0], p)), ("y1", fmt(s[1], p)), ("x2", fmt(e[0], p)), ("y2", fmt(e[1], p))]
        elif isinstance(grad, RadialGradient):
            c, r = _numpy(grad.center), value_of(grad.radius)
            attrs += [("cx", fmt(c[0], p)), ("cy", fmt(c[1], p)), ("r", fmt(r, p))]
            if grad.focal is not None:
                f = _numpy(grad.focal)
                attrs += [("fx", fmt(f[0], p)), ("fy", fmt(f[1], p))]
        if grad.units != "objectBoundingBox":
            attrs.append(("gradientUnits", grad.units))
        attrs.append(("gradientTransform", _transform_attr(grad.transform, p)))
        if grad.spread != "pad":
            attrs.append(("spreadMethod", grad.spread))
        stops = []
        offsets = np.clip(_numpy(grad.offsets), 0, 1)
        for off, col in zip(offsets.tolist(), grad.colors):
            hexc, alpha = _color_hex(col)
            stop_attrs = [("offset", fmt(off, max(p, 4))), ("stop-color", hexc)]
            if alpha < 1:
                stop_attrs.append(("stop-opacity", fmt(alpha, 4)))
            stops.append(f"<stop{_attrs(stop_attrs)}/>")
        self.defs.append(f"<{tag}{_attrs(attrs)}>{''.join(stops)}</{tag}>")
        return name

    def clip(self, clip: ClipPath, owner: Path | Group) -> str:
        """The id of ``clip`` as applied to ``owner``. objectBoundingBox clips are written
        in user space with ``owner``'s bounding box folded into their transform (same
        picture; cairosvg only understands such clips on rectangles)."""
        units, transform = clip.units, clip.transform
        key: tuple = (id(clip),)
        if units == "objectBoundingBox":
            box = node_bbox(owner)
            if box is not None and box[2] > 0 and box[3] > 0:
                units = "userSpaceOnUse"
                transform = Affine(box[2], 0, 0, box[3], box[0], box[1]) @ transform
                key = (id(clip), box)
        if key in self.clip_names:
            return self.clip_names[key]
        want = clip.id if clip.id and clip.id not in self.ids else None
        name = want or self._fresh("c")
        self.ids.add(name)
        self.clip_names[key] = name
        inner = clip.clip_path and f"url(#{self.clip(clip.clip_path, owner)})"
        attrs = [
            ("id", name),
            ("clipPathUnits", units if units != "userSpaceOnUse" else None),
            ("transform", _transform_attr(transform, self.precision)),
            ("clip-path", inner),
        ]
        children = []
        for child in clip.children:
            child_clip = child.clip_path and f"url(#{self.clip(child.clip_path, child)})"
            children.append(
                "<path"
                + _attrs(
                    [
                        ("d", path_data(child, self.precision)),
                        ("clip-rule", "evenodd" if child.fill_rule == "evenodd" else None),
                        ("transform", _transform_attr(child.transform, self.precision)),
                        ("clip-path", child_clip),
                    ]
                )
                + "/>"
            )
        self.defs.append(f"<clipPath{_attrs(attrs)}>{''.join(children)}</clipPath>")
        return name

    # -- nodes -------------------------------------------------------------------------
    def paint(self, paint) -> tuple[str, float]:
        """(attribute value, alpha factor folded into the opacity)."""
        if paint is None:
            return "none", 1.0
        if isinstance(paint, Solid):
            return _color_hex(paint.color)
        return f"url(#{self.gradient(paint)})", 1.0

    def opacity(self, value: float) -> str | None:
        value = min(max(value, 0.0), 1.0)
        return None if value >= 1.0 else fmt(value, max(self.precision, 4))

    def path(self, path: Path) -> str:
        fill, fill_alpha = self.paint(path.fill)
        pairs: list[tuple[str, str | None]] = [("id", path.id), ("d", path_data(path, self.precision))]
        pairs.append(("fill", None if fill == "#000000" and path.fill is not None else fill))
        if path.fill is not None:
            pairs.append(("fill-opacity", self.opacity(value_of(path.fill_opacity) * fill_alpha)))
            if path.fill_rule == "evenodd":
                pairs.append(("fill-rule", "evenodd"))
        if path.stroke is not None:
            stroke, stroke_alpha = self.paint(path.stroke)
            pairs += [
                ("stroke", stroke),
                ("stroke-width", fmt(value_of(path.stroke_width), self.precision)),
                ("stroke-opacity", self.opacity(value_of(path.stroke_opacity) * stroke_alpha)),
                ("stroke-linecap", path.linecap if path.linecap != "butt" else None),
                ("stroke-linejoin", path.linejoin if path.linejoin != "miter" else None),
                ("stroke-miterlimit", fmt(path.miterlimit, 4) if path.miterlimit != 4 else None),
            ]
        pairs += [
            ("opacity", self.opacity(value_of(path.opacity))),
            ("transform", _transform_attr(path.transform, self.precision)),
            ("clip-path", path.clip_path and f"url(#{self.clip(path.clip_path, path)})"),
        ]
        pairs += [(k, v) for k, v in path.attrs.items() if k not in _WRITTEN]
        return f"<path{_attrs(pairs)}/>"

    def group(self, group: Group) -> str:
        body = "".join(self.node(c) for c in group.children)
        pairs = [
            ("id", group.id),
            ("transform", _transform_attr(group.transform, self.precision)),
            ("opacity", self.opacity(value_of(group.opacity))),
            ("clip-path", group.clip_path and f"url(#{self.clip(group.clip_path, group)})"),
        ]
        pairs += [(k, v) for k, v in group.attrs.items() if k not in _WRITTEN]
        return f"<g{_attrs(pairs)}>{body}</g>"

    def node(self, node) -> str:
        return self.group(node) if isinstance(node, Group) else self.path(node)


def _collect_ids(scene: Scene) -> set[str]:
    ids = set()
    for g in scene.groups():
        if g.id:
            ids.add(g.id)
        for c in g.children:
            if isinstance(c, Path) and c.id:
                ids.add(c.id)
    return ids


def to_svg_string(scene: Scene, precision: int = 3) -> str:
    """The scene as SVG text; numbers rounded to ``precision`` decimals (user units), one
    more decimal per factor of 10 that the viewBox is smaller than 10 units."""
    if precision < 0 or precision > 12:
        raise ValueError(f"precision must be in 0..12, got {precision}")
    size = max(scene.view_box[2], scene.view_box[3])
    extra = max(0, math.ceil(-math.log10(size / 10))) if size > 0 else 0
    w = _Writer(min(precision + extra, 12))  # a tiny viewBox gets as many significant digits
    w.ids = _collect_ids(scene)
    root = scene.root
    body = "".join(w.node(c) for c in root.children)
    # the root group's own transform/opacity/clip become an inner <g>
    root_pairs = [
        ("transform", _transform_attr(root.transform, precision)),
        ("opacity", w.opacity(value_of(root.opacity))),
        ("clip-path", root.clip_path and f"url(#{w.clip(root.clip_path, root)})"),
    ]
    if any(v is not None for _, v in root_pairs):
        body = f"<g{_attrs(root_pairs)}>{body}</g>"
    vb = " ".join(_exact(v) for v in scene.view_box)
    svg_pairs = [
        ("xmlns", SVG_NS),
        ("id", root.id),
        ("width", _exact(scene.width)),
        ("height", _exact(scene.height)),
        ("viewBox", vb),
        (
            "preserveAspectRatio",
            scene.preserve_aspect_ratio if scene.preserve_aspect_ratio != "xMidYMid meet" else None,
        ),
    ]
    svg_pairs += [(k, v) for k, v in {**scene.attrs, **root.attrs}.items() if k not in _WRITTEN]
    defs = f"<defs>{''.join(w.defs)}</defs>" if w.defs else ""
    return f"<svg{_attrs(svg_pairs)}>{defs}{body}</svg>\n"


def save_svg(scene: Scene, path: str | os.PathLike, precision: int = 3) -> None:
    """Write ``scene`` to ``path`` atomically (see :func:`to_svg_string`)."""
    atomic_write_text(path, to_svg_string(scene, precision))
