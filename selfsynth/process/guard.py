"""A stage's processes live and die together, compute on a fixed number of threads, and end with one line.

Why: a worker forked by a stage used to outlive it (kill -9 of the stage left workers writing
models 15 s later), the thread count followed the core count (different weights alone and in
the pool), and every failure printed its traceback twice, then "finished in N s".
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from ..core.errors import InputError

log = logging.getLogger("stage")

PR_SET_PDEATHSIG = 1
_state = {"failed": None, "started": time.perf_counter(), "parent": None}


class StageGone(RuntimeError):
    """The process that started this one has exited: nothing may be written on its behalf."""


def limit_threads(threads: int) -> None:
    """The same thread count in every computing process, so one seed gives one set of bytes
    whatever the core count (a different count changes the order of float reductions)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before the first parallel op; intra-op threads are what matter
        pass


def die_with_parent(parent: int) -> None:
    """Linux: the kernel sends SIGKILL to this process when its parent exits, kill -9 included."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    _state["parent"] = parent
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"}


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def dvc_ancestor(pid: int) -> int | None:
    """The dvc process that started this stage: `pid` itself, or the dvc above the shell that dvc
    runs commands in ($SHELL, else /bin/sh; dash stays in between, bash execs the command).
    None for an orphan, which the kernel hands to init or a subreaper, never to dvc or its shell."""
    for _ in range(3):
        try:
            argv = _cmdline(pid)
            if any("dvc" in part for part in argv[:2]):
                return pid
            if os.path.basename(argv[0]).lstrip("-") not in SHELLS:
                return None
            pid = _ppid(pid)
        except (OSError, ValueError, IndexError):  # gone meanwhile, or no /proc to tell by
            return None
    return None


def _watch(shell: int, dvc: int) -> None:
    """A shell between dvc and the stage outlives a killed dvc: follow dvc itself and die with it."""
    import threading

    def watch():
        while dvc_ancestor(shell) == dvc:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # workers follow (PR_SET_PDEATHSIG)

    threading.Thread(target=watch, name="dvc-watch", daemon=True).start()


def ensure_parent_alive() -> None:
    """Call before any write a worker makes: a worker whose stage is gone writes nothing."""
    parent = _state["parent"]
    if parent is not None and os.getppid() != parent:
        raise StageGone(f"stage process {parent} is gone; not writing")


def init_worker(parent: int, threads: int) -> None:
    """Pool initializer: die with the stage, leave Ctrl-C to the stage (which cancels the queue),
    compute on the stage's thread count."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit_threads(threads)


def _stage_name() -> str:
    return " ".join([os.path.basename(sys.argv[0]).removesuffix(".py").removesuffix("__main__") or "stage",
                     *sys.argv[1:]]).strip()


def _interrupted(signum, _frame):
    _state["signal"] = signum
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


def _cause(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def _excepthook(kind, exc, tb):
    """One line saying it failed and why; before it, one traceback (the worker's, when the error
    came from one) — none for an interrupt or a bad input, which the line names already."""
    code = 128 + _state.get("signal", signal.SIGINT) if issubclass(kind, KeyboardInterrupt) else 1
    remote = exc.__cause__ if type(exc.__cause__).__name__ == "_RemoteTraceback" else None
    if issubclass(kind, InputError):
        pass
    elif remote is not None:  # the worker's traceback, not the pool plumbing that carried it back
        sys.stderr.write(str(remote).strip() + "\n")
    elif not issubclass(kind, KeyboardInterrupt):
        traceback.print_exception(kind, exc, tb)
    _state["failed"] = code
    log.error("%s FAILED (exit %d) after %.1f s: %s", _stage_name(), code,
              time.perf_counter() - _state["started"], _cause(exc))
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)  # no "finished" line, no second report from atexit hooks of half-done work


def add_figures(text: str) -> None:
    """Key figures for the stage's finishing line (stages.summarize)."""
    _state.setdefault("figures", []).append(text)


def _finished():
    if _state["failed"] is None:
        figures = _state.get("figures")
        log.info("%s finished in %.1f s%s", _stage_name(), time.perf_counter() - _state["started"],
                 f": {'; '.join(figures)}" if figures else "")


def install() -> None:
    """Called when a stage starts: SIGTERM behaves like Ctrl-C (the queue is cancelled, workers
    killed, open MLflow runs end as failed), and the stage ends with one line either way."""
    import atexit

    if os.environ.get("DVC_STAGE"):  # run by `dvc repro`: a killed dvc takes the stage (and so its workers) along
        parent = os.getppid()
        die_with_parent(parent)
        if Path("/proc/self").exists():
            dvc = dvc_ancestor(parent)
            if dvc is None:  # dvc died before prctl above: this stage already is an orphan
                log.error("stage %s: the dvc that started it is gone; stopping before any work",
                          os.environ["DVC_STAGE"])
                os._exit(1)
            if dvc != parent:
                _watch(parent, dvc)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    sys.excepthook = _excepthook
    atexit.register(_finished)
