"""SIGTERM raises KeyboardInterrupt once the CLI's handler is installed, and the CLI's exit
code says which signal it was (143 for SIGTERM, 130 for Ctrl-C)."""

import os
import signal
import time

import pytest

import vecdistill.signals as signals


@pytest.fixture
def restore_sigterm(monkeypatch):
    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(signals, "_received", [])
    yield
    signal.signal(signal.SIGTERM, previous)


def test_without_a_signal_the_interrupt_is_ctrl_c(restore_sigterm):
    assert signals.interrupt_exit_code() == 130


def test_sigterm_becomes_keyboard_interrupt_with_exit_143(restore_sigterm):
    assert signals.sigterm_as_interrupt()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs here, in the main thread
        raise AssertionError("SIGTERM was not turned into KeyboardInterrupt")
    assert signals.interrupt_exit_code() == 143


def test_the_cli_exits_143_on_sigterm(restore_sigterm, capsys, monkeypatch):
    """`main` installs the handler; a SIGTERM while a command runs exits 143 after 'interrupted'."""
    import vecdistill.svg.parse as parse
    from vecdistill.cli import main

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    monkeypatch.setattr(parse, "load_svg", killed)
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "x.svg"])
    assert exit_info.value.code == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted"


def test_held_raises_at_the_end_of_the_block_and_a_second_signal_at_once(restore_sigterm, monkeypatch):
    reached = []
    monkeypatch.setattr(signals, "on_hold", lambda: reached.append("told"))
    with pytest.raises(KeyboardInterrupt):
        with signals.held():
            signal.raise_signal(signal.SIGINT)
            reached.append("rest of the block")
    assert reached == ["told", "rest of the block"]  # the command line's "finishing the current step" line
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert signals.interrupt_exit_code() == 130

    signals.sigterm_as_interrupt()
    with pytest.raises(KeyboardInterrupt):
        with signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            reached.append("held")
            signal.raise_signal(signal.SIGINT)  # the second: raised here
            reached.append("not reached")
    assert reached[-1] == "held" and signals.interrupt_exit_code() == 143
    assert signal.getsignal(signal.SIGTERM) is signals._handler


def test_held_leaves_other_handlers_alone(restore_sigterm):
    seen = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    with signals.held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    assert seen == [signal.SIGTERM]  # the user's handler ran, nothing was held or raised
