"""Output paths: only regular files are replaced; without --overwrite nothing is clobbered."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from dsdit_geo.errors import OutputError
from dsdit_geo.raster import publish as publish_module
from dsdit_geo.raster.cog import AtomicCogWriter, OutputSpec, check_output_path
from dsdit_geo.raster.publish import node_kind, publish, settle, unpublish


def spec(width: int = 64, height: int = 48, **kwargs) -> OutputSpec:
    base = {
        "crs": CRS.from_epsg(26911),
        "transform": Affine(1, 0, 5e5, 0, -1, 4e6),
        "count": 2,
        "dtype": "uint16",
    }
    base.update(width=width, height=height, nodata=0)
    return OutputSpec(**{**base, **kwargs})


def image(s: OutputSpec) -> np.ndarray:
    return (
        (np.arange(s.count * s.height * s.width) % 5000 + 1)
        .reshape(s.count, s.height, s.width)
        .astype(s.dtype)
    )


def leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_fifo_and_device_refused_even_with_overwrite(tmp_path):
    fifo = tmp_path / "out.tif"
    os.mkfifo(fifo)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="is a FIFO"):
            check_output_path(str(fifo), overwrite)
    with pytest.raises(OutputError, match="character device"):
        check_output_path("/dev/null", True)
    link = tmp_path / "link.tif"
    link.symlink_to("/dev/null")
    with pytest.raises(OutputError, match="character device"):
        check_output_path(str(link), True)
    assert node_kind(str(tmp_path / "absent.tif")) is None


def test_fifo_appearing_before_publish_is_refused(tmp_path):
    tmp, out = tmp_path / ".tmp", tmp_path / "out.tif"
    tmp.write_bytes(b"new")
    os.mkfifo(out)
    with pytest.raises(OutputError, match="FIFO"):
        publish(str(tmp), str(out), overwrite=True)
    assert node_kind(str(out)) == "a FIFO (named pipe)"


@pytest.mark.parametrize("links", [True, False])
def test_publish_never_clobbers_without_overwrite(tmp_path, monkeypatch, links):
    if not links:  # a filesystem without hard links: claim the name exclusively, then replace

        def no_link(src, dst):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(publish_module.os, "link", no_link)
    tmp, out = tmp_path / ".tmp", tmp_path / "out.tif"
    tmp.write_bytes(b"mine")
    publish(str(tmp), str(out), overwrite=False)
    assert out.read_bytes() == b"mine" and not tmp.exists()
    tmp.write_bytes(b"loser")
    with pytest.raises(OutputError, match="appeared while this run was writing"):
        publish(str(tmp), str(out), overwrite=False)
    assert out.read_bytes() == b"mine"
    publish(str(tmp), str(out), overwrite=True)
    assert out.read_bytes() == b"loser" and not tmp.exists()


def test_racing_writers_the_loser_fails_and_the_winner_stays(tmp_path):
    out = tmp_path / "out.tif"
    s = spec(width=64, height=48)
    data = image(s)
    with AtomicCogWriter(str(out), s) as first, AtomicCogWriter(str(out), s) as second:
        for writer, values in ((first, data), (second, data[::-1].copy())):
            writer.write_rows(0, values, np.ones((48, 64), bool))
        first.commit()
        winner = out.read_bytes()
        with pytest.raises(OutputError, match="appeared"):
            second.commit()
    assert out.read_bytes() == winner and leftovers(tmp_path) == []


@pytest.mark.parametrize("links", [True, False])
def test_unpublish_brings_back_what_was_there(tmp_path, monkeypatch, links):
    """keep_previous: a replaced file comes back on unpublish, or (no hard links) is reported lost;
    settle drops the hidden link; a file that is not ours any more is left alone."""
    if not links:

        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(publish_module.os, "link", no_link)
    tmp, out = tmp_path / ".tmp", tmp_path / "out.tif"
    out.write_bytes(b"old")
    tmp.write_bytes(b"new")
    published = publish(str(tmp), str(out), overwrite=True, keep_previous=True)
    assert out.read_bytes() == b"new" and published.replaced
    assert len(leftovers(tmp_path)) == (1 if links else 0)  # the hidden .out.tif.*.prev.tif
    assert unpublish(published) is links
    assert (out.read_bytes() == b"old") if links else not out.exists()
    assert leftovers(tmp_path) == []

    out.unlink(missing_ok=True)
    tmp.write_bytes(b"new")  # nothing there before: unpublish leaves the path empty
    published = publish(str(tmp), str(out), overwrite=False, keep_previous=True)
    assert not published.replaced and unpublish(published) and not out.exists()

    out.write_bytes(b"old")
    tmp.write_bytes(b"new")
    published = publish(str(tmp), str(out), overwrite=True, keep_previous=True)
    settle(published)
    assert out.read_bytes() == b"new" and leftovers(tmp_path) == []
    os.remove(out)
    out.write_bytes(b"someone else's")  # not the file we published: left alone
    assert unpublish(published) and out.read_bytes() == b"someone else's"


def test_a_kept_previous_file_is_a_temporary_of_its_output(tmp_path):
    from dsdit_geo.raster.temps import temp_pattern

    tmp, out = tmp_path / ".tmp", tmp_path / "out.tif"
    out.write_bytes(b"old")
    tmp.write_bytes(b"new")
    published = publish(str(tmp), str(out), overwrite=True, keep_previous=True)
    assert published.previous and temp_pattern(["out.tif"]).match(os.path.basename(published.previous))
    with open(published.previous, "rb") as kept:
        assert kept.read() == b"old"
    settle(published)


@pytest.mark.parametrize("links", [True, False])
def test_outputs_committed_together_are_all_or_nothing(tmp_path, monkeypatch, links):
    """The second output fails to publish: the first is taken back, the old files stay (without
    hard links the replaced first file is gone, and the message says so)."""
    from dsdit_geo.raster import cog

    if not links:

        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(publish_module.os, "link", no_link)
    s = spec()
    first, second = tmp_path / "first.tif", tmp_path / "second.tif"
    first.write_bytes(b"old first")
    real = cog.publish

    def failing(tmp, path, *args, **kwargs):
        if path == str(second):
            raise OSError(errno.EIO, "Input/output error")
        return real(tmp, path, *args, **kwargs)

    monkeypatch.setattr(cog, "publish", failing)
    with AtomicCogWriter(str(first), s, overwrite=True) as a, AtomicCogWriter(str(second), s) as b:
        for writer in (a, b):
            writer.write_rows(0, image(s), np.ones((s.height, s.width), bool))
        with pytest.raises(OutputError, match="second.tif failed: .*Input/output error") as error:
            cog.commit_together([a, b])
    assert ("could not be restored" in str(error.value)) is not links
    assert (first.read_bytes() == b"old first") if links else not first.exists()
    assert not second.exists() and leftovers(tmp_path) == []
    monkeypatch.setattr(cog, "publish", real)
    with AtomicCogWriter(str(first), s, overwrite=True) as a, AtomicCogWriter(str(second), s) as b:
        for writer in (a, b):
            writer.write_rows(0, image(s), np.ones((s.height, s.width), bool))
        cog.commit_together([a, b])
    assert first.read_bytes() != b"old first" and second.exists() and leftovers(tmp_path) == []
