"""Presentation properties: which exist, which inherit, and where their values come from
(presentation attributes < ``<style>`` sheet rules < ``style=""``, as CSS orders them).

The ``<style>`` support is a small CSS subset: rules with type, ``.class``, ``#id`` and
``type.class`` selectors (comma lists, ``*``); other selectors and at-rules are ignored.
"""

from __future__ import annotations

import re

# properties that inherit (SVG 1.1 / CSS)
INHERITED = frozenset(
    "fill fill-opacity fill-rule stroke stroke-width stroke-opacity stroke-linecap "
    "stroke-linejoin stroke-miterlimit stroke-dasharray stroke-dashoffset clip-rule color "
    "visibility paint-order".split()
)
# properties that do not inherit but that we read
NOT_INHERITED = frozenset("opacity display clip-path stop-color stop-opacity mask filter".split())
MARKERS = frozenset("marker marker-start marker-mid marker-end".split())
PROPERTIES = INHERITED | NOT_INHERITED | MARKERS

DEFAULTS = {
    "fill": "black",
    "fill-opacity": "1",
    "fill-rule": "nonzero",
    "stroke": "none",
    "stroke-width": "1",
    "stroke-opacity": "1",
    "stroke-linecap": "butt",
    "stroke-linejoin": "miter",
    "stroke-miterlimit": "4",
    "clip-rule": "nonzero",
    "color": "black",
    "visibility": "visible",
}

_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
_RULE_RE = re.compile(r"([^{}@]+)\{([^{}]*)\}")
_SIMPLE_SEL_RE = re.compile(r"(\*|[A-Za-z][\w-]*)?((?:[.#][\w-]+)*)\Z")


def parse_declarations(text: str) -> dict[str, str]:
    """``"fill:red; stroke : blue"`` -> ``{"fill": "red", "stroke": "blue"}`` (known
    properties only; ``!important`` is dropped)."""
    out = {}
    for decl in text.split(";"):
        name, sep, value = decl.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.replace("!important", "").strip()
        if name in PROPERTIES and value:
            out[name] = value
    return out


class StyleSheet:
    """Rules from ``<style>`` elements, matched against (tag, id, classes)."""

    def __init__(self) -> None:
        # (specificity, order, tag or None, id or None, classes, declarations)
        self.rules: list[tuple[tuple[int, int, int], int, str | None, str | None, frozenset, dict]] = []

    def add(self, css: str) -> None:
        css = _COMMENT_RE.sub("", css)
        css = re.sub(r"@[^{};]*(\{[^{}]*(\{[^{}]*\}[^{}]*)*\}|;)", "", css)  # drop at-rules
        for selectors, body in _RULE_RE.findall(css):
            decls = parse_declarations(body)
            if not decls:
                continue
            for sel in selectors.split(","):
                m = _SIMPLE_SEL_RE.match(sel.strip())
                if m is None or not sel.strip():
                    continue
                tag = m.group(1) if m.group(1) not in (None, "*") else None
                parts = re.findall(r"[.#][\w-]+", m.group(2))
                ids = [p[1:] for p in parts if p[0] == "#"]
                classes = frozenset(p[1:] for p in parts if p[0] == ".")
                spec = (len(ids), len(classes), 1 if tag else 0)
                self.rules.append((spec, len(self.rules), tag, ids[0] if ids else None, classes, decls))
        self.rules.sort(key=lambda r: (r[0], r[1]))

    def match(self, tag: str, element_id: str | None, classes: frozenset) -> dict[str, str]:
        out: dict[str, str] = {}
        for _, _, r_tag, r_id, r_classes, decls in self.rules:
            if r_tag is not None and r_tag != tag:
                continue
            if r_id is not None and r_id != element_id:
                continue
            if r_classes and not r_classes <= classes:
                continue
            out.update(decls)
        return out

    def __bool__(self) -> bool:
        return bool(self.rules)
