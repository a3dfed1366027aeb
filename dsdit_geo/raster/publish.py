"""Putting a finished temporary file at the output path, and what may stand at that path.

- Only a regular file (or nothing) may be at an output path, even with --overwrite: a device,
  FIFO, socket or folder there is refused (writing "over" /dev/null-like nodes would silently
  turn them into regular files).
- Without overwrite the output is published without clobbering: `os.link(tmp, out)` fails when
  `out` exists, so of two runs racing for one output the loser fails and the winner's file stays.
  Where hard links are not supported the name is first claimed with an exclusive create (an
  empty file may be visible there for an instant), then replaced.
- With overwrite it is `os.replace` (atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from dsdit_geo.errors import OutputError

# os.link errors meaning "this filesystem cannot hard-link", not "the target exists".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def node_kind(path: str) -> str | None:
    """None when `path` is absent or a regular file (symlinks followed), else what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # absent, or a dangling link (replacing the link is fine)
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def check_output_node(path: str, what: str = "output") -> None:
    """OutputError when something other than a regular file stands at `path`."""
    kind = node_kind(path)
    if kind == "a folder":
        raise OutputError(f"{what} path is a folder: {path}")
    if kind is not None:
        raise OutputError(f"{what} path is {kind}, not a regular file: {path} (choose a file path)")


def publish(tmp: str, out: str, overwrite: bool, what: str = "output") -> None:
    """Move the finished file `tmp` to `out` (same folder); OutputError when `out` is not a
    regular file, or exists and `overwrite` is False (then `out` is left as it is)."""
    check_output_node(out, what)
    if overwrite:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise _appeared(out, what) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _claim(out, what)
        os.replace(tmp, out)
        return
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)


def _claim(out: str, what: str) -> None:
    """Create `out` empty and exclusively: the name is ours or OutputError."""
    try:
        os.close(os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        raise _appeared(out, what) from None


def _appeared(out: str, what: str) -> OutputError:
    return OutputError(
        f"{what} file {out} appeared while this run was writing it (another run?); it was left as it "
        "is (use --overwrite to replace it)"
    )
