"""Caption matching on the bundled icon set, and the `vecdistill prior captions` command."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from vecdistill.commands.prior import prior as prior_command
from vecdistill.errors import PromptError
from vecdistill.priors.captions import CaptionIndex, roles, singular, words
from vecdistill.priors.icons import IconSet, default_icon_folder


@pytest.fixture(scope="module")
def icons():
    return IconSet.load()


@pytest.fixture(scope="module")
def index(icons):
    return CaptionIndex(icons.icons)


def _files(icons, found, which="primary"):
    return sorted(icons.icons[i].file for i in getattr(found, which))


@pytest.mark.parametrize("prompt", ["red heart", "Red Heart", "red hearts", "a red heart icon", "RED-HEART!", "heavy black heart"])
def test_red_heart_is_the_red_heart_icon_alone(icons, index, prompt):
    found = index.match(prompt)
    assert found.tier == "exact"
    assert _files(icons, found) == ["2764.svg"]
    assert found.weights == {found.primary[0]: 1.0}


@pytest.mark.parametrize(("prompt", "file"), [
    ("cat face", "1f431.svg"), ("rocket", "1f680.svg"), ("sun", "2600.svg"), ("pizza", "1f355.svg"),
    ("Pizzas", "1f355.svg"), ("slice of pizza", "1f355.svg"), ("cherries", "1f352.svg"), ("boxing glove", "1f94a.svg"),
])
def test_common_prompts_find_their_icon(icons, index, prompt, file):
    assert file in _files(icons, index.match(prompt))


def test_exact_match_dominates_partial_ones(icons, index):
    found = index.match("cats")
    assert found.tier == "exact" and _files(icons, found) == ["1f408.svg", "1f431.svg"]  # "cat", "cat face" (alias "cat")
    assert found.secondary  # grinning cat, black cat...
    assert sum(found.weights[i] for i in found.primary) == pytest.approx(0.95)
    assert sum(found.weights.values()) == pytest.approx(1.0)
    assert min(found.weights[i] for i in found.primary) > 10 * max(found.weights[i] for i in found.secondary)


def test_keyword_and_partial_tiers(icons, index):
    kitten = index.match("kitten")
    assert kitten.tier == "keyword" and "1f431.svg" in _files(icons, kitten)
    partial = index.match("blue elephant")  # no blue elephant: the colour is dropped
    assert partial.tier == "partial" and _files(icons, partial) == ["1f418.svg"] and partial.ignored == ("blue",)
    cat = index.match("a purple cat")
    assert _files(icons, cat) == ["1f408.svg", "1f431.svg"] and cat.ignored == ("purple",)
    rocket = index.match("red rocket xyzzy")  # unknown words go first, then the colour
    assert _files(icons, rocket) == ["1f680.svg"] and rocket.ignored == ("xyzzy", "red")


def test_colour_words_are_dropped_before_the_thing_they_colour(icons, index):
    # "flower" is a more common word than "pink", but the colour is what goes
    flower = index.match("a pink flower")
    assert flower.tier == "partial" and flower.ignored == ("pink",)
    assert {"1f338.svg", "1f337.svg"} <= set(_files(icons, flower) + _files(icons, flower, "secondary"))  # cherry blossom, tulip
    assert flower.colour is None  # no colours given: the word stays ignored


def test_a_dropped_colour_word_chooses_among_the_matched_icons_by_their_pixels(icons, index):
    from vecdistill.priors.colours import NAMES

    files = [icon.file for icon in icons.icons]
    shares = torch.zeros(len(files), len(NAMES))
    for file in ("1f338.svg", "1f337.svg"):  # cherry blossom, tulip: made pink here
        shares[files.index(file), NAMES.index("pink")] = 1.0
    calls = []

    def colours():
        calls.append(1)
        return shares

    found = index.match("a pink flower", colours)
    assert found.tier == "colour" and found.colour == "pink" and found.ignored == ()
    assert _files(icons, found) == ["1f337.svg", "1f338.svg"]
    # only those: the other flowers get nothing (a colour was asked for)
    assert found.secondary == () and found.weights == {i: 0.5 for i in found.primary}
    # no matched icon of that colour: the match is the text's, the word ignored
    purple = index.match("a purple flower", colours)
    assert purple.tier == "partial" and purple.ignored == ("purple",) and purple.colour is None
    # the pixels are looked at only when a colour word was dropped
    calls.clear()
    assert index.match("red heart", colours).tier == "exact" and index.match("blue elephant xyzzy", colours).ignored == ("xyzzy", "blue")
    assert len(calls) == 1  # (the elephant's colour was looked up once)


def test_after_an_exact_match_the_colour_chooses_among_the_exact_icons_only(icons, index):
    from vecdistill.priors.colours import NAMES

    files = [icon.file for icon in icons.icons]
    shares = torch.zeros(len(files), len(NAMES))
    shares[files.index("1f69b.svg"), NAMES.index("green")] = 1.0  # articulated lorry (keyword "car")
    shares[files.index("1f697.svg"), NAMES.index("red")] = 1.0  # automobile: "car" names it
    green = index.match("a green car", lambda: shares)
    # not the green lorry of a lower tier: the car is left for the prior to recolour
    assert green.tier == "partial" and green.colour is None and green.ignored == ("green",)
    assert _files(icons, green) == ["1f697.svg"]
    shares[files.index("1f697.svg"), NAMES.index("green")] = 2.0
    assert _files(icons, index.match("a green car", lambda: shares)) == ["1f697.svg"]


@pytest.mark.parametrize(("prompt", "file"), [
    ("a photo of a cat", "1f408.svg"),  # (was the camera: "photo" is rarer in captions than "cat")
    ("photos of red cars", "1f697.svg"),
    ("a DSLR photo of a red car, 4k, highly detailed, trending on artstation", "1f697.svg"),
    ("a painting of a sunflower", "1f33b.svg"),
    ("a 3d render of a robot, octane, sharp focus", "1f916.svg"),
])
def test_stable_diffusion_boilerplate_is_filler(icons, index, prompt, file):
    found = index.match(prompt)
    assert found.tier == "exact" and file in _files(icons, found), (found.tier, _files(icons, found))


@pytest.mark.parametrize(("prompt", "files", "ignored"), [
    ("a flying bird", ["1f426.svg"], ("flying",)),  # (was the flying saucer)
    ("a sleeping cat", ["1f408.svg", "1f431.svg"], ("sleeping",)),  # (was the sleeping face)
    ("a cat sitting on a chair", ["1f408.svg", "1f431.svg"], ("sitting", "chair")),  # (was the chair)
    ("a dog playing with a ball", ["1f415.svg", "1f436.svg"], ("playing", "ball")),
    ("an apple on a table", ["1f34e.svg"], ("table",)),  # (was ping pong)
    ("a cat wearing sunglasses", ["1f408.svg", "1f431.svg"], ("sunglass",)),
    ("a cup of coffee", ["2615.svg"], ("cup",)),  # the head of "a cup of coffee" is the coffee
    ("a dragon breathing fire", ["1f004.svg", "1f432.svg"], ("breathing", "fire")),  # (was the fire)
])
def test_partial_matching_keeps_the_thing_named(icons, index, prompt, files, ignored):
    found = index.match(prompt)
    assert found.tier == "partial" and _files(icons, found) == files and found.ignored == ignored


def test_prompt_word_roles():
    # the largest is given up first: later colours 5, -ing forms 4, later words 3, first-phrase colours 2, modifiers 1, head 0
    assert roles("a flying bird") == {"flying": 4, "bird": 0}
    assert roles("a cat sitting on a chair") == {"cat": 0, "sitting": 4, "chair": 3}
    assert roles("a dragon breathing fire") == {"dragon": 0, "breathing": 4, "fire": 3}
    assert roles("a small red cup of hot coffee with green milk") == {"red": 2, "cup": 1, "hot": 1, "coffee": 0, "green": 5, "milk": 3}
    assert roles("sun behind a cloud") == {"sun": 0, "behind": 3, "cloud": 3}  # ("behind" is in some names)
    assert roles("on a hill, a house") == {"hill": 1, "house": 0}  # (a boundary before any word starts nothing)
    assert roles("the icon") == {}


def test_a_colour_of_a_later_phrase_goes_before_the_first_phrase_colour(icons, index):
    found = index.match("a black cat with green eyes")
    assert _files(icons, found) == ["1f408-200d-2b1b.svg"] and found.ignored == ("green", "eye")


def test_nothing_matches_gibberish_and_suggestions_are_close(index):
    assert index.match("zzzqqq") is None
    assert index.match("zzzqqq xyzzy") is None
    assert index.match("a the icon") is None  # only filler words
    assert "rocket" in index.suggest("rockt")
    with pytest.raises(PromptError, match="close captions: .*'rocket'"):
        index.require("rockt")


def test_normalisation():
    assert singular("cherries") == "cherry" and singular("boxes") == "box" and singular("cats") == "cat"
    assert singular("glass") == "glass" and singular("bus") == "bus"
    assert words("A red Heart, flat vector icon") == {"red", "heart"}


def test_icon_set_ships_with_licence_and_small_sources(icons):
    folder = default_icon_folder()
    licence = (folder / "LICENSE.md").read_text()
    assert "CC-BY 4.0" in licence and "Twitter, Inc and other contributors" in licence and "emojibase" in licence
    assert 500 <= len(icons) <= 2000
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 2_000_000
    assert all((folder / "svg" / icon.file).is_file() for icon in icons.icons)
    assert len({icon.file for icon in icons.icons}) == len(icons)


def _run(*args):
    return CliRunner().invoke(prior_command, ["captions", *args])


def test_cli_lists_matching_captions_with_file_names():
    result = _run("red heart")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("2764.svg") and "red heart" in first and "heavy black heart" in first


def test_cli_json_and_full_listing(icons):
    result = _run("pizza", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0]["file"] == "1f355.svg" and rows[0]["name"] == "pizza" and rows[0]["weight"] == 1.0
    everything = json.loads(_run("--json").stdout)
    assert len(everything) == len(icons) and {r["file"] for r in everything} == {i.file for i in icons.icons}


def test_cli_chooses_by_colour_as_prompts_do():
    result = _run("a pink flower")
    assert result.exit_code == 0, result.output
    assert "(the first 4 chosen by colour: pink)" in result.stderr and "ignored" not in result.stderr
    first_four = {line.split()[0] for line in result.stdout.splitlines()[:4]}
    assert first_four == {"1f338.svg", "1fab7.svg", "1f33a.svg", "1f337.svg"}  # cherry blossom, lotus, hibiscus, tulip


def test_cli_says_when_prompts_recolour():
    result = _run("a purple cat")
    assert result.exit_code == 0, result.output
    assert "(none is purple: prompts recolour the first 2 purple)" in result.stderr and "ignored" not in result.stderr


def test_cli_unmatched_query_is_one_line_and_exit_2(capsys):
    from vecdistill.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["prior", "captions", "rockt"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "'rocket'" in err
