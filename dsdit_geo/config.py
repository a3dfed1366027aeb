"""Options of one upscale run, as the CLI and the batch runner pass them to the pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


# Kernels GDAL's warper offers for the LR (rasterio Resampling names); cubic is the default.
WARP_RESAMPLINGS = (
    "nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode",
    "max", "min", "med", "q1", "q3", "sum", "rms",
)  # fmt: skip


@dataclass
class UpscaleOptions:
    """Everything `upscale_file` needs besides the three paths.

    Sizes are HR-grid pixels; resolution is in target-CRS units per pixel; bands are 1-based.
    None means "the method's / the data's default".
    """

    method: str = "dsdit"
    resolution: float | None = None  # default: the Ref's pixel size (in the target CRS)
    crs: str | None = None  # default: the Ref's CRS
    extent: tuple[float, float, float, float] | None = None  # (left, bottom, right, top), target CRS
    lr_bands: list[int | str] | None = None  # numbers or names (red, nir, B04, a description)
    ref_bands: list[int | str] | None = None
    lr_assets: list[str] | None = None  # STAC item assets to stack (default red,green,blue,nir)
    ref_assets: list[str] | None = None
    tile_px: int | None = None
    overlap_px: int | None = None
    batch_size: int = 4
    seed: int = 0
    overwrite: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: a bar on stderr when it is a terminal and not quiet
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # DS-DiT (method "dsdit")
    weights: str | None = None  # a save_pretrained folder; default: the bundled model
    steps: int | None = None
    guidance: float | None = None
    ref_scale_weak: float | None = None  # None: the model folder's inference.json, else 0
    detail: float | None = None  # share of the generated detail kept over the model's base; None: inference.json, else 1
    ref_detail: float | None = None  # trust-gated Ref detail gain at every scale; None: inference.json's schedule, else 0
    guide: str | None = None  # autoguidance weak model: a folder or "self"; None: inference.json
    trust_map: str | None = None  # also write the blended alpha_ref (float32 COG) here
    # Nodata overrides (like gdalwarp -srcnodata / -dstnodata): None keeps the declared one,
    # "none" ignores it (every pixel is data), a number replaces it
    lr_nodata: float | str | None = None
    ref_nodata: float | str | None = None
    dst_nodata: float | str | None = None  # default: the LR's (after --lr-nodata)
    resampling: str = "cubic"  # the LR's warp onto the output grid (rasterio Resampling name)
    threads: int | None = None  # torch threads and GDAL_NUM_THREADS; None: leave as they are
    max_memory: int | str | None = None  # planned-memory budget: bytes or "2GiB"; None: 80 % of RAM
    # Output encoding
    compress: str = "deflate"  # deflate | zstd | lzw
    creation_options: dict[str, str] = field(default_factory=dict)  # COG driver's, over ours (--co)
    extra: dict[str, str] = field(default_factory=dict)  # free-form tags (e.g. batch item id)

    def to_tags(self) -> dict[str, str]:
        """String tags recording the options (for provenance)."""
        tags = {}
        for key, value in asdict(self).items():
            if key in {"quiet", "progress", "overwrite", "extra", "threads", "max_memory"} or value is None:
                continue
            if isinstance(value, dict):
                if not value:
                    continue
                value = [f"{k}={v}" for k, v in sorted(value.items())]
            tags[f"option_{key}"] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return tags


@dataclass
class UpscaleReport:
    """What one run produced. Sizes in HR pixels; seconds of wall time."""

    out_path: str
    width: int
    height: int
    bands: int
    method: str
    seconds: float
    trust_map_path: str | None = None
    crs: str | None = None  # the output grid's CRS (EPSG:n when it has one, else WKT)
    resolution: tuple[float, float] | None = None  # (x, y) pixel size, CRS units
    bounds: tuple[float, float, float, float] | None = None  # left, bottom, right, top

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def megapixels_per_second(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else float("inf")

    def to_json(self) -> dict:
        """A JSON-ready summary (what `upscale --json` prints)."""
        return {
            "output": self.out_path,
            "trust_map": self.trust_map_path,
            "width": self.width,
            "height": self.height,
            "bands": self.bands,
            "crs": self.crs,
            "resolution": list(self.resolution) if self.resolution else None,
            "bounds": list(self.bounds) if self.bounds else None,
            "method": self.method,
            "seconds": round(self.seconds, 3),
            "megapixels": round(self.megapixels, 6),
            "megapixels_per_second": round(self.megapixels_per_second, 4),
        }
