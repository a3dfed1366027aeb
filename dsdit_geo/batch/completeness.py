"""Is an item's output already done? Decides what a resumed batch skips.

An output counts as complete when, in this order (cheapest first):
1. it is a file;
2. its TIFF headers are readable and every block of every image directory (full resolution,
   mask, overviews) lies inside the file (`tiff_layout.check_layout`): truncation anywhere past
   the headers fails here, without decoding;
3. rasterio opens it and its tags carry this version (`DSDIT_GEO_VERSION`) and this item's key
   (`DSDIT_GEO_BATCH_KEY`: a hash of the LR and Ref paths and every option that changes the
   result), so a changed option set or another input pair is redone;
4. pixels decode: `quick` reads the last block of the full-resolution image, its mask and each
   overview; `full` reads every block of every level and recomputes the pixel checksums the
   writer put in the tags (raster/verify.py), so bytes changed inside a compressed block that
   still decodes are caught too. Truncation, the common damage, is caught by step 2 either way.
The trust map, when the item asks for one, must pass the same test. Hidden temporary files are
never outputs (`upscale_file` renames a COG into place only once it is complete), so an
incomplete output can only come from outside damage or an older version / other options.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from dsdit_geo import __version__
from dsdit_geo.batch.tiff_layout import LayoutError, check_layout
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.raster.verify import VerifyError, checksum_mismatch, has_checksum

KEY_TAG = "DSDIT_GEO_BATCH_KEY"
LR_TAG = "DSDIT_GEO_BATCH_LR"
REF_TAG = "DSDIT_GEO_BATCH_REF"
VERIFY_MODES = ("quick", "full")
# Options that do not change the result (batch size, by design) or are where/how it runs.
_NOT_IN_KEY = ("option_device", "option_batch_size", "option_trust_map")


@dataclass(frozen=True)
class OutputState:
    """The verdict on one output: complete or not (with a one-line reason), and its size."""

    complete: bool
    reason: str
    width: int = 0
    height: int = 0

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def item_key(lr: str, ref: str, options: UpscaleOptions) -> str:
    """16 hex digits identifying (version, LR path, Ref path, result-changing options, whether a
    trust map is written)."""
    tags = {k: v for k, v in options.to_tags().items() if k not in _NOT_IN_KEY}
    payload = {
        "version": __version__,
        "lr": lr,
        "ref": ref,
        "options": tags,
        "trust_map": options.trust_map is not None,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance_tags(lr: str, ref: str, key: str) -> dict[str, str]:
    """The tags a batch adds to each output (through `UpscaleOptions.extra`)."""
    return {LR_TAG: lr, REF_TAG: ref, KEY_TAG: key}


def check_item(out: str, trust_map: str | None, key: str, verify: str = "quick") -> OutputState:
    """The state of an item's output (and trust map, when it has one)."""
    state = check_output(out, key, verify)
    if state.complete and trust_map is not None:
        trust = check_output(trust_map, key, verify)
        if not trust.complete:
            return OutputState(False, f"trust map: {trust.reason}", state.width, state.height)
    return state


def check_output(path: str, key: str, verify: str = "quick") -> OutputState:
    """Whether `path` is a complete output of the item with `key` (see the module docstring)."""
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    if not os.path.isfile(path):
        return OutputState(False, "missing")
    try:
        check_layout(path)
    except LayoutError as exc:
        return OutputState(False, str(exc))
    except OSError as exc:
        return OutputState(False, f"unreadable ({exc.strerror or exc})")
    import rasterio  # heavy: only when there is a file to look at
    from rasterio.errors import RasterioError

    try:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as ds:
            tags = ds.tags()
            if tags.get("DSDIT_GEO_VERSION") != __version__:
                return OutputState(
                    False, f"written by version {tags.get('DSDIT_GEO_VERSION')}, not {__version__}"
                )
            if tags.get(KEY_TAG) != key:
                return OutputState(False, "written for other inputs or options")
            width, height = ds.width, ds.height
            _decode(ds, path, verify)
    except VerifyError as exc:
        return OutputState(False, str(exc))
    except (RasterioError, OSError, ValueError) as exc:
        return OutputState(False, "does not decode: " + " ".join(str(exc).split()))
    return OutputState(True, "complete", width, height)


def _decode(ds, path: str, verify: str) -> None:
    """Read the blocks `verify` asks for, at full resolution and on every overview level."""
    import rasterio

    if verify == "full" and has_checksum(ds.tags()):
        reason = checksum_mismatch(ds)  # decodes every full-resolution block
        if reason:
            raise VerifyError(reason)
    else:
        _read_blocks(ds, verify)
    for level in range(len(ds.overviews(1))):
        with rasterio.open(path, overview_level=level) as overview:
            _read_blocks(overview, verify)


def _read_blocks(ds, verify: str) -> None:
    """Decode the last block (quick) or every block (full), all bands, and the mask."""
    from rasterio.enums import MaskFlags
    from rasterio.windows import Window

    has_mask = all(MaskFlags.per_dataset in flags for flags in ds.mask_flag_enums)
    block_h, block_w = ds.block_shapes[0]
    windows = [
        Window(col, row, min(block_w, ds.width - col), min(block_h, ds.height - row))
        for row in range(0, ds.height, block_h)
        for col in range(0, ds.width, block_w)
    ]
    for window in windows if verify == "full" else windows[-1:]:
        ds.read(window=window)
        if has_mask:
            ds.read_masks(1, window=window)
