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
