"""Colour names read off icon pixels (vecdistill.priors.colours)."""

from __future__ import annotations

import pytest
import torch

from vecdistill.priors.colours import (
    MIN_SHARE,
    NAMES,
    _hsv,
    _rgb,
    colour_name,
    colour_shares,
    icons_of_colour,
    recolour,
)


def _swatch(hex_colour: str, size: int = 8) -> torch.Tensor:
    """[3, size, size] of one colour, in [0, 1]."""
    rgb = torch.tensor([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=torch.float32) / 255
    return rgb.view(3, 1, 1).expand(3, size, size).clone()


@pytest.mark.parametrize(("hex_colour", "name"), [
    ("#DD2E44", "red"), ("#F4900C", "orange"), ("#FFCC4D", "yellow"), ("#FFAC33", "yellow"),
    ("#77B255", "green"), ("#55ACEE", "blue"), ("#AA8DD8", "purple"), ("#F4ABBA", "pink"),
    ("#8B4513", "brown"), ("#292F33", "black"), ("#99AAB5", "grey"),
])
def test_the_set_palette_gets_its_names(hex_colour, name):
    # Twemoji's own fills (orange #F4900C is 34 degrees of hue, the star's #FFAC33 36, yellow #FFCC4D 43)
    shares = colour_shares(_swatch(hex_colour).unsqueeze(0))
    assert NAMES[int(shares[0].argmax())] == name and float(shares[0].max()) == 1.0


def test_shares_count_the_drawn_pixels_only():
    image = torch.ones(1, 3, 8, 8)  # white: the background the icons are rendered on
    image[0, :, :, :2] = _swatch("#DD2E44", 8)[:, :, :2]
    image[0, :, :, 2:3] = _swatch("#55ACEE", 8)[:, :, :1]
    shares = colour_shares(image)[0]
    assert shares[NAMES.index("red")] == pytest.approx(2 / 3) and shares[NAMES.index("blue")] == pytest.approx(1 / 3)
    assert float(colour_shares(torch.ones(1, 3, 4, 4)).abs().sum()) == 0.0  # nothing drawn: no shares


def test_an_icon_is_the_colour_of_most_of_its_pixels():
    shares = torch.zeros(4, len(NAMES))
    red, pink, blue = NAMES.index("red"), NAMES.index("pink"), NAMES.index("blue")
    shares[0, red] = 0.9
    shares[1, red], shares[1, pink] = 0.35, 0.4  # mostly pink
    shares[2, red], shares[2, blue] = MIN_SHARE - 0.01, 0.05  # red leads but covers too little
    shares[3, blue] = 1.0
    assert icons_of_colour(shares, "red", [3, 2, 1, 0]) == [0]
    assert icons_of_colour(shares, "pink", [0, 1]) == [1]
    assert icons_of_colour(shares, "green", [0, 1, 2, 3]) == []


def test_colour_words_and_their_synonyms():
    assert colour_name("gray") == "grey" and colour_name("gold") == "yellow" and colour_name("violet") == "purple"
    assert colour_name("white") is None  # not told from the white background
    assert colour_name("cat") is None


def _icon(fill: str) -> torch.Tensor:
    """[1, 3, 12, 12]: a square of ``fill`` with a black outline, on white."""
    image = torch.ones(1, 3, 12, 12)
    image[0, :, 2:10, 2:10] = _swatch("#292F33", 8)
    image[0, :, 3:9, 3:9] = _swatch(fill, 6)
    return image


def test_hsv_round_trip():
    rgb = torch.rand(2, 3, 5, 7)
    assert torch.allclose(_rgb(*_hsv(rgb)), rgb, atol=1e-6)


@pytest.mark.parametrize("colour", NAMES)
def test_recolouring_makes_the_main_colour_the_one_asked_for(colour):
    for fill in ("#FFCC4D", "#99AAB5"):  # a yellow cat's yellow, a grey elephant's grey
        icon = _icon(fill)
        out = recolour(icon, colour)
        assert icons_of_colour(colour_shares(out), colour, [0]) == [0], (fill, colour)
        # the outline and the background stay as they were
        ring = torch.ones(12, 12, dtype=torch.bool)
        ring[3:9, 3:9] = False
        assert torch.equal(out[0][:, ring], icon[0][:, ring])
