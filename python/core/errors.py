"""The base of the package's errors about input that cannot be used as given."""

from __future__ import annotations


class InputError(ValueError):
    """A file, folder or value given to the package that it cannot use; the message names it and
    says what is wrong. The command line reports these as one line (exit status 2)."""
