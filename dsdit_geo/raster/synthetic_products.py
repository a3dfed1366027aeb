"""Small synthetic Sentinel-2 `.SAFE` products and STAC items laid out as the real ones are
(tests, examples). The band files are real JPEG 2000 files (GDAL's JP2OpenJPEG driver, lossless)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import rasterio
from affine import Affine

from dsdit_geo.raster.synthetic import write_array

S2_NAME = "S2A_MSI{level}_20210601T183921_N0300_R070_T11SKA_20210601T204233"
TILE_DATE = "T11SKA_20210601T183921"
S2_BAND_ORDER = ("B04", "B03", "B02", "B08")  # the LR's bands 1..4
_OFFSETS = "".join(f'<{{tag}} band_id="{i}">-1000</{{tag}}>' for i in range(13))
MTD = {
    "L2A": (
        '<?xml version="1.0" encoding="UTF-8"?>\n<n1:Level-2A_User_Product '
        'xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"><n1:General_Info>'
        "<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>"
        '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>'
        f"<BOA_ADD_OFFSET_VALUES_LIST>{_OFFSETS.format(tag='BOA_ADD_OFFSET')}</BOA_ADD_OFFSET_VALUES_LIST>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>\n"
    ),
    "L1C": (
        '<?xml version="1.0" encoding="UTF-8"?>\n<n1:Level-1C_User_Product '
        'xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd"><n1:General_Info>'
        "<Product_Image_Characteristics><QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>"
        f"<Radiometric_Offset_List>{_OFFSETS.format(tag='RADIO_ADD_OFFSET')}</Radiometric_Offset_List>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-1C_User_Product>\n"
    ),
}


def write_jp2(path: str, band: np.ndarray, crs, transform: Affine) -> str:
    """One band (H, W) as a lossless, georeferenced JPEG 2000 file without a side file."""
    profile = dict(driver="JP2OpenJPEG", width=band.shape[1], height=band.shape[0], count=1,
                   dtype=band.dtype.name, crs=crs, transform=transform,
                   QUALITY=100, REVERSIBLE="YES")  # fmt: skip
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile) as out:
        out.write(band[None])
    return path


def write_safe(
    root: str,
    lr_path: str,
    level: str = "L2A",
    mtd: bool = True,
    skip: tuple[str, ...] = (),
    zipped: bool = False,
) -> str:
    """A `.SAFE` product under `root` whose B04, B03, B02, B08 are the bands 1..4 of `lr_path`,
    with decoys a real product has (20 m bands, TCI); `skip` leaves band files out (a partial
    download); `zipped` returns the product's `.zip` instead. Returns the product's path."""
    name = S2_NAME.format(level=level)
    safe = os.path.join(root, name + ".SAFE")
    img = os.path.join(safe, "GRANULE", f"{level}_T11SKA_A031000_20210601T184602", "IMG_DATA")
    folder = os.path.join(img, "R10m") if level == "L2A" else img
    os.makedirs(folder)
    with rasterio.open(lr_path) as ds:
        data, crs, transform = ds.read(), ds.crs, ds.transform
    for k, band in enumerate(S2_BAND_ORDER):
        if band not in skip:
            suffix = f"_{band}_10m.jp2" if level == "L2A" else f"_{band}.jp2"
            write_jp2(os.path.join(folder, TILE_DATE + suffix), data[k], crs, transform)
    half = data[3, ::2, ::2]  # a 20 m band named like a 10 m one in the wrong folder: never taken
    decoy = os.path.join(img, "R20m") if level == "L2A" else img
    os.makedirs(decoy, exist_ok=True)
    suffix = "_B04_20m.jp2" if level == "L2A" else "_B8A.jp2"
    write_jp2(os.path.join(decoy, TILE_DATE + suffix), half, crs, transform * Affine.scale(2))
    if mtd:
        with open(os.path.join(safe, f"MTD_MSI{level}.xml"), "w") as handle:
            handle.write(MTD[level])
    if not zipped:
        return safe
    archive = os.path.join(root, name + ".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for here, _, names in os.walk(safe):
            for file_name in names:
                full = os.path.join(here, file_name)
                zf.write(full, os.path.relpath(full, root))
    shutil.rmtree(safe)
    return archive


def write_stac_items(folder: str, lr_path: str, ref_path: str) -> dict[str, str]:
    """STAC items beside their files, with relative hrefs: 's2' (Earth Search style: assets red,
    green, blue, nir, one band each), 's2_pc' (Planetary Computer style: assets B04, B03, B02,
    B08 with eo:bands common names, and a 3-band 'visual'), 'naip' (one 4-band asset 'image').
    Returns {name: item path}."""
    os.makedirs(folder, exist_ok=True)
    with rasterio.open(lr_path) as ds:
        data, crs, transform = ds.read(), ds.crs, ds.transform
    shutil.copy(ref_path, os.path.join(folder, "naip.tif"))
    visual = np.clip(data[:3] // 8, 0, 255).astype("uint8")
    write_array(os.path.join(folder, "visual.tif"), visual, crs, transform)
    s2: dict = {}
    pc: dict = {"visual": {"href": "visual.tif", "eo:bands": [  # first: common names must still pick B04..
        {"name": b, "common_name": c} for b, c in zip(S2_BAND_ORDER, ("red", "green", "blue"))]}}  # fmt: skip
    for k, (band, common) in enumerate(zip(S2_BAND_ORDER, ("red", "green", "blue", "nir"))):
        write_array(os.path.join(folder, f"{band}.tif"), data[k : k + 1], crs, transform, nodata=0)
        eo = [{"name": band, "common_name": common}]
        raster = [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]
        s2[common] = {"href": f"./{band}.tif", "eo:bands": eo, "raster:bands": raster}
        pc[band] = {"href": f"{band}.tif", "eo:bands": eo}
    eo = [{"name": c, "common_name": c} for c in ("red", "green", "blue", "nir")]
    naip = {"image": {"href": "naip.tif", "eo:bands": eo}, "thumbnail": {"href": "thumb.jpg"}}
    paths = {}
    for name, assets in (("s2", s2), ("s2_pc", pc), ("naip", naip)):
        paths[name] = os.path.join(folder, f"{name}.json")
        item = {"type": "Feature", "stac_version": "1.0.0", "id": f"{name}_item", "assets": assets}
        with open(paths[name], "w") as handle:
            json.dump(item, handle)
    return paths
