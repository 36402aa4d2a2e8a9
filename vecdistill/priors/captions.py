"""Caption matching: which icons of the embedded set a prompt is about.

Prompts and captions are compared as sets of normalised words: lower case, split on
anything that is not a letter or digit, plurals reduced to the singular by simple English
rules (``cats`` -> ``cat``, ``cherries`` -> ``cherry``, ``boxes`` -> ``box``), and filler
words dropped (``a``, ``the``, ``icon``, ``emoji``, ``flat``, ``vector``..., and Stable
Diffusion boilerplate: ``photo``, ``DSLR``, ``3d render``, ``4k``, ``trending on
artstation``...; see :data:`STOPWORDS`). The same normalisation is applied to both sides.

The rule (:meth:`CaptionIndex.match`), with W the prompt's words:

1. **exact**: W equals the words of the icon's short name, an alias (shortcode) or its
   Unicode name ("red heart", "heart", "heavy black heart" all name U+2764).
2. **name**: W is contained in the words of the icon's names and aliases ("cat" in
   "grinning cat").
3. **keyword**: W is contained in the words of its names, aliases and keywords
   ("kitten" -> cat face, whose keywords include "kitten").
4. **partial** (only when no icon is in tiers 1-3): the least informative word is dropped
   and tiers 1-3 are tried again, until something matches or one word is left. Words no
   caption contains go first, then by the word's role in the prompt (:func:`roles`):
   colour words (:data:`COLOURS`) of later phrases, -ing forms ("flying", "sitting"),
   other words after the first phrase (after "on", "with", "wearing"... or an -ing form),
   colour words of the first phrase (they modify the thing named), its other words, its
   head (its last word) last; the most common first by document frequency (how many icons
   have the word in their names or keywords) among equals: "a purple cat" -> "cat", "a
   pink flower" -> "flower", "a flying bird" -> "bird", "a cat sitting on a chair" ->
   "cat", "a black cat with green eyes" -> "black cat", "a cup of coffee" -> "coffee".
   ``ignored`` lists the words dropped. (Until session 15 the more common word went first, whatever its
   role, which dropped the thing named: "a flying bird" drew the flying saucer, "a sleeping
   cat" the sleeping face, "an apple on a table" the ping pong table.)
5. **colour**: a dropped colour word then chooses among the icons the rest matched, by
   their pixels (:mod:`.colours`, given as ``colours`` to :meth:`CaptionIndex.match`): the
   icons that colour names most of, and only those. Among the exact tier's icons alone when
   the rest matched exactly (they are the thing named: "a yellow star" -> star), else among
   all tiers' (broader kinds of it: "a pink flower" -> cherry blossom, lotus, hibiscus,
   tulip; "a yellow flower" -> sunflower). When none is that colour ("a purple cat", "a
   green car") the match is unchanged and the word stays in ``ignored``; the embedded prior
   then recolours the best tier's icons (:meth:`.embedded.EmbeddedPrior.encode_prompt`).

The condition gives the best non-empty tier 95 % of the probability, spread evenly over its
icons, and the icons of the lower non-empty tiers the remaining 5 %, spread evenly (so an
exact match dominates); a colour's icons share all of it. A prompt none of whose words is
in any caption matches nothing.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from ..errors import PromptError
from .colours import colour_name, icons_of_colour
from .icons import Icon

STOPWORDS = frozenset(
    """a an the of with and or in on at for to by from into its it this that is are be
    icon icons emoji emojis svg vector flat simple minimal minimalist illustration drawing
    logo style clipart clip art image picture graphic design colorful colourful cartoon
    cute nice beautiful high quality detailed wearing holding big small little
    photo photos photograph photography photorealistic realistic hyperrealistic dslr render
    rendering rendered 3d painting digital artwork artstation trending octane unreal 4k 8k
    hd uhd highly sharp focus masterpiece award winning cinematic intricate wallpaper
    concept lighting""".split()
)
# (the last four lines: Stable Diffusion prompt boilerplate; few captions hold those words,
# so partial matching kept them: "a photo of a cat" matched the camera)

# words that end a prompt's first phrase: what follows them describes the thing named
BOUNDARIES = frozenset("on in at with by from into onto under over near behind beside inside outside above below without and or wearing holding".split())
COLOURS = frozenset("red orange yellow green blue purple violet brown black white pink grey gray gold golden silver".split())
BEST_TIER_MASS = 0.95
TIERS = ("exact", "name", "keyword", "partial", "colour")

_WORD_RE = re.compile(r"[a-z0-9]+")
_KEEP_S = ("ss", "us", "is", "os")


def singular(word: str) -> str:
    """A crude English singular: enough to make "cats", "cherries", "boxes" meet "cat",
    "cherry", "box". Applied to prompts and captions alike, so its mistakes cancel."""
    if len(word) <= 3 or word.endswith(_KEEP_S):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    """Lower-case letter/digit runs of ``text``, apostrophes removed ("woman's" -> "womans")."""
    return _WORD_RE.findall(text.lower().replace("\u2019", "").replace("'", ""))


def _participle(word: str) -> bool:
    """A word that reads as an -ing form ("flying", "sitting"): describes, rarely names."""
    return len(word) > 5 and word.endswith("ing")


def roles(prompt: str) -> dict[str, int]:
    """Each normalised word of ``prompt`` (:func:`words`) with its role, the order in which
    partial matching gives words up (rule 4; the largest first): 0 the head, the last word
    of the first phrase ("a flying **bird**", "a **cat** sitting on a chair", "a cup of
    **coffee**"); 1 another word of the first phrase; 2 a colour word of the first phrase
    ("a **black** cat with green eyes"); 3 a word of a later phrase (one after "on", "in",
    "with", "wearing"...: :data:`BOUNDARIES`, or after an -ing form: "a dragon breathing
    **fire**"); 4 an -ing form ("flying", "sitting"); 5 a colour word of a later phrase
    ("green" eyes). Words no caption has go before all of these (:meth:`CaptionIndex.match`)."""
    first: list[str] = []
    later: list[str] = []
    out: dict[str, int] = {}
    phrase = first
    for token in _tokens(prompt):
        word = singular(token)
        if token in BOUNDARIES:
            if first:  # the first phrase ends at a boundary after a word
                phrase = later
            if word not in STOPWORDS:  # ("behind", "under"... are in some names: "sun behind cloud")
                out[word] = 3
            continue
        if token in STOPWORDS or word in STOPWORDS:
            continue
        if _participle(word):
            out[word] = 4
            if first:
                phrase = later
            continue
        phrase.append(word)
    for w in later:
        out.setdefault(w, 5 if w in COLOURS else 3)
    for w in first:
        out[w] = 2 if w in COLOURS else 1
    head = next((w for w in reversed(first) if w not in COLOURS), None)
    if head is not None:
        out[head] = 0
    return out


def words(text: str) -> frozenset[str]:
    """The normalised words of ``text`` (see the module docstring)."""
    return frozenset(w for w in (singular(t) for t in _tokens(text) if t not in STOPWORDS) if w not in STOPWORDS)


@dataclass(frozen=True)
class CaptionMatch:
    """What a prompt matched.

    ``tier``: the best tier's name (see the module docstring; "partial" when words were
    dropped). ``primary``: indices of the icons of that tier; ``secondary``: indices of
    lower-tier icons. ``weights``: index -> probability (sums to 1). ``captions``: the short
    names of the primary icons. ``ignored``: the prompt's words dropped to find a match
    (less a colour word that chose the icons). ``colour``: that colour (tier "colour"), or
    None."""

    tier: str
    primary: tuple[int, ...]
    secondary: tuple[int, ...]
    weights: dict[int, float]
    captions: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    colour: str | None = None

    @property
    def missing_colour(self) -> str | None:
        """The colour of the first dropped colour word when no icon was chosen by colour
        (``colour`` is None: no matched icon is that colour), which the embedded prior
        then recolours its icons to; None without one ("white" names none)."""
        if self.colour is not None:
            return None
        return next((c for c in map(colour_name, self.ignored) if c is not None), None)


class CaptionIndex:
    """Matches prompts against the captions of a list of icons."""

    def __init__(self, icons: Sequence[Icon]) -> None:
        self.icons = tuple(icons)
        self._phrases: list[set[frozenset[str]]] = []
        self._names: list[frozenset[str]] = []
        self._all: list[frozenset[str]] = []
        for icon in self.icons:
            phrases = {words(c) for c in icon.captions} - {frozenset()}
            names = frozenset().union(*phrases) if phrases else frozenset()
            keywords = frozenset().union(*(words(k) for k in icon.keywords)) if icon.keywords else frozenset()
            self._phrases.append(phrases)
            self._names.append(names)
            self._all.append(names | keywords)
        self._df = Counter(w for vocab in self._all for w in vocab)

    @property
    def vocabulary(self) -> set[str]:
        return set(self._df)

    def _drop_order(self, word: str, role: dict[str, int]) -> tuple[int, float]:
        """How readily ``word`` is dropped (the largest first): words no caption has, then
        by ``role`` (:func:`roles`), the more common first among equals."""
        if word not in self._df:
            return (6, math.inf)
        return (role.get(word, 1), self._df[word])

    def match(self, prompt: str, colours: Callable[[], Tensor] | None = None) -> CaptionMatch | None:
        """The icons ``prompt`` is about, or None if it matches nothing (see the module
        docstring for the rule). A prompt without any word (empty, or only filler words)
        matches nothing. ``colours``: a function returning the icons' colour shares
        (:func:`.colours.colour_shares`, [N, colours], called only when a colour word was
        dropped), for rule 5; None: no colour choice."""
        want = set(words(prompt))
        if not want:
            return None
        role = roles(prompt)
        ignored: list[str] = []
        while True:
            found = self._match_words(frozenset(want))
            if found is not None:
                if ignored:
                    exact = found.tier == "exact"
                    found = CaptionMatch("partial", found.primary, found.secondary, found.weights, found.captions, tuple(ignored))
                    if colours is not None:
                        found = self._by_colour(found, colours, found.primary if exact else found.primary + found.secondary)
                return found
            if len(want) == 1:
                return None
            drop = max(sorted(want), key=lambda w: self._drop_order(w, role))
            want.discard(drop)
            ignored.append(drop)

    def _by_colour(self, found: CaptionMatch, colours: Callable[[], Tensor], among: tuple[int, ...]) -> CaptionMatch:
        """Rule 5: the first dropped colour word that some icon ``among`` the matched ones
        is, those icons as the primary ones; ``found`` unchanged when there is none."""
        shares = None
        for word in found.ignored:
            colour = colour_name(word)
            if colour is None:
                continue
            shares = colours() if shares is None else shares
            chosen = icons_of_colour(shares, colour, list(among))
            if chosen:
                # only those: the colour was asked for (a share for the others, as lower
                # tiers get, let a pink tulip near the start win "a yellow flower")
                ignored = tuple(w for w in found.ignored if w != word)
                weights = {i: 1.0 / len(chosen) for i in chosen}
                return CaptionMatch("colour", tuple(chosen), (), weights, tuple(self.icons[i].name for i in chosen), ignored, colour)
        return found

    def _match_words(self, want: frozenset[str]) -> CaptionMatch | None:
        """Tiers 1-3 for the word set ``want``; None if no icon is in any of them."""
        tiers: list[list[int]] = [[], [], []]
        for i in range(len(self.icons)):
            if want in self._phrases[i]:
                tiers[0].append(i)
            elif want <= self._names[i]:
                tiers[1].append(i)
            elif want <= self._all[i]:
                tiers[2].append(i)
        non_empty = [k for k in range(3) if tiers[k]]
        if not non_empty:
            return None
        best = non_empty[0]
        primary = tiers[best]
        secondary = [i for k in non_empty[1:] for i in tiers[k]]
        mass = BEST_TIER_MASS if secondary else 1.0
        weights = {i: mass / len(primary) for i in primary}
        weights.update({i: (1 - mass) / len(secondary) for i in secondary})
        return self._result(TIERS[best], primary, secondary, weights)

    def _result(self, tier: str, primary: list[int], secondary: list[int], weights: dict[int, float]) -> CaptionMatch:
        return CaptionMatch(tier, tuple(primary), tuple(secondary), weights, tuple(self.icons[i].name for i in primary))

    def require(self, prompt: str, colours: Callable[[], Tensor] | None = None) -> CaptionMatch:
        """:meth:`match`, raising :class:`PromptError` with close captions if nothing
        matches."""
        found = self.match(prompt, colours)
        if found is None:
            close = self.suggest(prompt)
            hint = f"close captions: {', '.join(repr(c) for c in close)}; " if close else ""
            raise PromptError(
                f"no caption of the embedded icon prior matches {prompt!r}; {hint}"
                "list them with `vecdistill prior captions [QUERY]`, or pass --model for a Stable Diffusion model"
            )
        return found

    def suggest(self, prompt: str, n: int = 5) -> list[str]:
        """Up to ``n`` short names close to ``prompt`` (difflib ratio on the whole phrase,
        then on its single words against the vocabulary)."""
        names = sorted({icon.name for icon in self.icons})
        text = " ".join(sorted(words(prompt))) or prompt.lower()
        found = difflib.get_close_matches(prompt.lower().strip(), names, n=n, cutoff=0.5)
        found += [c for c in difflib.get_close_matches(text, names, n=n, cutoff=0.5) if c not in found]
        vocab = sorted(self.vocabulary)
        for word in sorted(words(prompt)) or [prompt.lower()]:
            for close in difflib.get_close_matches(word, vocab, n=2, cutoff=0.75):
                for i, icon in enumerate(self.icons):
                    if close in self._names[i] and icon.name not in found:
                        found.append(icon.name)
                        break
        return found[:n]
