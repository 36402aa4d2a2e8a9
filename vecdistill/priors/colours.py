"""Colour names of the embedded icons, read off their pixels.

A prompt's colour word often names no caption ("a pink flower": no icon is called that), so
caption matching drops it (:mod:`.captions`); these tables let it still choose among the
icons the rest of the prompt matched: those whose pixels are mostly that colour.

Each pixel an icon draws (not the white background it is rendered on) gets one name from its
hue, saturation and value (HSV): black (value below 0.25) and grey (saturation below 0.25;
"gray", "silver" too) when it has little colour, else by hue: red, orange (15-35 degrees),
yellow (35-70; "gold", "golden"), green (70-170), blue (170-255), purple (255-290; "violet"),
pink (290-345, and light, weakly saturated reds), and brown for dark oranges and reds. The
bins follow the palette of the bundled Twemoji set, whose orange and yellows sit close: its
orange #F4900C is 34 degrees of hue, its star's and sunflower's #FFAC33 36, its yellow
#FFCC4D 43. White cannot be told from the background, so "white" selects nothing.
An icon *is* a colour when that colour names the largest share of its drawn pixels and at
least :data:`MIN_SHARE` of them.

When no matched icon is the colour asked for, :func:`recolour` makes one: the pixels of an
icon's main colour (and its shading) take the colour asked for, the rest stays.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "grey")
SYNONYMS = {"gray": "grey", "silver": "grey", "gold": "yellow", "golden": "yellow", "violet": "purple"}
MIN_SHARE = 0.3
_HUES = ((0.0, 15.0, "red"), (15.0, 35.0, "orange"), (35.0, 70.0, "yellow"), (70.0, 170.0, "green"),
         (170.0, 255.0, "blue"), (255.0, 290.0, "purple"), (290.0, 345.0, "pink"), (345.0, 360.5, "red"))


def colour_name(word: str) -> str | None:
    """The colour of :data:`NAMES` that ``word`` (a normalised prompt word) names, or None."""
    word = SYNONYMS.get(word, word)
    return word if word in NAMES else None


def _hsv(rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Hue in degrees [0, 360), saturation and value in [0, 1] of ``rgb`` [..., 3, H, W]."""
    r, g, b = rgb.unbind(-3)
    high, low = rgb.amax(-3), rgb.amin(-3)
    span = high - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    hue = torch.where(high == r, ((g - b) / safe) % 6, torch.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(span > 0, hue * 60, torch.zeros_like(hue))
    sat = torch.where(high > 0, span / torch.where(high > 0, high, torch.ones_like(high)), torch.zeros_like(high))
    return hue, sat, high


def colour_shares(images: Tensor, background: float = 0.96) -> Tensor:
    """[N, len(NAMES)]: for each icon of ``images`` [N, 3, H, W] (values in [0, 1], rendered
    on white), the share of its drawn pixels (any channel below ``background``) that each
    colour of :data:`NAMES` names (see the module docstring); rows of an icon that draws
    nothing are zero."""
    return _shares(*_analyse(images, background)[3:])


def _analyse(images: Tensor, background: float) -> tuple[Tensor, ...]:
    """``(hue, sat, val, drawn, label)`` of ``images`` [N, 3, H, W]: HSV, which pixels are
    drawn, and each pixel's colour (:func:`_labels`), all [N, H, W]."""
    hue, sat, val = _hsv(images.float())
    drawn = (images < background).any(-3)
    return hue, sat, val, drawn, _labels(hue, sat, val, drawn)


def _shares(drawn: Tensor, label: Tensor) -> Tensor:
    """[N, len(NAMES)] each colour's share of the drawn pixels, from :func:`_analyse`."""
    counts = torch.stack([(label == k).flatten(1).sum(1) for k in range(len(NAMES))], 1).to(torch.float32)
    return counts / drawn.flatten(1).sum(1).clamp_min(1).unsqueeze(1)


def _labels(hue: Tensor, sat: Tensor, val: Tensor, drawn: Tensor) -> Tensor:
    """Each pixel's colour, an index into :data:`NAMES` (-1 where nothing is drawn)."""
    coloured = sat >= 0.25
    label = torch.full(hue.shape, -1, dtype=torch.long)
    for lo, hi, name in _HUES:
        label = torch.where(coloured & (hue >= lo) & (hue < hi), NAMES.index(name), label)
    red, orange, yellow = NAMES.index("red"), NAMES.index("orange"), NAMES.index("yellow")
    dark_warm = (val < 0.65) & ((label == orange) | ((label == red) & (sat < 0.8)) | ((label == yellow) & (val < 0.5)))
    label = torch.where(coloured & dark_warm, NAMES.index("brown"), label)
    label = torch.where(coloured & (label == red) & (sat < 0.55) & (val > 0.75), NAMES.index("pink"), label)
    label = torch.where(~coloured & (val < 0.25), NAMES.index("black"), label)
    label = torch.where(~coloured & (val >= 0.25), NAMES.index("grey"), label)
    return torch.where(drawn, label, -1)


def icons_of_colour(shares: Tensor, colour: str, candidates: list[int]) -> list[int]:
    """The ``candidates`` (icon indices into ``shares``, :func:`colour_shares`) that are
    ``colour`` (a name of :data:`NAMES`): it names the largest share of their drawn pixels,
    and at least :data:`MIN_SHARE`. In the candidates' order."""
    k = NAMES.index(colour)
    if not candidates:
        return []
    rows = shares[torch.tensor(candidates)]
    keep = (rows.argmax(1) == k) & (rows[:, k] >= MIN_SHARE)
    return [i for i, ok in zip(candidates, keep.tolist()) if ok]


_TARGET_HUE = {"red": 355.0, "orange": 25.0, "yellow": 45.0, "green": 110.0, "blue": 210.0, "purple": 272.0, "pink": 330.0, "brown": 22.0}


def _rgb(hue: Tensor, sat: Tensor, val: Tensor) -> Tensor:
    """HSV (hue in degrees) -> RGB [..., 3, H, W] in [0, 1]."""
    h = (hue % 360) / 60
    c = val * sat
    x = c * (1 - ((h % 2) - 1).abs())
    zero = torch.zeros_like(c)
    sector = h.floor().long().clamp(0, 5)
    choices = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
    r, g, b = (sum(torch.where(sector == k, choice[j], zero) for k, choice in enumerate(choices)) for j in range(3))
    return torch.stack([r, g, b], -3) + (val - c).unsqueeze(-3)


def recolour(images: Tensor, colour: str, background: float = 0.96) -> Tensor:
    """``images`` [K, 3, H, W] (values in [0, 1], rendered on white) with each icon's main
    colour made ``colour`` (a name of :data:`NAMES`): the pixels of the colour that names the
    largest share of its drawn pixels (:func:`colour_shares`; a grey elephant's grey, a
    yellow cat's yellow), and the coloured pixels within 20 degrees of their mean hue (its
    shading), take the target's hue with at least half saturation (pink: lighter and
    paler, brown: darker), keeping their lightness, or are desaturated (grey) or darkened
    (black). Other pixels (outlines, eyes, details of other colours) are kept. Returns a new
    tensor."""
    images = images.float()
    hue, sat, val, drawn, label = _analyse(images, background)
    main = _shares(drawn, label).argmax(1)
    select = label == main.view(-1, 1, 1)
    # the main colour's mean hue (circular), and the coloured pixels near it
    rad = torch.deg2rad(hue)
    weight = select.float()
    mean = torch.rad2deg(torch.atan2((rad.sin() * weight).sum((1, 2)), (rad.cos() * weight).sum((1, 2)))) % 360
    near = (((hue - mean.view(-1, 1, 1) + 180) % 360) - 180).abs() <= 20
    select = drawn & (select | (near & (sat >= 0.25) & (main.view(-1, 1, 1) < NAMES.index("black"))))
    if colour in _TARGET_HUE:
        new_hue = torch.full_like(hue, _TARGET_HUE[colour])
        new_sat = sat.clamp_min(0.5)
        new_val = val
        if colour == "pink":
            new_sat, new_val = sat.clamp(0.3, 0.45), val.clamp_min(0.9)
        elif colour == "brown":
            new_sat, new_val = sat.clamp_min(0.55), val.clamp_max(0.55)
    elif colour == "grey":
        new_hue, new_sat, new_val = hue, torch.full_like(sat, 0.08), val.clamp(0.35, 0.8)
    else:  # black
        new_hue, new_sat, new_val = hue, sat * 0.3, val.clamp_max(0.18)
    out = _rgb(torch.where(select, new_hue, hue), torch.where(select, new_sat, sat), torch.where(select, new_val, val))
    return torch.where(select.unsqueeze(-3), out, images).clamp(0, 1)
