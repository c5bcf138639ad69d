"""The small exception family of hivesim.

Every error a user can cause derives from ``HivesimError``; the CLI turns it into a
one-line message and an exit code (2 for bad input) instead of a traceback.
"""

__all__ = ["HivesimError", "ScenarioError", "ResultsError"]


class HivesimError(Exception):
    """Base of every error hivesim raises on purpose."""

    exit_code = 2


class ScenarioError(HivesimError, ValueError):
    """A scenario file (or a ``--set`` override) is not valid.

    ``str(err)`` is the one-line, user-facing message:
    ``scenarios/x.yaml:14: topology.cells.template.db.replicas: expected an integer >= 1, got 0``.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None):
        self.file, self.line, self.path, self.detail = file, line, path, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        field = f"{path}: " if path else ""
        super().__init__(f"{where}{field}{message}")


class ResultsError(HivesimError):
    """A results directory or summary.json cannot be read or written."""
