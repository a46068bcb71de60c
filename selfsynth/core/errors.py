"""Errors that name a bad input — a params key, a file, a folder, an endpoint — and so are the
user's to fix: a stage reports them in its one FAILED line, without a traceback (selfsynth.process.guard).
Anything else is a bug and keeps its traceback."""


class InputError(Exception):
    """Mixed into each module's own error class (ParamsError, DatasetError, ...)."""
