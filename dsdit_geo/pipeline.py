"""The upscale pipeline: the one place that joins I/O and computation (DESIGN.md §3).

    upscale_file(lr_path, ref_path, out_path, options=None, **option_values) -> UpscaleReport

open + check -> target grid -> radiometry -> tiles read through one WarpedVRT per input ->
upscaler batches -> cosine blend into a strip accumulator -> strips to a temporary GeoTIFF ->
COG -> atomic rename. Memory is O(tile_px × grid width), never O(scene); a grid too wide for
--max-memory is done in column blocks (memory.py), O(tile_px × block width), with the same
pixels. Reentrant and deterministic (no timestamps); user problems raise DsditGeoError only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
import rasterio
import torch
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import CRSError, RasterioError
from tqdm import tqdm

from dsdit_geo import __version__
from dsdit_geo.config import WARP_RESAMPLINGS, UpscaleOptions, UpscaleReport
from dsdit_geo.device import check_device_text
from dsdit_geo.errors import InputError, OptionError, OutputError
from dsdit_geo.geo.blend import StripAccumulator, TileWeights
from dsdit_geo.geo.grid import TargetGrid, target_grid
from dsdit_geo.geo.tiling import ColumnBlock, Tile, TileLayout
from dsdit_geo.geo.utm_check import warn_far_utm
from dsdit_geo.memory import check_run_size, parse_size
from dsdit_geo.raster.bands import BandInfo, resolve_bands
from dsdit_geo.raster import nodata as nd
from dsdit_geo.raster.cog import (
    COMPRESSIONS,
    OVERVIEW_RESAMPLING,
    AtomicCogWriter,
    OutputSpec,
    check_output_path,
    commit_together,
)
from dsdit_geo.raster.creation_options import check_creation_options
from dsdit_geo.raster.gdal_env import run_env_options
from dsdit_geo.raster.gdal_errors import describe, gdal_errors
from dsdit_geo.raster.http_env import http_timeouts
from dsdit_geo.raster.metadata import lr_metadata, prefixed
from dsdit_geo.raster.products import resolve_input
from dsdit_geo.raster.finite import finite_view, read_dtype
from dsdit_geo.raster.read import geometry_of, open_raster, open_warped, read_tile, without_alpha
from dsdit_geo.raster.stats import estimate_lr_sharpness, estimate_radiometry
from dsdit_geo.raster.values import Radiometry
from dsdit_geo.upscalers import make_upscaler
from dsdit_geo.upscalers.base import TileBatch, Upscaler, check_tile_px, uses_lr_sharpness
from dsdit_geo.upscalers.settings import check_sampling

log = logging.getLogger(__name__)
T = TypeVar("T")
UpscalerFactory = Callable[[UpscaleOptions, float], Upscaler]  # (options, scale) -> upscaler


def upscale_file(
    lr_path: str | os.PathLike,
    ref_path: str | os.PathLike,
    out_path: str | os.PathLike,
    options: UpscaleOptions | None = None,
    *,
    upscaler_factory: UpscalerFactory | None = None,
    **option_values,
) -> UpscaleReport:
    """Super-resolve `lr_path` onto the grid of `ref_path` (or the one `options` ask for) and
    write a COG at `out_path` (plus `options.trust_map` if set). Paths may be str or PathLike;
    keywords are UpscaleOptions fields and override `options` (default: UpscaleOptions()).
    Raises DsditGeoError subclasses for user problems; leaves no file at `out_path` (nor at the
    trust map) unless it succeeds: the two are published together or not at all.
    `upscaler_factory(options, scale)` builds the method (default `make_upscaler`;
    `dsdit_geo.engine.Engine` passes one that keeps models loaded)."""
    started = time.perf_counter()
    lr_path, ref_path, out_path = os.fspath(lr_path), os.fspath(ref_path), os.fspath(out_path)
    options = _with_values(options, option_values)
    validate_options(options)
    with _torch_threads(options.threads):
        return _upscale(lr_path, ref_path, out_path, options, started, upscaler_factory)


def _with_values(options: UpscaleOptions | None, values: dict) -> UpscaleOptions:
    """`options` (or the defaults) with keyword values on top; OptionError for unknown names."""
    names = {f.name for f in dataclasses.fields(UpscaleOptions)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise OptionError(f"unknown upscale option(s): {', '.join(unknown)}")
    for key in ("trust_map", "weights", "guide"):
        if isinstance(values.get(key), os.PathLike):
            values[key] = os.fspath(values[key])
    options = dataclasses.replace(options or UpscaleOptions(), **values)
    for key in ("trust_map", "weights", "guide"):
        if isinstance(getattr(options, key), os.PathLike):
            options = dataclasses.replace(options, **{key: os.fspath(getattr(options, key))})
    return options


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch.set_num_threads(threads) for the run (restored after); None leaves torch alone."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _upscale(
    lr_path: str,
    ref_path: str,
    out_path: str,
    options: UpscaleOptions,
    started: float,
    factory: UpscalerFactory | None = None,
) -> UpscaleReport:
    out_path = check_output_path(out_path, options.overwrite)
    trust_path = (
        check_output_path(options.trust_map, options.overwrite, "trust map") if options.trust_map else None
    )
    _check_distinct(lr_path, ref_path, out_path, trust_path)
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(**run_env_options(options.threads)))
        stack.enter_context(rasterio.Env(**http_timeouts()))  # no endless /vsicurl/ waits
        lr_src = stack.enter_context(open_raster(resolve_input(lr_path, "LR", options.lr_assets), "LR"))
        ref_ds = stack.enter_context(open_raster(resolve_input(ref_path, "Ref", options.ref_assets), "Ref"))
        lr_idx, ref_idx = resolve_bands(
            lr_src.count,
            ref_ds.count,
            options.lr_bands,
            options.ref_bands,
            BandInfo.of(lr_src),
            BandInfo.of(ref_ds),
        )
        lr_nodata = nd.parse_nodata(options.lr_nodata, "--lr-nodata")
        lr_ds = stack.enter_context(without_alpha(lr_src, lr_idx, lr_nodata))
        ref_nodata = nd.parse_nodata(options.ref_nodata, "--ref-nodata")
        ref_ds = stack.enter_context(without_alpha(ref_ds, ref_idx, ref_nodata))
        if lr_nodata is None:
            warning = nd.zero_fill_warning(lr_ds, lr_idx)
            if warning:
                print(warning, file=sys.stderr)
        grid = target_grid(
            geometry_of(lr_ds),
            geometry_of(ref_ds),
            crs=options.crs,
            resolution=options.resolution,
            extent=options.extent,
        )
        warn_far_utm(grid.crs, geometry_of(lr_ds), options.crs, options.quiet)
        methods = _Methods.build(options, grid.scale, n_bands=len(lr_idx), factory=factory)
        block_px = check_run_size(
            grid.width, grid.height, len(lr_idx), methods.tile_px, methods.halo_px, options.batch_size,
            None if options.max_memory is None else parse_size(options.max_memory),
        )  # fmt: skip
        lr_read = stack.enter_context(finite_view(lr_ds))  # NaN / ±inf read as nodata
        ref_read = stack.enter_context(finite_view(ref_ds))
        radiometry = estimate_radiometry(lr_read, ref_read, lr_idx, ref_idx, grid)
        lr_sharpness = None
        if uses_lr_sharpness(methods.main):
            lr_sharpness = estimate_lr_sharpness(lr_read, ref_read, lr_idx, ref_idx, grid, radiometry)
            log.info("LR sharpness relative to the Ref: %s",
                     "not measurable" if lr_sharpness is None else f"{lr_sharpness:.3f}")
        out_spec = _output_spec(
            lr_src, lr_ds, lr_idx, grid, options, methods, radiometry, lr_path, ref_path, lr_sharpness
        )
        log.info(
            "grid %d x %d px at %g x %g in %s, scale %.4g; method %s, tiles %d px (overlap %d)",
            grid.width, grid.height, *grid.res, grid.crs, grid.scale, methods.main.name,
            methods.tile_px, methods.overlap_px,
        )  # fmt: skip
        layout = TileLayout.over(grid.height, grid.width, methods.tile_px, methods.overlap_px)
        blocks = layout.column_blocks(block_px)
        n_tiles = sum(layout.count(block) for block in blocks)
        if len(blocks) > 1:
            log.info(
                "%d column blocks of %d px (--max-memory): %d tiles, %d of them done twice at block edges",
                len(blocks), block_px, n_tiles, n_tiles - len(layout),
            )  # fmt: skip
        lr_vrt = stack.enter_context(
            open_warped(lr_read, grid, Resampling[options.resampling], read_dtype(lr_ds, lr_idx))
        )
        ref_vrt = stack.enter_context(
            open_warped(ref_read, grid, _ref_resampling(grid), read_dtype(ref_ds, ref_idx))
        )
        writer = stack.enter_context(AtomicCogWriter(out_path, out_spec, overwrite=options.overwrite))
        trust_writer = (
            stack.enter_context(
                AtomicCogWriter(trust_path, _trust_spec(out_spec), overwrite=options.overwrite)
            )
            if trust_path
            else None
        )
        bar = stack.enter_context(
            tqdm(
                total=n_tiles,
                unit="tile",
                desc=os.path.basename(out_path),
                file=sys.stderr,
                disable=not _show_progress(options),
                leave=False,
            )
        )
        tiles = _TileReader(
            lr_vrt, ref_vrt, lr_idx, ref_idx, radiometry, grid, methods.halo_px, methods.tile_px,
            lr_sharpness,
        )
        weights = TileWeights(layout)
        for block in blocks:
            _run_tiles(
                layout, block, weights, tiles, methods, options.batch_size, radiometry, out_spec,
                writer, trust_writer, bar,
            )  # fmt: skip
        # all or nothing: both verified before either is published; the output last
        commit_together([trust_writer, writer] if trust_writer is not None else [writer])
    return UpscaleReport(
        out_path=out_path,
        width=grid.width,
        height=grid.height,
        bands=len(lr_idx),
        method=methods.main.name,
        seconds=time.perf_counter() - started,
        trust_map_path=trust_path,
        crs=_crs_text(grid.crs),
        resolution=grid.res,
        bounds=grid.bounds,
    )


def _crs_text(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def validate_options(options: UpscaleOptions) -> None:
    """OptionError for values that make no sense on their own (before any file is touched)."""
    if not isinstance(options.batch_size, int) or options.batch_size < 1:
        raise OptionError(f"--batch-size must be a positive integer, got {options.batch_size}")
    if options.resolution is not None and not (math.isfinite(options.resolution) and options.resolution > 0):
        raise OptionError(f"--resolution must be a positive number, got {options.resolution}")
    if options.extent is not None:
        if len(options.extent) != 4 or not all(math.isfinite(v) for v in options.extent):
            raise OptionError(f"--extent needs four numbers LEFT BOTTOM RIGHT TOP, got {options.extent}")
        left, bottom, right, top = options.extent
        if not (left < right and bottom < top):
            raise OptionError(f"--extent must have left < right and bottom < top, got {options.extent}")
    if options.crs is not None:
        try:
            with rasterio.Env():  # GDAL's messages go to logging, not a raw 'ERROR 1: PROJ' line
                CRS.from_user_input(options.crs)
        except (CRSError, ValueError, TypeError):
            raise OptionError(f"--crs {options.crs!r} is not a CRS (try e.g. EPSG:32611)") from None
    check_device_text(options.device)
    if options.compress not in COMPRESSIONS:
        raise OptionError(f"--compress must be one of {', '.join(COMPRESSIONS)}, got {options.compress!r}")
    check_sampling(options.steps, options.guidance, options.ref_scale_weak, options.detail, options.ref_detail)
    if options.resampling not in WARP_RESAMPLINGS:
        raise OptionError(
            f"--resampling must be one of {', '.join(WARP_RESAMPLINGS)}, got {options.resampling!r}"
        )
    if options.threads is not None and (not isinstance(options.threads, int) or options.threads < 1):
        raise OptionError(f"--threads must be a positive integer, got {options.threads}")
    for key in ("lr_nodata", "ref_nodata", "dst_nodata"):
        nd.parse_nodata(getattr(options, key), "--" + key.replace("_", "-"))
    check_creation_options(options.creation_options)
    if options.max_memory is not None:
        parse_size(options.max_memory)


def _check_distinct(lr_path: str, ref_path: str, out_path: str, trust_path: str | None) -> None:
    if trust_path is not None and trust_path == out_path:
        raise OptionError("--trust-map must differ from the output path")
    for target in filter(None, (out_path, trust_path)):
        for role, source in (("LR", lr_path), ("Ref", ref_path)):
            with contextlib.suppress(OSError):
                if os.path.exists(target) and os.path.samefile(target, source):
                    raise OutputError(f"the output {target} is the {role} input: choose another path")


def _show_progress(options: UpscaleOptions) -> bool:
    if options.progress is not None:
        return options.progress
    return not options.quiet and sys.stderr.isatty()


def _ref_resampling(grid: TargetGrid) -> Resampling:
    """Nearest when the grid is the Ref's own; average when downsampling it; cubic otherwise."""
    if grid.ref_aligned:
        return Resampling.nearest
    hr_px = math.sqrt(grid.res[0] * grid.res[1])
    return Resampling.average if hr_px > grid.ref_pixel_size * (1 + 1e-6) else Resampling.cubic


