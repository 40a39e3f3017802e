"""Command-line tools: ``tenantapp-admin`` and ``tenantapp-worker``, which answer a failure in
one line on stderr and exit status 1, never with a traceback."""

import logging
import sys

from pyramid.exceptions import ConfigurationError
from pyramid.paster import setup_logging
from sqlalchemy.exc import SQLAlchemyError

from ..errors import database_unavailable

log = logging.getLogger(__name__)


def one_line_errors(prog: str, run, expected: tuple[type[Exception], ...] = ()) -> int:
    """``run()``'s exit status; a failure is one line on stderr (the traceback goes to the debug
    log). ``expected`` errors are told by their message alone."""
    try:
        return run()
    except (ConfigurationError, *expected) as error:
        return fail(prog, str(error))
    except FileNotFoundError as error:
        return fail(prog, f"no such file: {error.filename}")
    except SQLAlchemyError as error:
        detail = first_line(getattr(error, "orig", None) or error)
        if database_unavailable(error):
            return fail(prog, f"cannot reach the database: {detail}")
        return fail(prog, f"database error: {detail}")
    except Exception as error:  # anything else: still one line
        log.debug("%s failed", prog, exc_info=True)
        return fail(prog, f"{type(error).__name__}: {first_line(error)}")


def setup_quiet_logging(config_uri: str, verbose: bool) -> None:
    """The ini's logging, but a command says what it did itself: below WARNING, nothing is
    logged unless ``--verbose`` (a development ini logs INFO, which would bury the output)."""
    setup_logging(config_uri)
    logging.disable(logging.NOTSET if verbose else logging.INFO)


def first_line(error: object) -> str:
    return next(iter(str(error).strip().splitlines()), "")


def fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 1
