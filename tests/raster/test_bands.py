import pytest

from dsdit_geo.errors import BandError
from dsdit_geo.raster.bands import resolve_bands


def test_defaults_pair_leading_bands():
    assert resolve_bands(4, 4, None, None) == ([1, 2, 3, 4], [1, 2, 3, 4])
    assert resolve_bands(3, 4, None, None) == ([1, 2, 3], [1, 2, 3])
    assert resolve_bands(4, 4, [3, 2, 1], None) == ([3, 2, 1], [1, 2, 3])
    assert resolve_bands(4, 3, [1, 2, 3], [3, 2, 1]) == ([1, 2, 3], [3, 2, 1])


@pytest.mark.parametrize(
    "lr_count, ref_count, lr_bands, ref_bands, message",
    [
        (4, 4, [0, 1], None, "--lr-bands 0 out of range"),
        (4, 4, [5], None, "--lr-bands 5 out of range"),
        (4, 4, [1, 2], [1, 9], "--ref-bands 9 out of range"),
        (4, 4, [1, 2], [1], "pair by position"),
        (4, 3, None, None, "--lr-bands and --ref-bands"),
        (4, 4, [], None, "empty"),
    ],
)
def test_bad_selections(lr_count, ref_count, lr_bands, ref_bands, message):
    with pytest.raises(BandError, match=message):
        resolve_bands(lr_count, ref_count, lr_bands, ref_bands)


# --- bands paired by role (issue 13 item 3) ---

from dsdit_geo.raster.bands import BandInfo, role_of_name  # noqa: E402

RGBN_REF = BandInfo(("red", "green", "blue", None), (None,) * 4)
BGR_NIR_LR = BandInfo(("blue", "green", "red", "nir"), ("B02", "B03", "B04", "B08"))


def test_role_of_name():
    assert [role_of_name(n) for n in ("Red", "B04", "b4, central wavelength 665 nm", "B08", "NIR")] == [
        "red", "red", "red", "nir", "nir"
    ]  # fmt: skip
    assert role_of_name("B8A") is None and role_of_name("B12") is None and role_of_name(None) is None


def test_declared_roles_pair_by_role():
    """An LR declared blue,green,red,nir against an RGB(+undeclared NIR) NAIP: blue pairs with blue."""
    assert resolve_bands(4, 4, None, None, BGR_NIR_LR, RGBN_REF) == ([1, 2, 3, 4], [3, 2, 1, 4])
    assert resolve_bands(4, 4, ["nir", "red"], None, BGR_NIR_LR, RGBN_REF) == ([4, 3], [4, 1])
    assert resolve_bands(4, 4, ["B04", "B03", "B02"], None, BGR_NIR_LR, RGBN_REF) == ([3, 2, 1], [1, 2, 3])
    no_roles = BandInfo((None,) * 4, (None,) * 4)
    assert resolve_bands(4, 4, None, None, no_roles, RGBN_REF) == ([1, 2, 3, 4], [1, 2, 3, 4])


def test_role_conflicts_and_unknown_names_are_refused():
    with pytest.raises(BandError, match=r"pair the LR's band 1 \(blue\) with the Ref's band 1 \(red\)"):
        resolve_bands(4, 4, [1, 2, 3], [1, 2, 3], BGR_NIR_LR, RGBN_REF)
    with pytest.raises(BandError, match="--lr-bands swir: the LR has no band of that name or role"):
        resolve_bands(4, 4, ["swir"], None, BGR_NIR_LR, RGBN_REF)
    rgb_only = BandInfo(("red", "green", "blue"), (None,) * 3)
    with pytest.raises(BandError, match="LR band 4 \\(nir\\) has no Ref band"):
        resolve_bands(4, 3, [1, 4], None, BGR_NIR_LR, rgb_only)


def test_name_table_landsat_and_wavelengths():
    """Landsat numbers count only with the scene id (B4 is red on OLI, NIR on TM/ETM+);
    wavelengths (in a description or a WAVELENGTH tag, nm or µm) give roles too."""
    from dsdit_geo.raster.bands import role_of_wavelength

    names = ("LC08_L2SP_044034_20210601_20210608_02_T1_SR_B4", "LC09_x_SR_B5", "LE07_x_SR_B4", "LT05_x_B1",
             "SR_B4", "nir08", "B8A", "B8A, central wavelength 865 nm", "665", "Band 1")  # fmt: skip
    roles = ["red", "nir", "nir", "blue", None, "nir", None, "nir", None, None]
    assert [role_of_name(n) for n in names] == roles
    assert [role_of_wavelength(v) for v in ("490", "0.56", "665.0", "842", "1610", "x")] == [
        "blue", "green", "red", "nir", None, None
    ]  # fmt: skip
    assert role_of_wavelength("0.842", "micrometers") == "nir"


def test_band_info_reads_colour_names_and_wavelength_tags(tmp_path):
    import numpy as np
    import rasterio
    from rasterio.enums import ColorInterp

    from dsdit_geo.raster.synthetic import write_array

    path = write_array(str(tmp_path / "a.tif"), np.zeros((4, 2, 2), "uint16"), "EPSG:32611", None)
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = (ColorInterp.blue, ColorInterp.undefined, ColorInterp.undefined, ColorInterp.red)
        ds.update_tags(2, WAVELENGTH="0.56", WAVELENGTH_UNIT="micrometers")
        ds.update_tags(3, COMMON_NAME="nir")
        ds.set_band_description(4, "B08")  # a name wins over the colour interpretation
    with rasterio.open(path) as ds:
        info = BandInfo.of(ds)
    assert info.roles == ("blue", "green", "nir", "nir") and info.descriptions == (None, None, None, "B08")
