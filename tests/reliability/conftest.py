"""Shared pieces of the reliability tests: the embedded prior (loaded once) and short configs."""

import pytest


@pytest.fixture(scope="session")
def embedded():
    from vecdistill.priors.embedded import EmbeddedPrior

    return EmbeddedPrior()


@pytest.fixture
def run_cli(capsys, monkeypatch, embedded):
    """Run ``vecdistill ARGS`` in-process with the session's embedded prior: returns
    (exit code, stderr lines). The SIGTERM handler the CLI installs is put back after."""
    import signal

    import vecdistill.priors as priors
    from vecdistill.cli import main

    real = priors.load_prior
    monkeypatch.setattr(priors, "load_prior", lambda model=None, **kw: embedded if model is None else real(model, **kw))
    previous = signal.getsignal(signal.SIGTERM)

    def run(*args):
        capsys.readouterr()
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            signal.signal(signal.SIGTERM, previous)
        return code, capsys.readouterr().err.strip().splitlines()

    return run

