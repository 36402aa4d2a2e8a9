"""``vecdistill prior``: inspect the embedded icon prior (what prompts it understands)."""

from __future__ import annotations

import json

import click


@click.group("prior")
def prior() -> None:
    """Inspect the embedded icon prior (the default when no --model is given)."""


@prior.command("captions")
@click.argument("query", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of text.")
def captions(query: str, as_json: bool) -> None:
    """List the icons the embedded prior knows: all of them, or those QUERY matches (the
    same caption matching a prompt gets, best matches first), with their SVG file name,
    short name, Unicode name, aliases and keywords."""
    from ..priors.captions import CaptionIndex
    from ..priors.colours import colour_name, colour_shares
    from ..priors.embedded import DEFAULT_RESOLUTION
    from ..priors.icons import IconSet, rendered_icons

    icon_set = IconSet.load()
    index = CaptionIndex(icon_set.icons)
    weights: dict[int, float] = {}
    ignored: tuple[str, ...] = ()
    colour = recoloured = None
    best = 0
    if query.strip():
        # a dropped colour word chooses by the icons' pixels, as for a prompt: the prior's
        # renders at its default size (cached; rendered once when missing)
        found = index.require(query, lambda: colour_shares(rendered_icons(icon_set, DEFAULT_RESOLUTION)[0].float() / 255))
        weights, ignored, colour = found.weights, found.ignored, found.colour
        best = len(found.primary)
        recoloured = found.missing_colour  # a colour no matched icon is: prompts recolour the best ones
        ignored = tuple(w for w in ignored if recoloured is None or colour_name(w) != recoloured)
        order = sorted(weights, key=lambda i: (-weights[i], icon_set.icons[i].name))
    else:
        order = list(range(len(icon_set)))
    rows = []
    for i in order:
        icon = icon_set.icons[i]
        row = {
            "file": icon.file,
            "emoji": icon.emoji,
            "name": icon.name,
            "unicode_names": list(icon.unicode_names),
            "aliases": list(icon.aliases),
            "keywords": list(icon.keywords),
        }
        if weights:
            row["weight"] = round(weights[i], 6)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    width = max(len(r["file"]) for r in rows)
    for r in rows:
        extra = [n for n in (*r["unicode_names"], *r["aliases"]) if n != r["name"]]
        line = f"{r['file']:<{width}}  {r['name']}"
        if extra:
            line += f"  ({'; '.join(dict.fromkeys(extra))})"
        if r["keywords"]:
            line += f"  [{', '.join(r['keywords'])}]"
        if weights:
            line += f"  p={r['weight']:.3g}"
        click.echo(line)
    what = f"match {query!r}" if query.strip() else "in the embedded prior"
    note = f" (the first {best} chosen by colour: {colour})" if colour else ""
    note += f" (none is {recoloured}: prompts recolour the first {best} {recoloured})" if recoloured else ""
    note += f" (words no icon has with the rest, ignored: {', '.join(ignored)})" if ignored else ""
    click.echo(f"{len(rows)} icon(s) {what}{note}", err=True)
