"""Batch output names stay inside OUTDIR, also through symbolic links."""

from __future__ import annotations

import os

import pytest

from dsdit_geo.batch.paths import resolve_output
from dsdit_geo.errors import ManifestError


def test_a_symlink_out_of_outdir_is_refused(tmp_path):
    outdir, outside = tmp_path / "out", tmp_path / "elsewhere"
    outdir.mkdir()
    outside.mkdir()
    (outdir / "link").symlink_to(outside)
    (outdir / "file.tif").symlink_to(outside / "x.tif")
    for name in ("link/x.tif", "link/sub/x.tif", "file.tif"):
        with pytest.raises(ManifestError, match="leaves OUTDIR through a symbolic link"):
            resolve_output(name, str(outdir), "line 2")
    assert os.listdir(outside) == []


def test_symlinks_that_stay_inside_are_fine(tmp_path):
    real = tmp_path / "real_out"
    (real / "sub").mkdir(parents=True)
    (real / "alias").symlink_to(real / "sub")
    (tmp_path / "out").symlink_to(real)  # OUTDIR itself may be a link
    assert resolve_output("alias/x.tif", str(tmp_path / "out"), "l") == str(
        tmp_path / "out" / "alias" / "x.tif"
    )
    assert resolve_output("new/x.tif", str(tmp_path / "out"), "l") == str(tmp_path / "out" / "new" / "x.tif")