class _Methods:
    """The main upscaler, the hpf helper for bands beyond its max_bands, tile sizes and halo."""

    def __init__(
        self, main: Upscaler, helper: Upscaler | None, n_main: int, tile_px: int, overlap_px: int
    ) -> None:
        self.main, self.helper, self.n_main = main, helper, n_main
        self.tile_px, self.overlap_px = tile_px, overlap_px
        self.halo_px = max(main.context_px, helper.context_px if helper else 0)

    @classmethod
    def build(
        cls, options: UpscaleOptions, scale: float, n_bands: int, factory: UpscalerFactory | None = None
    ) -> _Methods:
        main = (factory or _make_upscaler)(options, scale)  # checks --trust-map against the method
        tile_px = options.tile_px if options.tile_px is not None else main.default_tile_px
        overlap_px = options.overlap_px if options.overlap_px is not None else main.default_overlap_px
        if options.tile_px is not None and options.overlap_px is None:
            overlap_px = min(overlap_px, tile_px // 2)
        check_tile_px(main, tile_px, overlap_px)
        n_main = n_bands if main.max_bands is None else min(n_bands, main.max_bands)
        helper = None
        if n_main < n_bands:
            helper = make_upscaler(UpscaleOptions(method="hpf"), scale=scale)
            check_tile_px(helper, tile_px, overlap_px)
        return cls(main, helper, n_main, tile_px, overlap_px)

    def upscale(self, batch: TileBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, C, tile, tile) HR values and (B, 1, tile, tile) trust (or None) for a batch read
        with `halo_px` around each tile; each method sees its own context and is cropped."""
        main = self.main.upscale(
            _crop(batch.select_bands(0, self.n_main), self.halo_px - self.main.context_px)
        )
        hr = [_crop_tensor(main.hr, self.main.context_px)]
        trust = None if main.trust is None else _crop_tensor(main.trust, self.main.context_px)
        if self.helper is not None:
            extra_batch = _crop(
                batch.select_bands(self.n_main, batch.lr_hr.shape[1]), self.halo_px - self.helper.context_px
            )
            hr.append(_crop_tensor(self.helper.upscale(extra_batch).hr, self.helper.context_px))
        return (hr[0] if len(hr) == 1 else torch.cat(hr, dim=1)), trust


def _make_upscaler(options: UpscaleOptions, scale: float) -> Upscaler:
    return make_upscaler(options, scale=scale)


def _crop_tensor(tensor: torch.Tensor, margin: int) -> torch.Tensor:
    return (
        tensor[..., margin : tensor.shape[-2] - margin, margin : tensor.shape[-1] - margin]
        if margin
        else tensor
    )


def _crop(batch: TileBatch, margin: int) -> TileBatch:
    if margin == 0:
        return batch
    return TileBatch(
        lr_hr=_crop_tensor(batch.lr_hr, margin),
        ref_hr=_crop_tensor(batch.ref_hr, margin),
        lr_valid=_crop_tensor(batch.lr_valid, margin),
        ref_valid=_crop_tensor(batch.ref_valid, margin),
        origin_px=batch.origin_px + margin,
        scale=batch.scale,
        lr_sharpness=batch.lr_sharpness,
    )


class _TileReader:
    """Reads one tile (plus halo) of LR and Ref from their WarpedVRTs, in model range; every
    batch carries the scene's LR sharpness (None: not measured)."""

    def __init__(
        self,
        lr_vrt,
        ref_vrt,
        lr_idx: list[int],
        ref_idx: list[int],
        radiometry: Radiometry,
        grid: TargetGrid,
        halo_px: int,
        tile_px: int,
        lr_sharpness: float | None = None,
    ) -> None:
        self.lr_vrt, self.ref_vrt, self.lr_idx, self.ref_idx = lr_vrt, ref_vrt, lr_idx, ref_idx
        self.radiometry, self.grid = radiometry, grid
        self.halo_px, self.read_px = halo_px, tile_px + 2 * halo_px
        self.lr_sharpness = lr_sharpness

    def batch(self, tiles: list[Tile]) -> TileBatch:
        parts = [self._one(tile) for tile in tiles]
        stack = [torch.from_numpy(np.stack([p[k] for p in parts])) for k in range(4)]
        origins = torch.tensor(
            [[t.row_px - self.halo_px, t.col_px - self.halo_px] for t in tiles], dtype=torch.int64
        )
        return TileBatch(
            lr_hr=stack[0],
            ref_hr=stack[1],
            lr_valid=stack[2],
            ref_valid=stack[3],
            origin_px=origins,
            scale=self.grid.scale,
            lr_sharpness=self.lr_sharpness,
        )

    def _one(self, tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        row, col = tile.row_px - self.halo_px, tile.col_px - self.halo_px
        try:
            lr_raw = read_tile(self.lr_vrt, self.lr_idx, row, col, self.read_px)
        except (RasterioError, *gdal_errors()) as exc:
            where = _source_name(self.lr_vrt)
            raise InputError(f"reading the LR ({where}) failed: {describe(exc)}") from None
        try:
            ref_raw = read_tile(self.ref_vrt, self.ref_idx, row, col, self.read_px)
        except (RasterioError, *gdal_errors()) as exc:
            where = _source_name(self.ref_vrt)
            raise InputError(f"reading the Ref ({where}) failed: {describe(exc)}") from None
        return self.radiometry.prepare_tile(lr_raw, ref_raw)


def _source_name(vrt) -> str:
    """The file a WarpedVRT reads (an in-memory VRT's XML is not a name: then its source)."""
    name = str(getattr(getattr(vrt, "src_dataset", None), "name", "") or "")
    while name.lstrip().startswith("<"):  # VRTs of VRTs (finite_view, without_alpha): unwrap
        found = re.search(r"<SourceFilename[^>]*>([^<]*)</SourceFilename>", name)
        name = html.unescape(found.group(1)) if found else "an in-memory VRT"
    return name or "?"


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run_tiles(
    layout: TileLayout,
    block: ColumnBlock,
    weights: TileWeights,
    tiles: _TileReader,
    methods: _Methods,
    batch_size: int,
    radiometry: Radiometry,
    spec: OutputSpec,
    writer: AtomicCogWriter,
    trust_writer: AtomicCogWriter | None,
    bar: tqdm,
) -> None:
    """Upscale the tiles of one column block in row-major batches, blend them in a fixed order
    (a pixel gets its tiles in the same order whatever the block), write the block's own
    columns of each finished row. One block of the whole width is the plain row-major pass."""
    n_bands = spec.count
    with_trust = trust_writer is not None
    accumulator = StripAccumulator(
        n_bands + 1 + with_trust, layout.height_px, block.span1_px - block.span0_px, layout.tile_px
    )
    core = slice(methods.halo_px, methods.halo_px + layout.tile_px)
    own = slice(block.col0_px - block.span0_px, block.col1_px - block.span0_px)

    def sink(row0: int, rows: np.ndarray) -> None:
        rows = rows[:, :, own]
        values, valid = radiometry.to_output(rows[:n_bands], rows[n_bands] > 0.5, spec.dtype, spec.nodata)
        writer.write_rows(row0, values, valid, block.col0_px)
        if with_trust:
            trust = np.where(valid, rows[n_bands + 1], np.float32(np.nan))[None]
            trust_writer.write_rows(row0, trust, col0=block.col0_px)

    n_channels = n_bands + 1 + with_trust  # bands, LR validity, (trust)
    for tile_batch in _batched(layout.tiles(block), batch_size):
        batch = tiles.batch(tile_batch)
        hr, trust = methods.upscale(batch)
        hr_np = hr.numpy()
        lr_valid_np = batch.lr_valid[:, 0, core, core].numpy()
        trust_np = trust[:, 0].numpy() if with_trust and trust is not None else None
        for k, tile in enumerate(tile_batch):
            values = np.zeros((n_channels, layout.tile_px, layout.tile_px), np.float32)
            values[:n_bands] = hr_np[k]
            values[n_bands] = lr_valid_np[k]
            if trust_np is not None:
                values[n_bands + 1] = trust_np[k]
            col = tile.col_px - block.span0_px
            accumulator.add(tile.row_px, col, values, weights.weight(tile.tile_row, tile.tile_col))
            if tile.last_in_row:
                accumulator.flush(layout.rows_done_after(tile.tile_row), sink)
            bar.update(1)


def _output_spec(
    lr_src,
    lr_ds,
    lr_idx: list[int],
    grid: TargetGrid,
    options: UpscaleOptions,
    methods: _Methods,
    radiometry: Radiometry,
    lr_path: str,
    ref_path: str,
    lr_sharpness: float | None = None,
) -> OutputSpec:
    """The output's layout and metadata: the LR's band metadata and tags (from the file as
    opened, `lr_src`), our provenance tags under DSDIT_GEO_ (with the measured LR sharpness and
    the Ref detail gain it gave, for a method that uses it), nodata from `lr_ds` (after
    --lr-nodata) unless --dst-nodata says otherwise."""
    dtype = np.result_type(*[lr_ds.dtypes[i - 1] for i in lr_idx]).name
    colorinterp = tuple(_plain_colorinterp(lr_src.colorinterp[i - 1]) for i in lr_idx)
    kept = lr_metadata(lr_src, lr_idx)
    provenance = {
        "VERSION": __version__,
        "method": methods.main.name,
        "seed": str(options.seed),
        "lr_file": os.path.basename(lr_path.rstrip("/")),
        "ref_file": os.path.basename(ref_path.rstrip("/")),
        "scale_factor": f"{grid.scale:.6g}",
        **options.to_tags(),
        **{f"method_{k}" if not k.startswith("method") else k: v for k, v in methods.main.describe().items()},
        **radiometry.to_tags(),
    }
    if uses_lr_sharpness(methods.main):
        provenance["lr_sharpness"] = "unmeasured" if lr_sharpness is None else f"{lr_sharpness:.4f}"
        gain_for = getattr(methods.main, "ref_detail_gain", None)  # DS-DiT: the gain it gives
        if gain_for is not None:
            provenance["method_ref_detail_gain"] = f"{gain_for(grid.scale, lr_sharpness):.4g}"
    if methods.helper is not None:
        provenance["bands_by_hpf"] = ",".join(map(str, lr_idx[methods.n_main :]))
    tags = {
        **kept.tags,
        **prefixed(provenance),
        **prefixed(options.extra),
        "OVERVIEW_RESAMPLING": OVERVIEW_RESAMPLING,
    }
    dst_nodata = nd.parse_nodata(options.dst_nodata, "--dst-nodata")
    nodata = nd.resolve(dst_nodata, lr_ds.nodata)
    if dst_nodata is not None or options.lr_nodata is not None:
        nd.check_fits(nodata, dtype, "--dst-nodata" if dst_nodata is not None else "--lr-nodata")
    return OutputSpec(
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        count=len(lr_idx),
        dtype=dtype,
        nodata=nodata,
        write_mask=nodata is None,
        descriptions=kept.descriptions,
        colorinterp=colorinterp,
        tags=tags,
        compress=options.compress,
        scales=kept.scales,
        offsets=kept.offsets,
        units=kept.units,
        band_tags=kept.band_tags,
        creation_options=dict(options.creation_options),
    )


def _plain_colorinterp(value: ColorInterp) -> ColorInterp:
    """Band roles that survive as plain data (a palette or alpha band is written as data)."""
    if value == ColorInterp.palette:
        return ColorInterp.gray
    if value == ColorInterp.alpha:
        return ColorInterp.undefined
    return value


def _trust_spec(out: OutputSpec) -> OutputSpec:
    tags = dict(out.tags)
    tags["DSDIT_GEO_CONTENT"] = "per-pixel weight given to the Ref (0..1); nodata where the LR has none"
    return OutputSpec(
        crs=out.crs,
        transform=out.transform,
        width=out.width,
        height=out.height,
        count=1,
        dtype="float32",
        nodata=float("nan"),
        descriptions=("ref_trust",),
        colorinterp=(ColorInterp.gray,),
        tags=tags,
        compress=out.compress,
    )
