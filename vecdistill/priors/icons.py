"""The bundled, captioned icon set of the embedded prior, and its renders.

The set lives in ``vecdistill/data/icons/`` (package data, rebuilt by
``scripts/build_icon_set.py``): ``svg/*.svg`` (Twemoji, CC-BY 4.0, see ``LICENSE.md`` there)
and ``captions.json`` (CLDR short names and keywords from emojibase-data, Unicode names,
GitHub shortcodes). :func:`rendered_icons` renders every icon once with cairosvg on a white
background at a working resolution and caches the pixels in the user cache folder
(:mod:`vecdistill.cache`), keyed by the resolution and a hash of the set's contents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ..cache import cache_dir as user_cache_dir
from ..cache import load_cached, save_cached
from ..errors import InputError, ModelError
from ..icon_render import RenderError, render_many

Tensor = torch.Tensor

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Icon:
    """One icon: its SVG ``file`` name (in the set's ``svg/`` folder) and its captions.

    ``name``: the CLDR short name ("red heart"); ``unicode_names``: the character name for
    single code points ("heavy black heart"); ``keywords``: CLDR keywords; ``aliases``:
    shortcodes with spaces ("heart"); ``group``: emojibase's group number; ``sha``: the
    content hash the build script recorded for the SVG ("" = hash the file when needed)."""

    file: str
    emoji: str
    codepoints: str
    name: str
    unicode_names: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    group: int = -1
    sha: str = ""

    @property
    def captions(self) -> tuple[str, ...]:
        """The phrases that name this icon, most specific first (no duplicates)."""
        seen: dict[str, None] = {}
        for text in (self.name, *self.aliases, *self.unicode_names):
            seen.setdefault(text, None)
        return tuple(seen)


def default_icon_folder() -> Path:
    """The folder of the bundled set (``vecdistill/data/icons``)."""
    return Path(str(resources.files("vecdistill").joinpath("data", "icons")))


class IconSet:
    """An ordered, immutable list of :class:`Icon` with their SVG sources in ``folder/svg``."""

    def __init__(self, icons: Sequence[Icon], folder: str | Path) -> None:
        if not icons:
            raise InputError("an icon set needs at least one icon")
        self.icons: tuple[Icon, ...] = tuple(icons)
        self.folder = Path(folder)
        self._digest: str | None = None

    @classmethod
    def load(cls, folder: str | Path | None = None) -> IconSet:
        """Read ``captions.json`` of ``folder`` (default: the bundled set)."""
        folder = Path(folder) if folder is not None else default_icon_folder()
        manifest_path = folder / "captions.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            icons = [
                Icon(
                    file=item["file"],
                    emoji=item.get("emoji", ""),
                    codepoints=item.get("codepoints", ""),
                    name=item["name"],
                    unicode_names=tuple(item.get("unicode_names", ())),
                    keywords=tuple(item.get("keywords", ())),
                    aliases=tuple(item.get("aliases", ())),
                    group=int(item.get("group", -1)),
                    sha=str(item.get("sha", "")),
                )
                for item in manifest["icons"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"the embedded icon set at {folder} is missing or damaged ({exc}); "
                "reinstall vecdistill or rebuild it with scripts/build_icon_set.py"
            ) from None
        return cls(icons, folder)

    def __len__(self) -> int:
        return len(self.icons)

    def subset(self, keep: Iterable[str] | Callable[[Icon], bool]) -> IconSet:
        """The icons whose file name is in ``keep`` (in this set's order), or for which the
        predicate ``keep(icon)`` is true."""
        if callable(keep):
            chosen = [icon for icon in self.icons if keep(icon)]
        else:
            names = set(keep)
            unknown = names - {icon.file for icon in self.icons}
            if unknown:
                raise InputError(f"no icon file(s) {sorted(unknown)} in the icon set")
            chosen = [icon for icon in self.icons if icon.file in names]
        return IconSet(chosen, self.folder)

    def svg_path(self, icon: Icon) -> Path:
        return self.folder / "svg" / icon.file

    def svg_bytes(self, icon: Icon) -> bytes:
        try:
            return self.svg_path(icon).read_bytes()
        except OSError as exc:
            raise ModelError(f"icon {icon.file} of the embedded set cannot be read ({exc.strerror}); reinstall vecdistill") from None

    def content_hash(self, icon: Icon) -> str:
        """The first 16 hex digits of the SHA-256 of the icon's SVG, read from the file."""
        return hashlib.sha256(self.svg_bytes(icon)).hexdigest()[:16]

    def digest(self) -> str:
        """SHA-256 (hex) over the file names and content hashes, in order: the cache key.

        Uses the hashes recorded in ``captions.json`` by the build script (no file reads);
        icons without one are hashed from their files. Edit the bundled set through
        ``scripts/build_icon_set.py`` so that the recorded hashes stay true."""
        if self._digest is None:
            h = hashlib.sha256()
            for icon in self.icons:
                h.update(f"{icon.file}\0{icon.sha or self.content_hash(icon)}\0".encode())
            self._digest = h.hexdigest()
        return self._digest


def render_icons(icon_set: IconSet, size: int, workers: int | None = None) -> Tensor:
    """Render every icon of the set: uint8 [N, 3, size, size] on the CPU (in parallel
    processes for large sets, see :func:`vecdistill.icon_render.render_many`)."""
    svgs = [icon_set.svg_bytes(icon) for icon in icon_set.icons]
    try:
        pixels = render_many(svgs, size, workers)
    except RenderError as exc:
        raise ModelError(f"icon {icon_set.icons[exc.index].file} of the embedded set cannot be rendered ({exc.message}); rebuild the set") from None
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def cache_file(icon_set: IconSet, size: int, folder: str | Path | None = None) -> Path:
    """Where the renders of ``icon_set`` at ``size`` are cached."""
    base = Path(folder) if folder is not None else user_cache_dir()
    return base / f"embedded-icons-{size}px-{icon_set.digest()[:20]}.pt"


def rendered_icons(icon_set: IconSet, size: int, folder: str | Path | None = None) -> tuple[Tensor, bool]:
    """The icons rendered at ``size`` (uint8 [N, 3, size, size], CPU) and whether they came
    from the cache. A missing, corrupt or mismatching cache file is (re)built and written
    atomically; an unwritable cache folder only means nothing is saved."""
    path = cache_file(icon_set, size, folder)
    payload = load_cached(path)
    if payload is not None and _valid(payload, icon_set, size):
        return payload["pixels"], True
    pixels = render_icons(icon_set, size)
    save_cached(path, {
        "format": CACHE_FORMAT,
        "digest": icon_set.digest(),
        "size": size,
        "files": [icon.file for icon in icon_set.icons],
        "pixels": pixels,
    })
    return pixels, False


def _valid(payload: dict, icon_set: IconSet, size: int) -> bool:
    pixels = payload.get("pixels")
    return (
        payload.get("format") == CACHE_FORMAT
        and payload.get("digest") == icon_set.digest()
        and payload.get("size") == size
        and payload.get("files") == [icon.file for icon in icon_set.icons]
        and isinstance(pixels, torch.Tensor)
        and pixels.dtype == torch.uint8
        and tuple(pixels.shape) == (len(icon_set), 3, size, size)
    )
