"""Map domain errors to one-line messages and exit codes; nothing else lives here."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from dsdit_geo.errors import DsditGeoError
from dsdit_geo.signals import TERMINATED_EXIT_CODE, Terminated, sigterm_as_interrupt

INTERRUPTED_EXIT_CODE = 130


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn DsditGeoError into `Error: ...` on stderr + its exit code, Ctrl-C into exit 130 and
    SIGTERM (raised as Terminated, a KeyboardInterrupt, so the same clean-up runs) into 143.

    Library code cleans up its temporary files itself (try/finally) before the error gets here.
    """
    try:
        with sigterm_as_interrupt():
            yield
    except DsditGeoError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    except Terminated:
        print("Terminated.", file=sys.stderr)
        raise typer.Exit(TERMINATED_EXIT_CODE) from None
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
