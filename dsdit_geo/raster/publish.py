"""Putting a finished temporary file at the output path, and what may stand at that path.

- Only a regular file (or nothing) may be at an output path, even with --overwrite: a device,
  FIFO, socket or folder there is refused (writing "over" /dev/null-like nodes would silently
  turn them into regular files).
- Without overwrite the output is published without clobbering: `os.link(tmp, out)` fails when
  `out` exists, so of two runs racing for one output the loser fails and the winner's file stays.
  Where hard links are not supported the name is first claimed with an exclusive create (an
  empty file may be visible there for an instant), then replaced.
- With overwrite it is `os.replace` (atomic on one filesystem).
- Outputs that belong together (an output and its trust map) are published one after the other;
  should a later one fail, `unpublish` takes the earlier ones back: the file this run put there
  is removed, or, with `keep_previous`, the file it replaced comes back (kept meanwhile as a
  hidden hard link beside it, `.NAME.<8 hex>.p<pid>.prev.tif`); `settle` drops that link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass

from dsdit_geo.errors import OutputError
from dsdit_geo.raster.temps import temp_name

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


@dataclass(frozen=True)
class Published:
    """What `publish` put at `path`: the file (device, inode), whether a file stood there
    before, and the hidden hard link to that file when it was kept (`keep_previous`)."""

    path: str
    node: tuple[int, int]
    replaced: bool
    previous: str | None = None


def publish(
    tmp: str, out: str, overwrite: bool, what: str = "output", *, keep_previous: bool = False
) -> Published:
    """Move the finished file `tmp` to `out` (same folder); OutputError when `out` is not a
    regular file, or exists and `overwrite` is False (then `out` is left as it is).
    `keep_previous`: a file replaced at `out` stays reachable until `settle` (hard links only:
    elsewhere it is gone, `previous` None), so that `unpublish` can bring it back."""
    check_output_node(out, what)
    info = os.lstat(tmp)
    node = (info.st_dev, info.st_ino)
    if overwrite:
        previous = _keep(out) if keep_previous else None
        replaced = previous is not None or os.path.lexists(out)
        try:
            os.replace(tmp, out)
        except BaseException:
            _drop(previous)
            raise
        return Published(out, node, replaced, previous)
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise _appeared(out, what) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _claim(out, what)
        os.replace(tmp, out)
        return Published(out, node, replaced=False)
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    return Published(out, node, replaced=False)


def unpublish(published: Published) -> bool:
    """Take back what `publish` put at its path, if it is still there: the previous file comes
    back when it was kept, else the path is left empty. False when the path could not be put
    back as it was (a replaced file that was not kept is gone). File system errors are
    swallowed (best effort)."""
    try:
        info = os.lstat(published.path)
    except OSError:
        _drop(published.previous)
        return True  # taken away by someone else: nothing of ours to take back
    if (info.st_dev, info.st_ino) != published.node:
        _drop(published.previous)
        return True  # replaced by someone else meanwhile: theirs now
    try:
        if published.previous is not None:
            os.replace(published.previous, published.path)
            return True
        os.remove(published.path)
    except OSError:
        _drop(published.previous)
        return False
    return not published.replaced


def settle(published: Published) -> None:
    """Keep what `publish` put in place: drop the hidden link to the file it replaced."""
    _drop(published.previous)


def _keep(out: str) -> str | None:
    """A hidden hard link to the file (or symlink) at `out`; None when there is none, or this
    file system cannot link."""
    folder, name = os.path.split(out)
    for _ in range(100):
        path = os.path.join(folder, temp_name(name, ".prev.tif"))
        try:
            os.link(out, path, follow_symlinks=False)
        except FileExistsError:
            continue
        except (OSError, NotImplementedError):
            return None  # nothing at `out`, or no hard links here
        return path
    return None


def _drop(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.remove(path)


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
