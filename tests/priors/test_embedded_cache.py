"""The embedded prior's render cache: reuse, corruption, keys, location."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from embedded_helpers import small_icon_set

from vecdistill.cache import cache_dir
from vecdistill.errors import ModelError
from vecdistill.icon_render import RenderError, render_many
from vecdistill.priors.embedded import EmbeddedPrior
from vecdistill.priors.icons import IconSet, cache_file


def _build(folder, resolution=16, icon_set=None):
    start = time.perf_counter()
    prior = EmbeddedPrior(resolution=resolution, cache_dir=folder, icon_set=icon_set or small_icon_set())
    return prior, time.perf_counter() - start


def test_second_construction_loads_identical_renders_from_cache(tmp_path):
    icons = IconSet.load().subset(lambda icon: icon.group == 4)  # food & drink, ~100 icons
    first, t_first = _build(tmp_path, 16, icons)
    assert not first.loaded_from_cache and first.cache_path.is_file()
    second, t_second = _build(tmp_path, 16, icons)
    assert second.loaded_from_cache
    assert torch.equal(first.all_icons(), second.all_icons())
    assert t_second < t_first
    # no temporary files left beside the cache
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]


def test_corrupt_or_truncated_cache_is_rebuilt(tmp_path):
    good, _ = _build(tmp_path)
    reference = good.all_icons()
    path = good.cache_path
    data = path.read_bytes()
    for damaged in (b"not a torch file", data[: len(data) // 2]):
        path.write_bytes(damaged)
        rebuilt, _ = _build(tmp_path)
        assert not rebuilt.loaded_from_cache
        assert torch.equal(rebuilt.all_icons(), reference)
        assert _build(tmp_path)[0].loaded_from_cache  # and the file is good again


def test_cache_with_wrong_contents_is_rebuilt(tmp_path):
    """A readable file whose pixels do not fit (e.g. written by another version) is not used."""
    good, _ = _build(tmp_path)
    torch.save({"format": 1, "digest": "x", "size": 16, "files": [], "pixels": torch.zeros(1)}, good.cache_path)
    again, _ = _build(tmp_path)
    assert not again.loaded_from_cache
    assert torch.equal(again.all_icons(), good.all_icons())


def test_cache_key_has_resolution_and_icon_set(tmp_path):
    icons = small_icon_set()
    fewer = icons.subset(["2764.svg", "1f680.svg"])
    paths = {cache_file(icons, 16, tmp_path), cache_file(icons, 24, tmp_path), cache_file(fewer, 16, tmp_path)}
    assert len(paths) == 3
    a, _ = _build(tmp_path, 16, icons)
    b, _ = _build(tmp_path, 24, icons)
    assert not b.loaded_from_cache and b.all_icons().shape[-1] == 24 and a.cache_path != b.cache_path


def test_recorded_hashes_match_the_bundled_files():
    icons = IconSet.load()
    assert all(icon.sha == icons.content_hash(icon) for icon in icons.icons)


def test_edited_icon_changes_the_key(tmp_path):
    """For icons without a recorded hash the key follows the file contents."""
    folder = tmp_path / "icons"
    (folder / "svg").mkdir(parents=True)
    base = IconSet.load().subset(["2764.svg", "1f680.svg"])
    for icon in base.icons:
        (folder / "svg" / icon.file).write_bytes(base.svg_bytes(icon))
    icons = [dataclasses.replace(icon, sha="") for icon in base.icons]
    before = cache_file(IconSet(icons, folder), 16, tmp_path)
    assert before == cache_file(base, 16, tmp_path)  # same contents, same key
    heart = folder / "svg" / "2764.svg"
    heart.write_text(heart.read_text().replace("#DD2E44", "#0000FF"))
    assert cache_file(IconSet(icons, folder), 16, tmp_path) != before


def test_unwritable_cache_folder_still_works(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    prior, _ = _build(blocker / "sub")
    assert not prior.loaded_from_cache
    assert prior.all_icons().shape[0] == len(small_icon_set())


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VECDISTILL_CACHE_DIR", str(tmp_path / "v"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "v"
    monkeypatch.delenv("VECDISTILL_CACHE_DIR")
    assert cache_dir() == tmp_path / "x" / "vecdistill"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "vecdistill"
    monkeypatch.setenv("VECDISTILL_CACHE_DIR", str(tmp_path / "v"))
    prior = EmbeddedPrior(resolution=8, icon_set=small_icon_set())
    assert prior.cache_path.parent == tmp_path / "v" and prior.cache_path.is_file()


@pytest.mark.slow
def test_parallel_rendering_equals_serial():
    icons = IconSet.load().subset(lambda icon: icon.group == 4)
    svgs = [icons.svg_bytes(icon) for icon in icons.icons]
    serial = render_many(svgs, 8, workers=1)
    assert serial.shape == (len(svgs), 8, 8, 3) and serial.dtype == np.uint8
    assert np.array_equal(render_many(svgs, 8, workers=2), serial)


def test_bad_icon_is_reported_by_index():
    svgs = [small_icon_set().svg_bytes(icon) for icon in small_icon_set().icons[:2]]
    with pytest.raises(RenderError) as info:
        render_many([svgs[0], b"<svg><path d='M 0 0 L'", svgs[1]], 8, workers=1)
    assert info.value.index == 1


def test_missing_or_broken_icon_set_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing or damaged"):
        IconSet.load(tmp_path)
    folder = tmp_path / "icons"
    (folder / "svg").mkdir(parents=True)
    base = small_icon_set()
    for icon in base.icons:
        (folder / "svg" / icon.file).write_bytes(base.svg_bytes(icon))
    (folder / "svg" / "1f680.svg").write_text("<svg><path d='M 0 0 L'")
    broken = IconSet([dataclasses.replace(icon, sha="") for icon in base.icons], folder)
    with pytest.raises(ModelError, match="1f680.svg"):
        EmbeddedPrior(resolution=8, cache_dir=tmp_path / "cache", icon_set=broken)
