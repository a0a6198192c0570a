"""User errors of the command line: what the user gave cannot be used as given.

:class:`UserError` is raised by the subcommands for such mistakes; :data:`USER_ERRORS` adds the
package's own error types that describe input (``core.errors.InputError``: bundle, dataset
format, YAML files) and the file-system errors about paths the user named. ``main`` reports any
of them as one line ``llp-gap-reco COMMAND: error: MESSAGE`` with exit status 2; every other
exception keeps its traceback (exit status 1).
"""

from __future__ import annotations

from ..core.errors import InputError


class UserError(Exception):
    """A mistake in what the user gave a subcommand; the message says what is wrong and what to
    do about it."""


#: exceptions reported as a user's mistake (one line, exit status 2)
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    InputError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
