"""Click options shared by the commands that run an optimisation (make, edit, word, batch).

``@run_options`` adds ``--model --seed --device --dtype --steps --quiet --save-every
--video --precision --config --overwrite --checkpoint-every --resume``. :func:`build_config` turns a command's
parameters into its config dataclass: the dataclass defaults, then the TOML file given with
``--config`` (keys = the config's field names), then the flags given on the command line.
Only flags the user actually typed override the file.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path

import click

from ..errors import InputError

# (param decls, click kwargs); each maps onto the config field of the same name
SHARED_OPTIONS: list[tuple[tuple[str, ...], dict]] = [
    (("--model",), dict(default=None, metavar="ID|FOLDER", help="Diffusion model: a diffusers model id or local folder (default: the embedded icon prior, offline).")),
    (("--seed",), dict(type=int, default=0, show_default=True, help="Random seed; the same seed on the same device gives the same SVG.")),
    (("--device",), dict(default="cpu", show_default=True, help="cpu, cuda or cuda:N.")),
    (("--dtype",), dict(type=click.Choice(["float32", "float16", "bfloat16"]), default=None, help="Precision of the diffusion model (default: float32 on CPU).")),
    (("--steps",), dict(type=click.IntRange(min=0), default=None, help="Optimisation steps (default: the preset's).")),
    (("--quiet", "-q"), dict(is_flag=True, default=False, help="No progress bar.")),
    (("--save-every",), dict(type=click.IntRange(min=0), default=0, metavar="N", help="Write an SVG and PNG snapshot every N steps into OUT_snapshots/.")),
    (("--video",), dict(default=None, metavar="PATH.gif|PATH.mp4", help="Write a video of the optimisation (.mp4 needs imageio-ffmpeg).")),
    (("--precision",), dict(type=click.IntRange(min=0, max=12), default=3, show_default=True, help="Digits after the decimal point in the SVG.")),
    (("--config", "config_file"), dict(type=click.Path(dir_okay=False), default=None, metavar="FILE.toml", help="Read settings from a TOML file (keys: the config field names); flags override it.")),
    (("--overwrite",), dict(is_flag=True, default=False, help="Replace OUT (and OUT.json) if they exist.")),
    (("--checkpoint-every",), dict(type=click.IntRange(min=0), default=0, metavar="N", help="Write OUT.ckpt every N steps (and on Ctrl-C/SIGTERM) so that --resume can continue the run.")),
    (("--resume",), dict(is_flag=True, default=False, help="Continue from OUT.ckpt (same options); the result equals an uninterrupted run's.")),
]


def run_options(func: Callable) -> Callable:
    """Decorate a click command with the shared options."""
    for decls, kwargs in reversed(SHARED_OPTIONS):
        func = click.option(*decls, **kwargs)(func)
    return func


def _field_types(cls) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(name: str, value, hint):
    """Turn a TOML / CLI value into what field ``name`` of type ``hint`` holds."""
    if value is None:
        return None
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0]) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise InputError(f"{name} must be a list of {len(args)} values; got {value!r}")
        return tuple(_coerce(name, v, a) for v, a in zip(value, args if args[-1] is not Ellipsis else [args[0]] * len(value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{name} must be true or false; got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{name} must be an integer; got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{name} must be a number; got {value!r}")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise InputError(f"{name} must be a string; got {value!r}")
    return value


def read_toml(path: str | Path, cls) -> dict:
    """Settings for ``cls`` from a TOML file (top-level keys, or a table named after the
    command, e.g. ``[make]``); ``-`` in keys is read as ``_``. Unknown keys are an error."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {p} is not valid TOML: {exc}") from None
    types_ = _field_types(cls)
    flat: dict = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    out = {}
    for key, value in flat.items():
        name = key.replace("-", "_")
        if name not in types_:
            raise InputError(f"config file {p}: unknown key {key!r}; valid keys: {', '.join(sorted(types_))}")
        out[name] = _coerce(name, value, types_[name])
    return out


def build_config(cls, ctx: click.Context, params: dict, rename: dict[str, str] | None = None):
    """The config dataclass ``cls`` for a command invocation.

    ``params``: the command's keyword arguments; those that are config fields (after
    ``rename``: param name -> field name) and were given on the command line override the
    TOML file named by ``params["config_file"]``, which overrides the defaults."""
    rename = rename or {}
    types_ = _field_types(cls)
    values = read_toml(params["config_file"], cls) if params.get("config_file") else {}
    for pname, value in params.items():
        name = rename.get(pname, pname)
        if name not in types_:
            continue
        source = ctx.get_parameter_source(pname)
        if source is not None and source.name == "DEFAULT" and name in values:
            continue
        if source is not None and source.name == "DEFAULT" and value is None:
            continue
        values[name] = _coerce(name, list(value) if isinstance(value, tuple) else value, types_[name])
    return cls(**values)


def describe_prompt_match(info: dict | None) -> str | None:
    """What a prior's prompt ``info`` says it matched (the embedded prior's captions), as
    text; None when the prior reports nothing (e.g. Stable Diffusion)."""
    if not isinstance(info, dict) or not info.get("matched"):
        return None
    text = ", ".join(info["matched"][:6]) + (" ..." if len(info["matched"]) > 6 else "")
    if info.get("tier") == "recoloured":
        text += f" (recoloured {info['colour']}: no such icon)"
    elif info.get("colour"):
        text += f" (chosen by colour: {info['colour']})"
    if info.get("ignored_words"):
        text += f" (ignored: {' '.join(info['ignored_words'])})"
    return text


def print_prompt_matches(manifest: dict) -> None:
    """One line on stderr per prompt: which captions of the embedded prior it matched."""
    info = manifest.get("prompt_info")
    named = info.items() if isinstance(info, dict) and "matched" not in info else [("prompt", info)]
    for name, one in named:
        text = describe_prompt_match(one)
        if text:
            click.echo(f"{name} matched: {text}", err=True)


def print_summary(out: str, manifest: dict) -> None:
    """One line on stdout about a finished run (and, on stderr, the captions the prompts
    matched when the prior reports them)."""
    print_prompt_matches(manifest)
    t = manifest.get("timings", {})
    loss = manifest.get("final_loss")
    loss_s = f"{loss:.4g}" if isinstance(loss, (int, float)) else "n/a"
    click.echo(f"wrote {out} ({manifest.get('path_count')} paths, {manifest.get('steps_done')} steps in {t.get('wall_s', 0):.1f} s, final loss {loss_s}); manifest {Path(out).with_suffix('.json')}")
