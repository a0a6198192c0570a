"""``llp-gap-reco``: one console script, one implementation module per subcommand.

The parsers live in :mod:`.parsers` (no heavy imports); after parsing, only the chosen
subcommand's module is imported and its ``run(args) -> int`` called. A user's mistake
(:data:`.errors.USER_ERRORS`) is reported as one line ``llp-gap-reco COMMAND: error: MESSAGE``
on stderr with exit status 2; ``--debug`` adds the traceback. Any other exception propagates
with its traceback (exit status 1).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Optional, Sequence

from .errors import USER_ERRORS
from .parsers import SUBCOMMANDS, build_parser, print_error

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit status."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        module = importlib.import_module(f".{args.module}", __package__)
        return int(module.run(args) or 0)
    except USER_ERRORS as err:
        if args.debug:
            traceback.print_exc()
        print_error(args.command, _message(err))
        return 2


def _message(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
