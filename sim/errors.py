"""The small exception family of hivesim.

Every error a user can cause derives from ``HivesimError``; the CLI turns it into a
one-line message and an exit code (2 for bad input) instead of a traceback. Errors about a
file take its name, line and field path as keywords and put them in front of the message,
always in the same order: ``file:line: field.path: what was expected, what was found``.
"""

__all__ = ["HivesimError", "ScenarioError", "ResultsError"]


class HivesimError(Exception):
    """Base of every error hivesim raises on purpose.

    ``str(err)`` is the one-line, user-facing message:
    ``scenarios/x.yaml:14: topology.cells.template.db.replicas: expected an integer >= 1, got 0``.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, file: str | None = None, line: int | None = None,
                 path: str | None = None):
        self.file, self.line, self.path, self.detail = file, line, path, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        field = f"{path}: " if path else ""
        # one line, always: a newline in a user's value must not split the message
        super().__init__(f"{where}{field}{message}".replace("\r", "\\r").replace("\n", "\\n"))


class ScenarioError(HivesimError, ValueError):
    """A scenario file (or a ``--set`` override, or a sweep's variants file) is not valid."""


class ResultsError(HivesimError):
    """A results directory or summary.json cannot be read or written."""
