"""Domain errors. Each carries a one-line, user-facing message.

The CLI maps every `DsditGeoError` to `Error: <message>` on stderr and exit code `exit_code`;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DsditGeoError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    @property
    def message(self) -> str:
        return str(self)


class InputError(DsditGeoError):
    """An input file is missing, unreadable, not a raster, or lacks CRS / transform."""


class GeometryError(DsditGeoError):
    """Footprints do not overlap, or a requested grid / extent / resolution makes no sense."""


class BandError(DsditGeoError):
    """Band selections out of range or not matching between LR and Ref."""


class OutputError(DsditGeoError):
    """The output exists (without --overwrite), or its folder is missing or not writable."""


class OptionError(DsditGeoError):
    """An option value is invalid (tile size, overlap, steps, method ...)."""


class ModelError(DsditGeoError):
    """Model weights missing, unreadable, or incompatible with the request."""


class TrustMapError(OptionError, ModelError):
    """--trust-map with a method or model that gives no trust map (an option and a model problem)."""


class ManifestError(DsditGeoError):
    """A batch manifest or pairing rule is malformed."""
