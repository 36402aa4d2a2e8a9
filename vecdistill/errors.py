"""Error types. Library code raises these; the CLI turns them into one line on stderr.

Every error a user can cause (a bad file, a bad option, a missing model) is a
:class:`VecdistillError` subclass with a message that says what is wrong and what to do.
``exit_code`` is what the CLI exits with: 2 for bad input, 1 for failures at run time.
"""

from __future__ import annotations


class VecdistillError(Exception):
    """Base class of every error vecdistill raises on purpose."""

    exit_code = 1


class InputError(VecdistillError):
    """The user's input (a file, an option, a prompt) is invalid. Exit code 2."""

    exit_code = 2


class SVGError(InputError):
    """An SVG file cannot be read (malformed XML, bad path data, zero size, limits...)."""


class UnsupportedFeatureError(SVGError):
    """The SVG uses features we do not render and ``strict=True`` was asked for."""


class ModelError(VecdistillError):
    """A diffusion model cannot be loaded or used (missing folder, offline, wrong type)."""

    exit_code = 2


class PromptError(InputError):
    """A prompt cannot be conditioned on (e.g. no caption of the embedded prior matches)."""


class OutputError(InputError):
    """An output path cannot be written (exists without --overwrite, unwritable, disk full)."""


class NumericalError(VecdistillError):
    """The optimisation diverged (non-finite loss for too many steps)."""
