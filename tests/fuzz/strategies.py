"""Hypothesis strategies for hostile SVG input: generated documents and mutated real files.

Values are drawn from the ones that break loaders: huge and tiny numbers, NaN/Inf, empty
strings, garbage, negative sizes, broken references, deep nesting.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "icons").rglob("*.svg"))

NUMBERS = st.one_of(
    st.integers(-5, 105).map(str),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.3g}"),
    st.sampled_from(["0", "-0", "1e308", "-1e308", "1e-320", "nan", "NaN", "inf", "-inf", "", " ",
                     "1e", "--1", "1.2.3", "5%", "3px", "2em", "1mm", "abc", "0x10", "\u2212" "1"]),
)
COLORS = st.sampled_from(["red", "#f00", "#ff000080", "#12", "#zzzzzz", "rgb(1,2,3)", "rgba(0,0,0,.5)",
                          "rgb(300,-1,50%)", "hsl(120,50%,50%)", "none", "currentColor", "transparent",
                          "url(#g)", "url(#missing)", "url(", "", "inherit", "notacolor"])
PATH_CMDS = st.sampled_from(list("MmLlHhVvCcSsQqTtAaZz"))


@st.composite
def path_data(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        parts.append(draw(PATH_CMDS))
        parts.extend(draw(st.lists(NUMBERS, max_size=8)))
    return " ".join(parts)


def _attrs(draw, names) -> str:
    chosen = draw(st.lists(st.sampled_from(names), max_size=6, unique=True))
    out = []
    for name in chosen:
        if name in ("fill", "stroke", "stop-color", "color"):
            value = draw(COLORS)
        elif name == "d":
            value = draw(path_data())
        elif name == "transform":
            fn = draw(st.sampled_from(["matrix", "translate", "scale", "rotate", "skewX", "skewY", "bogus"]))
            value = f"{fn}({' '.join(draw(st.lists(NUMBERS, max_size=7)))})"
        elif name in ("points", "viewBox"):
            value = " ".join(draw(st.lists(NUMBERS, max_size=9)))
        elif name in ("href", "xlink:href", "clip-path"):
            value = draw(st.sampled_from(["#a", "#g", "#c", "#self", "url(#c)", "#", "", "http://example.invalid/x.svg"]))
        elif name == "style":
            value = f"fill:{draw(COLORS)};stroke-width:{draw(NUMBERS)};opacity:{draw(NUMBERS)}"
        elif name == "id":
            value = draw(st.sampled_from(["a", "g", "c", "self", ""]))
        else:
            value = draw(NUMBERS)
        out.append(f'{name}="{value}"')
    return " ".join(out)


SHAPE_ATTRS = ["d", "x", "y", "width", "height", "rx", "ry", "cx", "cy", "r", "x1", "y1", "x2", "y2",
               "points", "fill", "stroke", "stroke-width", "opacity", "fill-opacity", "fill-rule",
               "transform", "style", "id", "clip-path", "stroke-linecap", "stroke-linejoin",
               "stroke-miterlimit", "href", "xlink:href"]
TAGS = ["path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "g", "use", "defs",
        "linearGradient", "radialGradient", "stop", "clipPath", "text", "filter", "mask", "image",
        "symbol", "pattern", "unknown"]


@st.composite
def element(draw, depth: int = 0) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = _attrs(draw, SHAPE_ATTRS + ["offset", "stop-color", "gradientUnits", "gradientTransform"])
    if depth < 4 and tag in ("g", "defs", "clipPath", "symbol", "linearGradient", "radialGradient", "mask"):
        kids = "".join(draw(st.lists(element(depth + 1), max_size=4)))
        return f"<{tag} {attrs}>{kids}</{tag}>"
    return f"<{tag} {attrs}/>"


@st.composite
def svg_documents(draw) -> str:
    root = _attrs(draw, ["width", "height", "viewBox", "preserveAspectRatio", "fill", "transform"])
    body = "".join(draw(st.lists(element(), max_size=8)))
    return f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" {root}>{body}</svg>'


@st.composite
def mutated_samples(draw) -> str:
    """A real icon with random damage: truncation, byte changes, spliced garbage."""
    text = SAMPLES[draw(st.integers(0, len(SAMPLES) - 1))].read_text(encoding="utf-8", errors="replace")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "replace", "insert", "delete", "duplicate"]))
        i = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "truncate":
            text = text[:i]
        elif kind == "replace":
            text = text[:i] + draw(st.sampled_from(list("<>\"'=/#-.0123456789e ;:()&") + ["nan", "1e999", "&x;"])) + text[i + 1:]
        elif kind == "insert":
            text = text[:i] + draw(st.text(max_size=8)) + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)):]
        else:
            j = draw(st.integers(i, min(len(text), i + 200)))
            text = text[:j] + text[i:j] + text[j:]
    return text
