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
    images = images.float()
    hue, sat, val = _hsv(images)
    drawn = (images < background).any(-3)
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
    label = torch.where(drawn, label, -1)
    counts = torch.stack([(label == k).flatten(1).sum(1) for k in range(len(NAMES))], 1).to(torch.float32)
    return counts / drawn.flatten(1).sum(1).clamp_min(1).unsqueeze(1)


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
