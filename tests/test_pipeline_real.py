"""The pipeline on real NAIP imagery (../shared/data, read in place; skipped when absent).

The NAIP clip (0.6 m, NAD83 / UTM 11N, RGBN with NIR flagged as alpha) is the Ref and the truth;
the LR is that clip area-averaged to 6 m in WGS84 / UTM 11N and stored as S2-like uint16.
"""

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject
from rio_cogeo.cogeo import cog_validate

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.synthetic import write_array

CLIP = "naip_stactools/m_3211605_ne_11_060_20200415.tif"
LR_CRS = CRS.from_epsg(32611)


@pytest.fixture(scope="module")
def naip_pair(shared_data, tmp_path_factory):
    ref_path = shared_data / CLIP
    if not ref_path.exists():
        pytest.skip(f"{CLIP} is absent")
    with rasterio.open(ref_path) as ref:
        truth = ref.read().astype(np.float32)  # band 4 read as data, whatever its colour interpretation
        transform, width, height = calculate_default_transform(
            ref.crs, LR_CRS, ref.width, ref.height, *ref.bounds, resolution=6.0
        )
        lr = np.full((4, height, width), np.nan, np.float32)
        reproject(
            truth,
            lr,
            src_transform=ref.transform,
            src_crs=ref.crs,
            dst_transform=transform,
            dst_crs=LR_CRS,
            resampling=Resampling.average,
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
    lr_units = np.where(np.isfinite(lr), np.rint(1000 + 20 * np.nan_to_num(lr)), 0).astype(np.uint16)
    lr_path = write_array(
        str(tmp_path_factory.mktemp("naip") / "lr_6m.tif"), lr_units, LR_CRS, transform, nodata=0
    )
    return lr_path, str(ref_path), truth


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def test_real_naip_upscale(naip_pair, tmp_path):
    lr_path, ref_path, truth = naip_pair
    results = {}
    for method in ("bicubic", "hpf"):
        report = upscale_file(
            lr_path, ref_path, str(tmp_path / f"{method}.tif"), UpscaleOptions(method=method)
        )
        assert cog_validate(report.out_path)[0]
        with rasterio.open(report.out_path) as out, rasterio.open(ref_path) as ref:
            assert out.crs == ref.crs and out.res == ref.res and out.dtypes[0] == "uint16" and out.nodata == 0
            assert abs(float(out.tags()["DSDIT_GEO_SCALE_FACTOR"]) - 10.0) < 0.05
            # the grid is the Ref's own pixel grid, inside the LR's footprint
            col0, row0 = ~ref.transform @ (out.transform.c, out.transform.f)
            assert col0 == round(col0) and row0 == round(row0)
            data = out.read().astype(np.float32)
        r0, c0 = int(row0), int(col0)
        window = truth[:, r0 : r0 + data.shape[1], c0 : c0 + data.shape[2]]
        valid = (data > 0).all(axis=0)
        valid[:12], valid[-12:], valid[:, :12], valid[:, -12:] = False, False, False, False
        assert valid.mean() > 0.5
        results[method] = psnr((data[:, valid] - 1000) / 20, window[:, valid])
    # the Ref is the truth here, so its detail must help a lot, NIR (flagged alpha) included
    assert results["bicubic"] > 20
    assert results["hpf"] > results["bicubic"] + 3, results
