"""The upscaler interface every method implements (bicubic, hpf, dsdit).

The pipeline hands a method a batch of normalised tiles on the HR grid and gets HR tiles back.
All arrays are torch float32 on the CPU, layout (B, C, H, W); values are in the *model range*:
per band, 0..1 nominal (the LR's robust range mapped to 0..1), may leave that range slightly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from dsdit_geo.errors import OptionError, TrustMapError


@dataclass
class TileBatch:
    """A batch of tiles, all of the same size, on the HR target grid.

    lr_hr:     (B, C, H, W) the LR resampled (GDAL cubic) onto the HR grid, model range.
    ref_hr:    (B, C, H, W) the Ref on the HR grid, harmonised to the LR's model range.
               Where the Ref is invalid it holds `lr_hr` (no extra detail).
    lr_valid:  (B, 1, H, W) bool, where the LR has data.
    ref_valid: (B, 1, H, W) bool, where the Ref has data.
    origin_px: (B, 2) int64, global HR-grid (row, col) of each tile's pixel [0, 0]; may be
               negative or run past the grid where a tile is reflect-padded. Methods use it
               to draw position-keyed noise (`dsdit_geo.flow.noise`).
    scale:     LR pixel size / HR pixel size (e.g. 10.0 for 10 m -> 1 m).
    lr_sharpness: the scene's LR sharpness relative to the Ref (`dsdit_geo.lr_sharpness`:
               ~1 sharp, lower blurry); None when not measured or not measurable.
    """

    lr_hr: torch.Tensor
    ref_hr: torch.Tensor
    lr_valid: torch.Tensor
    ref_valid: torch.Tensor
    origin_px: torch.Tensor
    scale: float
    lr_sharpness: float | None = None

    def __post_init__(self) -> None:
        b, c, h, w = self.lr_hr.shape
        if self.ref_hr.shape != (b, c, h, w):
            raise ValueError(f"ref_hr shape {tuple(self.ref_hr.shape)} != lr_hr shape {(b, c, h, w)}")
        if self.origin_px.shape != (b, 2):
            raise ValueError(f"origin_px must be ({b}, 2), got {tuple(self.origin_px.shape)}")

    @property
    def size(self) -> int:
        return int(self.lr_hr.shape[0])

    def select_bands(self, start: int, stop: int) -> "TileBatch":
        """The same tiles restricted to bands [start, stop)."""
        return TileBatch(
            lr_hr=self.lr_hr[:, start:stop],
            ref_hr=self.ref_hr[:, start:stop],
            lr_valid=self.lr_valid,
            ref_valid=self.ref_valid,
            origin_px=self.origin_px,
            scale=self.scale,
            lr_sharpness=self.lr_sharpness,
        )


@dataclass
class TileResult:
    """hr: (B, C, H, W) model range. trust: optional (B, 1, H, W) in [0, 1], the per-pixel
    weight given to the Ref (DS-DiT's alpha_ref; hpf's agreement weight)."""

    hr: torch.Tensor
    trust: torch.Tensor | None = None


@runtime_checkable
class Upscaler(Protocol):
    """A super-resolution method on normalised HR-grid tiles.

    name:             short method name, recorded in output tags.
    context_px:       halo (HR px) the method needs around each tile to be independent of
                      tiling; the pipeline reads it and crops it off the result.
    tile_multiple_px: tile side (including halo) must be a multiple of this.
    max_bands:        how many leading bands the method handles itself (None = any); the
                      pipeline upscales the bands beyond with `hpf`, guided by the Ref's band.
    default_tile_px, default_overlap_px: used when the user gives no --tile-px / --overlap-px.
    provides_trust:   whether `upscale` returns a trust map (the Ref's per-pixel weight);
                      `--trust-map` with a method that does not is an error
                      (`check_provides_trust`).
    An upscaler may also set ``uses_lr_sharpness = True``: the pipeline then measures the
    scene's LR sharpness against the Ref once per run and passes it in each batch
    (`TileBatch.lr_sharpness`; `uses_lr_sharpness`).
    """

    name: str
    context_px: int
    tile_multiple_px: int
    max_bands: int | None
    default_tile_px: int
    default_overlap_px: int
    provides_trust: bool

    def upscale(self, batch: TileBatch) -> TileResult:
        """Super-resolve one batch. Deterministic given the batch (and the method's seed)."""
        ...

    def describe(self) -> dict[str, str]:
        """Options worth recording in the output's tags (string values)."""
        ...


def uses_lr_sharpness(upscaler: Upscaler) -> bool:
    """Whether `upscaler` wants `TileBatch.lr_sharpness` measured (an optional attribute)."""
    return bool(getattr(upscaler, "uses_lr_sharpness", False))


def check_tile_px(upscaler: Upscaler, tile_px: int, overlap_px: int) -> None:
    """Raise OptionError if `tile_px` / `overlap_px` do not suit `upscaler`."""
    if tile_px <= 0:
        raise OptionError(f"--tile-px must be positive, got {tile_px}")
    if overlap_px < 0 or overlap_px >= tile_px:
        raise OptionError(f"--overlap-px must be in [0, tile-px), got {overlap_px} with tile {tile_px}")
    full_px = tile_px + 2 * upscaler.context_px
    if full_px % upscaler.tile_multiple_px:
        raise OptionError(
            f"--tile-px {tile_px} does not suit method '{upscaler.name}': tile plus context "
            f"({full_px} px) must be a multiple of {upscaler.tile_multiple_px}"
        )


def check_provides_trust(upscaler: Upscaler) -> None:
    """TrustMapError (an OptionError and a ModelError) unless `upscaler` gives a trust map; the
    one check of `--trust-map`. An upscaler may explain itself with `no_trust_reason`."""
    if upscaler.provides_trust:
        return
    reason = getattr(upscaler, "no_trust_reason", None)
    reason = reason or f"a method that weights the Ref (hpf, dsdit), not {upscaler.name}"
    raise TrustMapError(f"--trust-map needs {reason}")
