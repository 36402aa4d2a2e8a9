#!/usr/bin/env python3
"""Rebuild the embedded prior's icon set (``vecdistill/data/icons/``) from local npm packages.

Reads only local files; nothing is downloaded. Fetch the two packages once with npm and
unpack them (any folder; the defaults below are where this project keeps them)::

    cd /work/corpus
    npm pack @twemoji/svg@15.0.0 && mkdir twemoji-svg-15.0.0 && tar xzf twemoji-svg-15.0.0.tgz -C twemoji-svg-15.0.0
    npm pack emojibase-data@17.0.0 && mkdir emojibase-data-17.0.0 && tar xzf emojibase-data-17.0.0.tgz -C emojibase-data-17.0.0
    python3 scripts/build_icon_set.py --twemoji /work/corpus/twemoji-svg-15.0.0/package \\
        --emojibase /work/corpus/emojibase-data-17.0.0/package

What it writes (replacing the previous set):
  ``svg/<codepoints>.svg``  the Twemoji SVG of each selected emoji, coordinates rounded to
                            ``--decimals`` places (36-unit viewBox: 0.005 units at 2 places).
  ``captions.json``         one entry per icon: file, emoji, codepoints, CLDR short name
                            (``name``), Unicode character name(s), CLDR keywords, GitHub
                            shortcodes (as aliases), the emoji group and ``sha`` (the first
                            16 hex digits of the SHA-256 of the written SVG, which the
                            prior's render cache key is built from); plus the sources.
  ``LICENSE.md``            the licences and attribution of the graphics and the names.

Selection: every fully qualified emoji of emojibase-data's English data with a Twemoji SVG,
without skin-tone variants, flags, components (skin-tone swatches, hair pieces) and ZWJ
sequences of people (families, couples, professions by gender), whose many near-duplicates
bloat the set without adding shapes. Single-codepoint emoji and the ZWJ sequences of
objects and animals (e.g. "black cat") are kept. Icons larger than ``--max-bytes`` after
minification are skipped (they are detailed scenes that say little at 64 px).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "vecdistill" / "data" / "icons"
DEFAULT_TWEMOJI = Path("/work/corpus/twemoji-svg-15.0.0/package")
DEFAULT_EMOJIBASE = Path("/work/corpus/emojibase-data-17.0.0/package")

# emojibase group numbers (en/messages.json): 1 people-body, 2 component, 9 flags
SKIP_GROUPS = {2, 9}
PEOPLE_GROUP = 1
ZWJ = "200D"

NUMERIC_ATTRS = (
    "d", "points", "transform", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
    "fx", "fy", "width", "height", "stroke-width", "offset", "viewBox",
)
_ATTR_RE = re.compile(r'\b(' + "|".join(re.escape(a) for a in NUMERIC_ATTRS) + r')="([^"]*)"')
_NUM_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _format_number(value: float, decimals: int) -> str:
    text = f"{round(value, decimals):.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if text.startswith("0."):
        text = text[1:]
    elif text.startswith("-0."):
        text = "-" + text[2:]
    return text


def _round_numbers(text: str, decimals: int) -> str:
    """Round the numbers of an attribute value that have more than ``decimals`` decimals.

    Tokens are kept apart: ``.86.998`` -> ``.86 1`` (not ``.861``), ``1.004.5`` -> ``1 .5``.
    Integers are never touched, nor numbers with leading zeros such as ``01.5``, which in
    path data are arc flags run together with a coordinate (``0``, ``1``, ``1.5``)."""

    def repl(match: re.Match) -> str:
        token = match.group(0)
        if "." not in token or "e" in token.lower():
            return token
        whole, frac = token.lstrip("-").split(".")
        if len(frac) <= decimals or (len(whole) > 1 and whole.startswith("0")):
            return token
        out = _format_number(float(token), decimals)
        prev = match.string[match.start() - 1: match.start()] if match.start() else ""
        if prev and (prev.isdigit() or prev == ".") and not out.startswith(("-", ".")):
            out = " " + out
        nxt = match.string[match.end(): match.end() + 1]
        if nxt == "." and "." not in out:
            out += " "
        return out

    return re.sub(" {2,}", " ", _NUM_RE.sub(repl, text))


def minify_svg(svg: str, decimals: int) -> str:
    """Round coordinates of the numeric attributes; the XML structure is kept as is."""
    svg = _ATTR_RE.sub(lambda m: f'{m.group(1)}="{_round_numbers(m.group(2), decimals)}"', svg)
    return svg.strip() + "\n"


def twemoji_file(hexcode: str, folder: Path) -> Path | None:
    """The Twemoji SVG for an emojibase hexcode (Twemoji drops FE0F outside ZWJ sequences)."""
    parts = hexcode.lower().split("-")
    candidates = ["-".join(parts), "-".join(p for p in parts if p != "fe0f")]
    for name in candidates:
        path = folder / f"{name}.svg"
        if path.is_file():
            return path
    return None


def unicode_names(hexcode: str) -> list[str]:
    """The Unicode character name of a single-code-point emoji (variation selectors
    ignored), as a one-element list; empty for sequences (their parts' names mislead, e.g.
    "black large square" in "black cat") and for characters this Python does not know."""
    parts = [p for p in hexcode.split("-") if p not in ("FE0F", "FE0E")]
    if len(parts) != 1:
        return []
    names = []
    for part in parts:
        name = unicodedata.name(chr(int(part, 16)), "")
        if name:
            names.append(name.lower())
    return names


def _useful_alias(code: str) -> bool:
    """GitHub shortcodes, minus numbered duplicates ("cat2", "dog2") and "+1"-style codes."""
    return bool(re.fullmatch(r"[a-z][a-z_]*", code))


def select(entries: list[dict]) -> list[dict]:
    """The emojibase entries we ship (see the module docstring)."""
    chosen = []
    for entry in entries:
        if entry.get("group") in SKIP_GROUPS or "group" not in entry:
            continue
        hexcode = entry["hexcode"]
        if entry.get("group") == PEOPLE_GROUP and ZWJ in hexcode.split("-"):
            continue
        chosen.append(entry)
    return chosen


def _compact_json(manifest: dict) -> str:
    """JSON with one icon per line (small, and diffs stay readable)."""
    head = {k: v for k, v in manifest.items() if k != "icons"}
    lines = [json.dumps(icon, ensure_ascii=False, separators=(",", ":")) for icon in manifest["icons"]]
    body = json.dumps(head, ensure_ascii=False)[:-1]
    return body + ', "icons": [\n' + ",\n".join(lines) + "\n]}\n"


def write_license(out: Path, twemoji: Path, emojibase: Path) -> None:
    tw_meta = json.loads((twemoji / "package.json").read_text())
    eb_meta = json.loads((emojibase / "package.json").read_text())
    tw_license = (twemoji / "license").read_text().strip()
    eb_license = (emojibase / "LICENSE").read_text().strip()
    text = f"""# Licences of the embedded icon set

