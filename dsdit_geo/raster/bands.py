"""Band selection: which LR band pairs with which Ref band (pure). Bands are 1-based."""

from __future__ import annotations

from dsdit_geo.errors import BandError


def _check_range(bands: list[int], count: int, flag: str, role: str) -> None:
    if not bands:
        raise BandError(f"{flag} is empty")
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise BandError(f"{flag} {','.join(map(str, bad))} out of range: the {role} has bands 1..{count}")


def resolve_bands(
    lr_count: int, ref_count: int, lr_bands: list[int] | None, ref_bands: list[int] | None
) -> tuple[list[int], list[int]]:
    """(lr_bands, ref_bands), equal length, 1-based, matched by position.

    Defaults: every LR band; the first len(lr_bands) Ref bands. BandError when a band is out of
    range, the lists differ in length, or the Ref has fewer bands than the LR selection.
    """
    lr = list(lr_bands) if lr_bands is not None else list(range(1, lr_count + 1))
    _check_range(lr, lr_count, "--lr-bands", "LR")
    if ref_bands is not None:
        ref = list(ref_bands)
        _check_range(ref, ref_count, "--ref-bands", "Ref")
        if len(ref) != len(lr):
            raise BandError(
                f"--lr-bands selects {len(lr)} band(s) but --ref-bands {len(ref)}: they pair by position"
            )
        return lr, ref
    if ref_count < len(lr):
        raise BandError(
            f"the LR has {len(lr)} selected band(s) but the Ref only {ref_count}: choose matching "
            "bands with --lr-bands and --ref-bands (e.g. --lr-bands 1,2,3 --ref-bands 1,2,3)"
        )
    return lr, list(range(1, len(lr) + 1))
