"""SVG file or text -> :class:`~vecdistill.svg.scene.Scene`.

Reads viewBox, width/height (px, pt, pc, mm, cm, in, em, ex; ``%`` or missing -> the viewBox
size, else 300x150), preserveAspectRatio, ``<g>``/``<a>``/``<switch>``, nested ``<svg>``,
``transform``, ``<use>`` (``href`` and ``xlink:href``) with ``<defs>``/``<symbol>``, basic
shapes (converted to paths), ``<path>``, presentation attributes, ``style=""`` and simple
``<style>`` sheets, inheritance, colours, linear/radial gradients (``href`` chains), and
``<clipPath>``. Features we do not render are dropped and named in ``Scene.dropped``, with
one :class:`SVGFeatureWarning` (or :class:`UnsupportedFeatureError` when ``strict``).

Safety: XML entity declarations are refused (no entity expansion), nothing external is
ever fetched, and :class:`~vecdistill.svg.values.Limits` bound file size, element count,
nesting, points and magnitudes. Every failure is an :class:`SVGError` with one line.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path as FsPath

import numpy as np
import torch

from ..errors import SVGError, UnsupportedFeatureError
from .color import parse_color
from .pathdata import PathGeometry, ellipse_cubics, parse_path_data
from .scene import (
    IDENTITY,
    Affine,
    ClipPath,
    Group,
    LinearGradient,
    Path,
    RadialGradient,
    Scene,
    Solid,
)
from .style import DEFAULTS, INHERITED, PROPERTIES, StyleSheet, parse_declarations
from .transform import parse_transform
from .values import DEFAULT_LIMITS, Limits, parse_length, parse_number, parse_number_list

__all__ = ["load_svg", "SVGFeatureWarning", "Limits", "DEFAULT_LIMITS"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

SHAPES = frozenset("path rect circle ellipse line polyline polygon".split())
CONTAINERS = frozenset("g a switch".split())
# elements that paint but that we do not render: dropped with a warning
UNSUPPORTED = frozenset("text image foreignObject video audio iframe canvas".split())
ANIMATIONS = frozenset("animate animateTransform animateMotion animateColor set".split())
# never rendered directly (definitions, metadata)
NOT_RENDERED = frozenset(
    "defs title desc metadata style script linearGradient radialGradient clipPath mask "
    "filter pattern marker symbol cursor view font font-face".split()
)
GEOMETRY_ATTRS = frozenset("x y width height rx ry cx cy r x1 y1 x2 y2 points d href pathLength".split())
_NEVER_KEEP = PROPERTIES | GEOMETRY_ATTRS | {"id", "style", "transform", "viewBox", "preserveAspectRatio"}

_URL_RE = re.compile(r"url\(\s*['\"]?#([^)'\"]*)['\"]?\s*\)\s*(.*)\Z", re.S)
_KEYWORDS = {
    "fill-rule": ("nonzero", "evenodd"),
    "clip-rule": ("nonzero", "evenodd"),
    "stroke-linecap": ("butt", "round", "square"),
    "stroke-linejoin": ("miter", "round", "bevel", "miter-clip", "arcs"),
    "visibility": ("visible", "hidden", "collapse"),
}


class SVGFeatureWarning(UserWarning):
    """Some features of the file were dropped (the message lists them)."""


# ----------------------------------------------------------------------------------------
# reading bytes and XML
# ----------------------------------------------------------------------------------------


def _read_bytes(source, limits: Limits) -> tuple[bytes, str]:
    """(content, name for messages)."""
    if isinstance(source, bytes):
        data, name = source, "SVG data"
    elif isinstance(source, str) and _looks_like_text(source):
        data, name = source.encode("utf-8"), "SVG text"
    elif isinstance(source, (str, os.PathLike)):
        path = FsPath(source)
        name = str(path)
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise SVGError(f"{name} is a folder, not an SVG file")
            if size > limits.max_bytes:
                raise SVGError(f"{name} is {size} bytes, over the limit of {limits.max_bytes} bytes")
            data = path.read_bytes()
        except FileNotFoundError:
            raise SVGError(f"{name}: no such file") from None
        except PermissionError:
            raise SVGError(f"{name}: permission denied") from None
        except (OSError, ValueError) as exc:
            raise SVGError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    else:
        raise SVGError(f"expected a file path or SVG text, got {type(source).__name__}")
    if data[:2] == b"\x1f\x8b":  # .svgz
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, limits.max_bytes + 1)
        except zlib.error as exc:
            raise SVGError(f"{name}: broken gzip data ({exc})") from None
    if len(data) > limits.max_bytes:
        raise SVGError(f"{name} is over the limit of {limits.max_bytes} bytes")
    if not data.strip():
        raise SVGError(f"{name} is empty")
    return data, name


def _looks_like_text(source: str) -> bool:
    """SVG text rather than a file name: markup, line breaks, or longer than any path."""
    return source.lstrip().startswith("<") or "<" in source or "\n" in source or "\0" in source or len(source) > 4096


def _parse_xml(data: bytes, name: str, limits: Limits) -> ET.Element:
    probe = data
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        probe = data.decode("utf-16", errors="replace").encode("utf-8")
    if b"<!ENTITY" in probe:
        raise SVGError(f"{name} declares XML entities; refused (entity expansion is unsafe)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SVGError(f"{name} is not well-formed XML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. bad encoding declarations
        raise SVGError(f"{name} cannot be parsed as XML: {exc}") from None
    count = 0
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        count += 1
        if depth > limits.max_depth:
            raise SVGError(f"{name} nests elements deeper than {limits.max_depth} levels")
        if count > limits.max_elements:
            raise SVGError(f"{name} has more than {limits.max_elements} elements")
        stack.extend((child, depth + 1) for child in el)
    return root


def _local(tag) -> str | None:
    """Local name of an SVG-namespace (or un-namespaced) element; None for others."""
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    if tag[0] == "{":
        ns, _, local = tag[1:].partition("}")
        return local if ns == SVG_NS else None
    return tag


# ----------------------------------------------------------------------------------------
# the loader
# ----------------------------------------------------------------------------------------


class _Loader:
    def __init__(self, root: ET.Element, limits: Limits):
        self.root = root
        self.limits = limits
        self.ids: dict[str, ET.Element] = {}
        self.sheet = StyleSheet()
        for el in root.iter():
            eid = el.get("id")
            if eid:
                self.ids.setdefault(eid, el)
            if _local(el.tag) == "style":
                self.sheet.add("".join(el.itertext()))
        self.dropped: set[str] = set()
        self.gradients: dict[str, object] = {}
        self.clips: dict[str, ClipPath | None] = {}
        self.use_stack: list[int] = []
        self.instancing = 0  # > 0 while expanding a <use>: instance ids are not kept
        self.instances = 0
        self.points = 0
        self.viewport = (300.0, 150.0)

    # -- values -----------------------------------------------------------------------
    def length(self, el, name: str, default: float, axis: str = "x") -> float:
        text = el.get(name)
        if text is None or not text.strip():
            return default
        vw, vh = self.viewport
        ref = {"x": vw, "y": vh}.get(axis, math.sqrt((vw * vw + vh * vh) / 2))
        return parse_length(text, f"<{_local(el.tag)}> {name}", ref, self.limits)

    def _valid(self, name: str, value: str) -> bool:
        """Is ``value`` acceptable for property ``name``? (CSS ignores invalid values.)"""
        v = value.strip()
        if name in ("fill", "stroke"):
            return (
                v in ("none", "currentColor", "context-fill", "context-stroke")
                or v.startswith("url(")
                or parse_color(v) is not None
            )
        if name in ("color", "stop-color"):
            return v == "currentColor" or parse_color(v) is not None
        if name in _KEYWORDS:
            return v in _KEYWORDS[name]
        if name in ("opacity", "fill-opacity", "stroke-opacity", "stop-opacity", "stroke-miterlimit"):
            try:
                _ratio(v, name, self.limits)
            except SVGError:
                if re.search(r"nan|inf", v, re.I):
                    raise
                return False
            return True
        if name == "stroke-width":
            try:
                parse_length(v, name, 1.0, self.limits)
            except SVGError:
                if re.search(r"nan|inf", v, re.I):
                    raise
                return False
            return True
        return True

    def style_of(self, el: ET.Element, tag: str, parent: dict[str, str]) -> dict[str, str]:
        """Computed properties of ``el`` given its parent's computed properties."""
        declared = {k: v for k, v in el.attrib.items() if k in PROPERTIES}
        if self.sheet:
            classes = frozenset((el.get("class") or "").split())
            declared.update(self.sheet.match(tag, el.get("id"), classes))
        inline = el.get("style")
        if inline:
            declared.update(parse_declarations(inline))
        style = {k: v for k, v in parent.items() if k in INHERITED}
        for k, v in declared.items():
            v = v.strip()
            if v == "inherit":
                if k in parent:
                    style[k] = parent[k]
            elif v not in ("initial", "unset") and self._valid(k, v):
                style[k] = v
            elif v == "initial" and k in DEFAULTS:
                style[k] = DEFAULTS[k]
        return style

    def note_unsupported_props(self, style: dict[str, str], shape: bool) -> None:
        for prop, feature in (("filter", "filter"), ("mask", "mask")):
            if style.get(prop, "none") != "none":
                self.dropped.add(feature)
        if shape:
            if any(style.get(m, "none") != "none" for m in ("marker", "marker-start", "marker-mid", "marker-end")):
                self.dropped.add("marker")
            if style.get("stroke-dasharray", "none") not in ("none", "0", "") and style.get("stroke", "none") != "none":
                self.dropped.add("stroke-dasharray")
            order = style.get("paint-order", "normal").split()
            if order and order[0] not in ("normal", "fill") and style.get("stroke", "none") != "none":
                self.dropped.add("paint-order")

    def extra_attrs(self, el: ET.Element) -> dict[str, str]:
        return {
            k: v
            for k, v in el.attrib.items()
            if k[0] != "{" and k not in _NEVER_KEEP and not k.startswith("on") and ":" not in k
        }

    def node_id(self, el: ET.Element) -> str | None:
        return None if self.instancing else (el.get("id") or None)

    def count_instance(self) -> None:
        """Count one element drawn (``<use>`` expansion included) against the limit."""
        self.instances += 1
        if self.instances > self.limits.max_elements:
            raise SVGError(f"the drawing expands (through <use>) to more than {self.limits.max_elements} elements")

    # -- tree -------------------------------------------------------------------------
    def children(self, el: ET.Element, style: dict[str, str], depth: int) -> list:
        out = []
        for child in el:
            node = self.node(child, style, depth + 1)
            if node is not None:
                out.append(node)
        return out

    def node(self, el: ET.Element, parent: dict[str, str], depth: int):
        tag = _local(el.tag)
        if tag is None:
            return None
        if depth > self.limits.max_depth:
            raise SVGError(f"elements (with <use> expansion) nest deeper than {self.limits.max_depth} levels")
        if tag in UNSUPPORTED:
            self.dropped.add(tag)
            return None
        if tag in ANIMATIONS:
            self.dropped.add("animation")
            return None
        if tag in NOT_RENDERED or (tag not in SHAPES and tag not in CONTAINERS and tag not in ("use", "svg")):
            return None
        self.count_instance()
        style = self.style_of(el, tag, parent)
        if style.get("display", "inline").strip() == "none":
            return None
        self.note_unsupported_props(style, tag in SHAPES)
        if tag in SHAPES:
            return self.shape(el, tag, style)
        transform = parse_transform(el.get("transform", ""), self.limits)
        clip = self.clip_ref(style.get("clip-path"))
        opacity = _ratio(style.get("opacity", "1"), "opacity", self.limits)
        if tag == "use":
            return self.use(el, style, depth, transform, clip, opacity)
        if tag == "svg":
            return self.nested_svg(el, style, depth, transform, clip, opacity)
        kids = self.children(el, style, depth)
        if tag == "switch":
            kids = kids[:1]
        return Group(kids, transform, opacity, clip, self.node_id(el), self.extra_attrs(el))

    def use(self, el, style, depth, transform, clip, opacity):
        href = el.get(XLINK_HREF) or el.get("href") or ""
        href = href.strip()
        if not href.startswith("#"):
            if href:
                self.dropped.add("external reference")
            return None
        target = self.ids.get(href[1:])
        if target is None or id(target) in self.use_stack:
            return None
        x = self.length(el, "x", 0.0, "x")
        y = self.length(el, "y", 0.0, "y")
        transform = transform @ Affine.translate(x, y)
        self.use_stack.append(id(target))
        self.instancing += 1
        try:
            if _local(target.tag) == "symbol":
                content = self.viewport_group(target, el, style, depth + 1)
            else:
                content = self.node(target, style, depth + 1)
        finally:
            self.instancing -= 1
            self.use_stack.pop()
        if content is None:
            return None
        group_id = self.node_id(el)
        return Group([content], transform, opacity, clip, group_id, self.extra_attrs(el))

    def nested_svg(self, el, style, depth, transform, clip, opacity):
        x = self.length(el, "x", 0.0, "x")
        y = self.length(el, "y", 0.0, "y")
        inner = self.viewport_group(el, el, style, depth)
        if inner is None:
            return None
        return Group([inner], transform @ Affine.translate(x, y), opacity, clip, self.node_id(el), self.extra_attrs(el))

    def viewport_group(self, content_el, size_el, style, depth) -> Group | None:
        """Children of a ``<symbol>`` or nested ``<svg>`` in a viewport sized by
        ``size_el``'s width/height (default 100%), mapped by the content's viewBox and
        clipped to the viewport."""
        vw0, vh0 = self.viewport
        w = self.length(size_el, "width", vw0, "x")
        h = self.length(size_el, "height", vh0, "y")
        if w <= 0 or h <= 0:
            return None
        inner_style = self.style_of(content_el, _local(content_el.tag) or "", style)
        vb = _view_box(content_el, self.limits)
        saved = self.viewport
        if vb is not None:
            self.viewport = (vb[2], vb[3])
        try:
            kids = self.children(content_el, inner_style, depth)
        finally:
            self.viewport = saved
        t = IDENTITY
        if vb is not None:
            t = Scene(Group(), w, h, vb, _aspect(content_el.get("preserveAspectRatio"))).canvas_transform(w, h)
        rect = _polygon_path([(0, 0), (w, 0), (w, h), (0, h)], True)
        inner = Group(kids, t)
        return Group([inner], IDENTITY, clip_path=ClipPath([rect]))

    # -- shapes -----------------------------------------------------------------------
    def geometry(self, el: ET.Element, tag: str) -> PathGeometry | None:
        if tag == "path":
            return parse_path_data(el.get("d", ""), self.limits)
        if tag == "rect":
            return self.rect(el)
        if tag in ("circle", "ellipse"):
            cx = self.length(el, "cx", 0.0, "x")
            cy = self.length(el, "cy", 0.0, "y")
            if tag == "circle":
                rx = ry = self.length(el, "r", 0.0, "xy")
            else:
                rx = _auto_length(self, el, "rx", "x")
                ry = _auto_length(self, el, "ry", "y")
                rx, ry = (ry if rx is None else rx), (rx if ry is None else ry)
                if rx is None:
                    return None
            if rx <= 0 or ry <= 0:
                return None
            cubics = ellipse_cubics(cx, cy, rx, ry, 0.0, 0.0, 2 * math.pi, (cx + rx, cy))
            pts = np.asarray([cx + rx, cy] + cubics[:-2], dtype=np.float64).reshape(-1, 2)
            return PathGeometry(pts, [2] * (len(cubics) // 6), [(len(cubics) // 6, True)])
        if tag == "line":
            x1, y1 = self.length(el, "x1", 0.0, "x"), self.length(el, "y1", 0.0, "y")
            x2, y2 = self.length(el, "x2", 0.0, "x"), self.length(el, "y2", 0.0, "y")
            return PathGeometry(np.array([[x1, y1], [x2, y2]], dtype=np.float64), [0], [(1, False)])
        # polyline / polygon
        nums = parse_number_list(el.get("points", ""), f"<{tag}> points", self.limits)
        if len(nums) % 2:
            nums = nums[:-1]  # SVG renders up to the error
        if len(nums) < 4:
            return None
        pts = np.asarray(nums, dtype=np.float64).reshape(-1, 2)
        closed = tag == "polygon"
        nseg = len(pts) if closed else len(pts) - 1
        return PathGeometry(pts, [0] * nseg, [(nseg, closed)])

    def rect(self, el: ET.Element) -> PathGeometry | None:
        x, y = self.length(el, "x", 0.0, "x"), self.length(el, "y", 0.0, "y")
        w, h = self.length(el, "width", 0.0, "x"), self.length(el, "height", 0.0, "y")
        if w <= 0 or h <= 0:
            return None
        rx, ry = _auto_length(self, el, "rx", "x"), _auto_length(self, el, "ry", "y")
        rx, ry = (ry if rx is None else rx), (rx if ry is None else ry)
        rx, ry = min(rx or 0.0, w / 2), min(ry or 0.0, h / 2)
        if rx <= 0 or ry <= 0:
            return PathGeometry(
                np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64), [0] * 4, [(4, True)]
            )
        pts: list[float] = [x + rx, y]
        kinds: list[int] = []
        half = math.pi / 2
        corners = (  # (edge end, corner centre, start angle)
            ((x + w - rx, y), (x + w - rx, y + ry), -half),
            ((x + w, y + h - ry), (x + w - rx, y + h - ry), 0.0),
            ((x + rx, y + h), (x + rx, y + h - ry), half),
            ((x, y + ry), (x + rx, y + ry), math.pi),
        )
        for (ex, ey), (ccx, ccy), a0 in corners:
            if (ex, ey) != (pts[-2], pts[-1]):
                pts += [ex, ey]
                kinds.append(0)
            pts += ellipse_cubics(ccx, ccy, rx, ry, 0.0, a0, half)
            kinds.append(2)
        del pts[-2:]  # the last corner ends at the start point (closed)
        return PathGeometry(np.asarray(pts, dtype=np.float64).reshape(-1, 2), kinds, [(len(kinds), True)])

    def make_path(self, el: ET.Element, tag: str, geom: PathGeometry) -> Path:
        self.points += len(geom.points)
        if self.points > self.limits.max_points:
            raise SVGError(f"the paths have more than {self.limits.max_points} points in all")
        return Path(
            torch.from_numpy(geom.points.astype(np.float32)),
            torch.tensor(geom.segments, dtype=torch.long),
            list(geom.subpaths),
            transform=parse_transform(el.get("transform", ""), self.limits),
            id=self.node_id(el),
            attrs=self.extra_attrs(el),
        )

    def shape(self, el: ET.Element, tag: str, style: dict[str, str]) -> Path | None:
        if style.get("visibility", "visible") != "visible":
            return None
        geom = self.geometry(el, tag)
        if geom is None or not geom.segments:
            return None
        path = self.make_path(el, tag, geom)
        path.fill = self.paint(style.get("fill", "black"), style)
        path.stroke = self.paint(style.get("stroke", "none"), style)
        lim = self.limits
        vw, vh = self.viewport
        diag = math.sqrt((vw * vw + vh * vh) / 2)
        path.stroke_width = torch.tensor(max(0.0, parse_length(style.get("stroke-width", "1"), "stroke-width", diag, lim)))
        path.fill_rule = style.get("fill-rule", "nonzero")
        path.linecap = style.get("stroke-linecap", "butt")
        path.linejoin = style.get("stroke-linejoin", "miter")
        path.miterlimit = max(1.0, _ratio(style.get("stroke-miterlimit", "4"), "stroke-miterlimit", lim, clamp=False))
        path.fill_opacity = torch.tensor(_ratio(style.get("fill-opacity", "1"), "fill-opacity", lim))
        path.stroke_opacity = torch.tensor(_ratio(style.get("stroke-opacity", "1"), "stroke-opacity", lim))
        path.opacity = torch.tensor(_ratio(style.get("opacity", "1"), "opacity", lim))
        path.clip_path = self.clip_ref(style.get("clip-path"))
        return path

    # -- paints -----------------------------------------------------------------------
    def color(self, value: str, style: dict[str, str]):
        if value.strip() == "currentColor":
            value = style.get("color", "black")
            if value.strip() == "currentColor":
                value = "black"
        return parse_color(value)

    def solid(self, rgba) -> Solid:
        return Solid(torch.tensor(rgba, dtype=torch.float32))

    def paint(self, value: str, style: dict[str, str]):
        v = value.strip()
        if v in ("none", "context-fill", "context-stroke"):
            return None
        m = _URL_RE.match(v)
        if m:
            ref, fallback = m.group(1), m.group(2).strip()
            target = self.ids.get(ref)
            kind = _local(target.tag) if target is not None else None
            if kind in ("linearGradient", "radialGradient"):
                return self.gradient(ref)
            if kind == "pattern":
                self.dropped.add("pattern")
            if fallback and fallback != "none":
                rgba = self.color(fallback, style)
                return self.solid(rgba) if rgba is not None else None
            return None
        rgba = self.color(v, style)
        return None if rgba is None else self.solid(rgba)

    def gradient(self, gid: str):
        if gid in self.gradients:
            return self.gradients[gid]
        self.gradients[gid] = None  # guards href cycles
        chain = []
        el = self.ids[gid]
        seen = set()
        while el is not None and id(el) not in seen and _local(el.tag) in ("linearGradient", "radialGradient"):
            seen.add(id(el))
            chain.append(el)
            href = (el.get(XLINK_HREF) or el.get("href") or "").strip()
            el = self.ids.get(href[1:]) if href.startswith("#") else None

        def attr(name: str) -> str | None:
            for g in chain:
                if g.get(name) is not None:
                    return g.get(name)
            return None

        kind = _local(chain[0].tag)
        units = attr("gradientUnits") or "objectBoundingBox"
        if units not in ("objectBoundingBox", "userSpaceOnUse"):
            units = "objectBoundingBox"
        spread = attr("spreadMethod") or "pad"
        if spread not in ("pad", "reflect", "repeat"):
            spread = "pad"
        transform = parse_transform(attr("gradientTransform") or "", self.limits)
        stops_el = next((g for g in chain if any(_local(c.tag) == "stop" for c in g)), None)
        grad_style = self.style_of(chain[0], kind, dict(DEFAULTS))
        offsets: list[float] = []
        colors: list[tuple[float, float, float, float]] = []
        if stops_el is not None:
            for stop in stops_el:
                if _local(stop.tag) != "stop":
                    continue
                st = self.style_of(stop, "stop", grad_style)
                off = _ratio(stop.get("offset", "0"), "stop offset", self.limits)
                off = max(off, offsets[-1]) if offsets else off
                rgba = self.color(st.get("stop-color", "black"), st) or (0.0, 0.0, 0.0, 1.0)
                alpha = rgba[3] * _ratio(st.get("stop-opacity", "1"), "stop-opacity", self.limits)
                offsets.append(off)
                colors.append((rgba[0], rgba[1], rgba[2], alpha))
        vw, vh = self.viewport

        def coord(name: str, default: str, axis: str) -> float:
            text = attr(name)
            text = default if text is None or not text.strip() else text
            what = f"<{kind}> {name}"
            if units == "objectBoundingBox":
                return parse_length(text, what, 1.0, self.limits)
            ref = {"x": vw, "y": vh}.get(axis, math.sqrt((vw * vw + vh * vh) / 2))
            return parse_length(text, what, ref, self.limits)

        result = None
        if len(colors) == 1:
            result = self.solid(colors[0])
        elif colors:
            offs = torch.tensor(offsets, dtype=torch.float32)
            cols = torch.tensor(colors, dtype=torch.float32)
            common = dict(units=units, transform=transform, spread=spread, id=gid)
            if kind == "linearGradient":
                x1, y1 = coord("x1", "0%", "x"), coord("y1", "0%", "y")
                x2, y2 = coord("x2", "100%", "x"), coord("y2", "0%", "y")
                if (x1, y1) == (x2, y2):
                    result = self.solid(colors[-1])
                else:
                    result = LinearGradient(offs, cols, start=torch.tensor([x1, y1]), end=torch.tensor([x2, y2]), **common)
            else:
                cx, cy = coord("cx", "50%", "x"), coord("cy", "50%", "y")
                r = coord("r", "50%", "xy")
                focal = None
                if attr("fx") is not None or attr("fy") is not None:
                    fx = coord("fx", attr("cx") or "50%", "x")
                    fy = coord("fy", attr("cy") or "50%", "y")
                    focal = torch.tensor([fx, fy])
                if r <= 0:
                    result = self.solid(colors[-1])
                else:
                    result = RadialGradient(
                        offs, cols, center=torch.tensor([cx, cy]), radius=torch.tensor(r), focal=focal, **common
                    )
        self.gradients[gid] = result
        return result

    # -- clipping ---------------------------------------------------------------------
    def clip_ref(self, value: str | None) -> ClipPath | None:
        if not value or value.strip() == "none":
            return None
        m = _URL_RE.match(value.strip())
        if m is None:
            self.dropped.add("clip-path shape")
            return None
        ref = m.group(1)
        target = self.ids.get(ref)
        if target is None or _local(target.tag) != "clipPath":
            return None
        if ref in self.clips:
            return self.clips[ref]
        self.clips[ref] = None  # guards reference cycles
        units = target.get("clipPathUnits", "userSpaceOnUse").strip()
        if units not in ("userSpaceOnUse", "objectBoundingBox"):
            units = "userSpaceOnUse"
        style = self.style_of(target, "clipPath", dict(DEFAULTS))
        saved, self.instancing = self.instancing, self.instancing + 1  # clip children keep no ids
        try:
            children: list[Path] = []
            for child in target:
                self.clip_children(child, style, IDENTITY, children, 0)
            clip = ClipPath(
                children,
                units=units,
                transform=parse_transform(target.get("transform", ""), self.limits),
                clip_path=self.clip_ref(style.get("clip-path")),
                id=ref,
            )
        finally:
            self.instancing = saved
        self.clips[ref] = clip
        return clip

    def clip_children(self, el, parent: dict[str, str], transform: Affine, out: list, depth: int) -> None:
        tag = _local(el.tag)
        if tag is None or depth > self.limits.max_depth:
            return
        if tag in UNSUPPORTED:
            self.dropped.add(tag)
            return
        if tag not in SHAPES and tag != "use":
            return
        style = self.style_of(el, tag, parent)
        if style.get("display", "inline").strip() == "none" or style.get("visibility", "visible") != "visible":
            return
        own = parse_transform(el.get("transform", ""), self.limits)
        if tag == "use":
            href = (el.get(XLINK_HREF) or el.get("href") or "").strip()
            target = self.ids.get(href[1:]) if href.startswith("#") else None
            if target is None or id(target) in self.use_stack:
                return
            self.count_instance()
            t = transform @ own @ Affine.translate(self.length(el, "x", 0.0, "x"), self.length(el, "y", 0.0, "y"))
            self.use_stack.append(id(target))
            try:
                if _local(target.tag) in ("g", "symbol"):
                    for c in target:
                        self.clip_children(c, style, t, out, depth + 1)
                else:
                    self.clip_children(target, style, t, out, depth + 1)
            finally:
                self.use_stack.pop()
            return
        geom = self.geometry(el, tag)
        if geom is None or not geom.segments:
            return
        path = self.make_path(el, tag, geom)
        path.transform = transform @ path.transform
        path.attrs = {}
        path.fill = Solid(torch.tensor([0.0, 0.0, 0.0, 1.0]))
        path.fill_rule = style.get("clip-rule", "nonzero")
        path.clip_path = self.clip_ref(style.get("clip-path"))
        out.append(path)

    # -- root -------------------------------------------------------------------------
    def scene(self) -> Scene:
        root = self.root
        if _local(root.tag) != "svg":
            raise SVGError(f"the root element is <{_local(root.tag) or root.tag}>, not <svg>")
        vb = _view_box(root, self.limits)
        width = _root_size(root, "width", self.limits)
        height = _root_size(root, "height", self.limits)
        if width is None and height is None:
            width, height = (vb[2], vb[3]) if vb else (300.0, 150.0)
        elif width is None:
            width = height * vb[2] / vb[3] if vb else 300.0
        elif height is None:
            height = width * vb[3] / vb[2] if vb else 150.0
        if width <= 0 or height <= 0:
            raise SVGError(f"the SVG has zero or negative size ({width:g} x {height:g}); give it a positive width and height")
        if vb is None:
            vb = (0.0, 0.0, width, height)
        self.viewport = (vb[2], vb[3])
        par = _aspect(root.get("preserveAspectRatio"))
        style = self.style_of(root, "svg", dict(DEFAULTS))
        self.note_unsupported_props(style, False)
        group = Group(
            self.children(root, style, 1),
            parse_transform(root.get("transform", ""), self.limits),
            _ratio(style.get("opacity", "1"), "opacity", self.limits),
            self.clip_ref(style.get("clip-path")),
            root.get("id") or None,
        )
        attrs = {k: v for k, v in self.extra_attrs(root).items() if k not in ("version", "baseProfile")}
        return Scene(group, float(width), float(height), vb, par, sorted(self.dropped), attrs)


_ALIGNS = {"none"} | {f"x{a}Y{b}" for a in ("Min", "Mid", "Max") for b in ("Min", "Mid", "Max")}


def _aspect(text: str | None) -> str:
    """A valid preserveAspectRatio (``align [meet|slice]``), else the default."""
    words = (text or "").split()
    if words and words[0] == "defer":
        words = words[1:]
    if not words or words[0] not in _ALIGNS or len(words) > 2 or (len(words) == 2 and words[1] not in ("meet", "slice")):
        return "xMidYMid meet"
    return " ".join(words)


def _ratio(text: str, what: str, limits: Limits, clamp: bool = True) -> float:
    """A number or percentage (opacities, offsets), clamped to [0, 1] when ``clamp``."""
    t = text.strip()
    v = parse_number(t[:-1], what, limits) / 100 if t.endswith("%") else parse_number(t, what, limits)
    return min(max(v, 0.0), 1.0) if clamp else v


def _auto_length(loader: _Loader, el, name: str, axis: str) -> float | None:
    """rx/ry: None when missing, ``auto`` or negative (SVG: then the other one is used)."""
    text = el.get(name)
    if text is None or text.strip() in ("", "auto"):
        return None
    v = loader.length(el, name, 0.0, axis)
    return None if v < 0 else v


def _view_box(el, limits: Limits) -> tuple[float, float, float, float] | None:
    text = el.get("viewBox")
    if text is None or not text.strip():
        return None
    nums = parse_number_list(text, "viewBox", limits)
    if len(nums) != 4:
        raise SVGError(f"viewBox needs 4 numbers (x y width height), got {len(nums)}")
    if nums[2] <= 0 or nums[3] <= 0:
        raise SVGError(f"viewBox has zero or negative size ({nums[2]:g} x {nums[3]:g})")
    return (nums[0], nums[1], nums[2], nums[3])


def _root_size(root, name: str, limits: Limits) -> float | None:
    text = root.get(name)
    if text is None or not text.strip() or text.strip() == "auto" or text.strip().endswith("%"):
        return None
    return parse_length(text, f"<svg> {name}", None, limits)


def _polygon_path(points, closed: bool) -> Path:
    return Path.polygon(torch.tensor(points, dtype=torch.float32), closed=closed, fill=Solid(torch.tensor([0.0, 0.0, 0.0, 1.0])))


def load_svg(path_or_text, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> Scene:
    """Load an SVG file (path; ``.svgz`` too) or SVG text (a string starting with ``<``,
    or bytes) into a Scene.

    Unsupported features are dropped, listed in ``Scene.dropped`` and announced by one
    :class:`SVGFeatureWarning`; with ``strict=True`` they raise
    :class:`~vecdistill.errors.UnsupportedFeatureError` instead. Every other problem
    raises :class:`~vecdistill.errors.SVGError` with a one-line message.
    """
    try:
        data, name = _read_bytes(path_or_text, limits)
        root = _parse_xml(data, name, limits)
        try:
            scene = _Loader(root, limits).scene()
        except SVGError as exc:
            if name not in ("SVG text", "SVG data") and not str(exc).startswith(name):
                raise type(exc)(f"{name}: {exc}") from None
            raise
    except RecursionError:
        raise SVGError("the SVG nests too deeply to read") from None
    except SVGError as exc:
        raise type(exc)(" ".join(str(exc).split())) from None  # always one line
    if scene.dropped:
        features = ", ".join(scene.dropped)
        if strict:
            raise UnsupportedFeatureError(
                " ".join(f"{name} uses features we do not render: {features}; remove them or load without --strict".split())
            )
        warnings.warn(SVGFeatureWarning(f"dropped unsupported SVG features: {features}"), stacklevel=2)
    return scene
