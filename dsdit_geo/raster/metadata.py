"""The LR's metadata that the output keeps, and the prefix of our own (provenance) tags.

Kept as they are: band descriptions (unset stays unset), scales, offsets, units, band tags
and dataset tags (default domain). Not kept: AREA_OR_POINT (the output grid is area-based),
OVERVIEW_RESAMPLING (the output's own) and any DSDIT_GEO_* tag (an LR that is itself an
output: its provenance would be mistaken for ours).
"""

from __future__ import annotations

from dataclasses import dataclass

from rasterio.io import DatasetReader

PREFIX = "DSDIT_GEO_"
_NOT_KEPT = {"AREA_OR_POINT", "OVERVIEW_RESAMPLING"}


@dataclass(frozen=True)
class BandMetadata:
    """Per selected band (empty tuples: nothing to write) and the dataset tags."""

    descriptions: tuple[str | None, ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    units: tuple[str, ...]
    band_tags: tuple[dict[str, str], ...]
    tags: dict[str, str]


def _kept(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.upper() not in _NOT_KEPT and not k.upper().startswith(PREFIX)}


def lr_metadata(ds: DatasetReader, indexes: list[int]) -> BandMetadata:
    """The metadata of bands `indexes` (1-based) of `ds` that the output carries over."""
    scales = tuple(float(ds.scales[i - 1]) for i in indexes)
    offsets = tuple(float(ds.offsets[i - 1]) for i in indexes)
    units = tuple(ds.units[i - 1] or "" for i in indexes)
    band_tags = tuple(_kept(ds.tags(i)) for i in indexes)
    return BandMetadata(
        descriptions=tuple(ds.descriptions[i - 1] or None for i in indexes),
        scales=scales if any(s != 1.0 for s in scales) or any(o != 0.0 for o in offsets) else (),
        offsets=offsets if any(o != 0.0 for o in offsets) or any(s != 1.0 for s in scales) else (),
        units=units if any(units) else (),
        band_tags=band_tags if any(band_tags) else (),
        tags=_kept(ds.tags()),
    )


def prefixed(tags: dict[str, str]) -> dict[str, str]:
    """Our tags under DSDIT_GEO_ in upper case ('method_steps' -> 'DSDIT_GEO_METHOD_STEPS');
    keys that already carry the prefix are kept as they are."""
    return {(k if k.upper().startswith(PREFIX) else PREFIX + k.upper()): v for k, v in tags.items()}