## The icons (`svg/`): Twemoji

Emoji graphics from Twemoji, Copyright 2019 Twitter, Inc and other contributors
(maintained since 2023 by jdecked and contributors, https://github.com/jdecked/twemoji).
The graphics are licensed under CC-BY 4.0: https://creativecommons.org/licenses/by/4.0/
(legal code: https://creativecommons.org/licenses/by/4.0/legalcode).

Changes made by vecdistill: a subset was selected, files were renamed to their code
points, and coordinates were rounded to fewer decimals (scripts/build_icon_set.py).
Images generated by the embedded prior imitate these graphics; credit Twemoji
(as above) when you publish them.

The optimised SVG files were taken from the npm package {tw_meta['name']}@{tw_meta['version']}
({tw_meta.get('homepage', '')}), whose own licence (for its code and packaging) is:

```
{tw_license}
```

## The captions (`captions.json`): emojibase-data and CLDR

Short names, keywords and shortcodes come from the npm package
{eb_meta['name']}@{eb_meta['version']} (https://emojibase.dev), which derives its names and
keywords from the Unicode CLDR (Unicode License v3, https://www.unicode.org/license.txt).
Its licence:

```
{eb_license}
```

Unicode character names come from Python's `unicodedata` (the Unicode Character Database,
Unicode License v3).
"""
    (out / "LICENSE.md").write_text(text)


def build(twemoji: Path, emojibase: Path, out: Path, decimals: int, max_bytes: int) -> dict:
    entries = json.loads((emojibase / "en" / "data.json").read_text())
    github = json.loads((emojibase / "en" / "shortcodes" / "github.json").read_text())
    tw_meta = json.loads((twemoji / "package.json").read_text())
    eb_meta = json.loads((emojibase / "package.json").read_text())

    svg_out = out / "svg"
    if svg_out.exists():
        shutil.rmtree(svg_out)
    svg_out.mkdir(parents=True)

    icons, skipped_missing, skipped_large, seen = [], 0, 0, set()
    for entry in select(entries):
        src = twemoji_file(entry["hexcode"], twemoji)
        if src is None:
            skipped_missing += 1
            continue
        if src.name in seen:
            continue
        svg = minify_svg(src.read_text(), decimals)
        if len(svg.encode()) > max_bytes:
            skipped_large += 1
            continue
        seen.add(src.name)
        (svg_out / src.name).write_text(svg)
        sha = hashlib.sha256(svg.encode()).hexdigest()[:16]
        codes = github.get(entry["hexcode"], [])
        codes = [codes] if isinstance(codes, str) else list(codes)
        icons.append({
            "file": src.name,
            "emoji": entry["emoji"],
            "codepoints": entry["hexcode"],
            "name": entry["label"],
            "unicode_names": unicode_names(entry["hexcode"]),
            "keywords": list(entry.get("tags", [])),
            "aliases": [c.replace("_", " ") for c in codes if _useful_alias(c)],
            "group": entry["group"],
            "sha": sha,
        })

    manifest = {
        "format": 1,
        "sources": {
            "svg": f"{tw_meta['name']}@{tw_meta['version']}",
            "captions": f"{eb_meta['name']}@{eb_meta['version']}",
            "unicode_names": f"unicodedata {unicodedata.unidata_version}",
        },
        "decimals": decimals,
        "icons": icons,
    }
    (out / "captions.json").write_text(_compact_json(manifest))
    write_license(out, twemoji, emojibase)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"icons": len(icons), "missing_svg": skipped_missing, "too_large": skipped_large, "bytes": total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--twemoji", type=Path, default=DEFAULT_TWEMOJI, help="unpacked @twemoji/svg package folder")
    parser.add_argument("--emojibase", type=Path, default=DEFAULT_EMOJIBASE, help="unpacked emojibase-data package folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (replaced)")
    parser.add_argument("--decimals", type=int, default=2, help="decimals kept in coordinates")
    parser.add_argument("--max-bytes", type=int, default=2500, help="skip icons larger than this after minification")
    args = parser.parse_args(argv)
    for folder, what in ((args.twemoji, "@twemoji/svg"), (args.emojibase, "emojibase-data")):
        if not folder.is_dir():
            print(f"error: {folder} is not a folder; unpack the {what} npm package there (see --help)", file=sys.stderr)
            return 2
    stats = build(args.twemoji, args.emojibase, args.out, args.decimals, args.max_bytes)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
