"""The ``vecdistill`` command line: a click group whose commands live in
:mod:`vecdistill.commands` (one module each, thin: parse, call a pipeline, print).

Commands are imported only when invoked, so ``vecdistill --help`` does not import torch.
Every :class:`~vecdistill.errors.VecdistillError` becomes one line on stderr and its exit
code (2 for bad input); a Ctrl-C exits with 130 (SIGTERM: 143) after the command has
saved what it can.
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> (module under vecdistill.commands, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "make": ("make", "make", "Text to SVG by score distillation (SDS, SDI, VSD)."),
    "edit": ("edit", "edit", "Edit an SVG toward a target prompt (PDS, DDS, SDS)."),
    "word": ("word", "word", "Deform letters of a word toward a concept (Word-As-Image)."),
    "render": ("svgtools", "render", "Render an SVG to PNG."),
    "info": ("svgtools", "info", "Describe an SVG: size, paths, segments, colours, dropped features."),
    "toy": ("toy", "toy", "The 2D study of SDS, DDS and PDS with exact scores."),
    "prior": ("prior", "prior", "Inspect the embedded prior (captions)."),
    "nerf": ("nerf", "nerf", "Text to 3D and 3D editing with a NeRF."),
    "batch": ("batch", "batch", "Run many jobs (prompts x seeds, SVGs to edit), locally or on Ray."),
    "doctor": ("doctor", "doctor", "Report versions, devices, backends and whether the embedded prior loads."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        module = importlib.import_module(f"vecdistill.commands.{module_name}")
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vecdistill")
def cli() -> None:
    """Make and edit vector graphics by distilling image diffusion models."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the group, turn our errors into one line."""
    from . import signals
    from .errors import VecdistillError
    from .signals import interrupt_exit_code, sigterm_as_interrupt

    sigterm_as_interrupt()  # `kill` takes Ctrl-C's path: best-so-far and checkpoint written
    signals.on_hold = lambda: click.echo("interrupt: finishing the current step first (press Ctrl-C again to stop at once, without saving it)", err=True)
    if sys.stderr.isatty():  # a first use compiles the CPU kernels for seconds: say so at a terminal
        from .raster import jit

        jit.notice = lambda line: click.echo(f"vecdistill: {line}", err=True)
    try:
        cli.main(args=argv, prog_name="vecdistill", standalone_mode=False)
    except VecdistillError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(interrupt_exit_code())
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(interrupt_exit_code())
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(f"try '{exc.ctx.command_path} --help'", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
