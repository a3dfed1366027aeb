import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rio_cogeo.cogeo import cog_validate

from dsdit_geo.errors import OutputError
from dsdit_geo.raster import cog
from dsdit_geo.raster.cog import AtomicCogWriter, OutputSpec, check_output_path


def spec(width=700, height=600, **kwargs):
    base = dict(
        crs=CRS.from_epsg(26911),
        transform=Affine(1, 0, 5e5, 0, -1, 4e6),
        width=width,
        height=height,
        count=2,
        dtype="uint16",
        nodata=0,
        descriptions=("B4", "B8"),
        colorinterp=(ColorInterp.red, ColorInterp.undefined),
        tags={"method": "test"},
    )
    base.update(kwargs)
    return OutputSpec(**base)


def image(s: OutputSpec) -> np.ndarray:
    return (
        (np.arange(s.count * s.height * s.width) % 5000 + 1)
        .reshape(s.count, s.height, s.width)
        .astype(s.dtype)
    )


def write(path, s, chunks=(100, 37, 263, 200)):
    data = image(s)
    with AtomicCogWriter(str(path), s) as writer:
        row = 0
        for n in list(chunks) + [s.height]:
            n = min(n, s.height - row)
            if n <= 0:
                break
            valid = np.ones((n, s.width), bool)
            writer.write_rows(row, data[:, row : row + n], valid)
            row += n
        writer.commit()
    return data


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_strips_become_a_valid_cog(tmp_path):
    out = tmp_path / "out.tif"
    data = write(out, spec())
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(), data)
        assert ds.nodata == 0 and ds.descriptions == ("B4", "B8") and ds.tags()["method"] == "test"
        assert ds.colorinterp[0] == ColorInterp.red and ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1) and ds.compression.name == "deflate"
    assert leftovers(tmp_path) == []


def test_output_is_byte_identical_across_runs(tmp_path):
    write(tmp_path / "a.tif", spec(compress="zstd"))
    write(tmp_path / "b.tif", spec(compress="zstd"), chunks=(512, 7))
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()


def test_mask_instead_of_nodata(tmp_path):
    s = spec(nodata=None, write_mask=True, width=50, height=40, dtype="float32")
    out = tmp_path / "masked.tif"
    with AtomicCogWriter(str(out), s) as writer:
        valid = np.ones((40, 50), bool)
        valid[:10, :10] = False
        writer.write_rows(0, np.ones((2, 40, 50), np.float32), valid)
        writer.commit()
    with rasterio.open(out) as ds:
        mask = ds.dataset_mask()
        assert ds.nodata is None and not mask[:10, :10].any() and mask[10:].all()
    assert cog_validate(str(out))[0]


def test_error_or_interrupt_leaves_nothing(tmp_path):
    out = tmp_path / "out.tif"
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with AtomicCogWriter(str(out), spec()) as writer:
                writer.write_rows(0, image(spec())[:, :100])
                assert leftovers(tmp_path)  # the hidden temporary exists while writing
                raise exc
        assert not out.exists() and leftovers(tmp_path) == []


def test_rows_must_come_in_order(tmp_path):
    with AtomicCogWriter(str(tmp_path / "o.tif"), spec()) as writer, pytest.raises(ValueError):
        writer.write_rows(10, image(spec())[:, :5])


def test_check_output_path(tmp_path, monkeypatch):
    out = tmp_path / "out.tif"
    assert check_output_path(str(out), False) == str(out)
    out.write_bytes(b"x")
    with pytest.raises(OutputError, match="exists.*--overwrite"):
        check_output_path(str(out), False)
    assert check_output_path(str(out), True) == str(out)
    with pytest.raises(OutputError, match="folder does not exist"):
        check_output_path(str(tmp_path / "missing" / "out.tif"), False)
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(str(tmp_path), True)

    def refuse(beside, suffix):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cog, "create_hidden_file", refuse)
    with pytest.raises(OutputError, match="not writable.*Permission denied"):
        check_output_path(str(tmp_path / "new.tif"), False)
