"""Band selection: which LR band pairs with which Ref band (pure). Bands are 1-based.

Bands may be named (`red`, `nir`, `B04`, or a band description) and carry a role (red, green,
blue, nir) declared by their colour interpretation, description or BANDNAME tag (Sentinel-2
B02/B03/B04/B08 included). When both inputs declare roles, default pairs go by role, and an
explicit pair of two different declared roles is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsdit_geo.errors import BandError

ROLES = ("red", "green", "blue", "nir")
# Names -> roles. Common names (STAC eo:bands, NAIP descriptions), Landsat's nir08 (OLI B5,
# TM/ETM+ B4), Sentinel-2 B02/B03/B04/B08 (also B2..B8 as GDAL's SENTINEL2 driver writes them;
# not B8A, B12). Landsat's own band numbers count only with the scene id in the name
# (LC08/LC09: OLI B2..B5; LT04/LT05/LE07: TM/ETM+ B1..B4), because B4 is red in one and NIR in the other.
_ROLE_WORDS = {"red": "red", "green": "green", "blue": "blue", "nir": "nir", "nir08": "nir",
               "near-infrared": "nir", "near infrared": "nir", "nearinfrared": "nir"}  # fmt: skip
_S2 = re.compile(r"^b0?([2348])(?![0-9a-z])")
_S2_ROLES = {"2": "blue", "3": "green", "4": "red", "8": "nir"}
_LANDSAT = re.compile(r"^l[cote]0?([4-9])_.*_(?:sr_)?b([1-5])(?![0-9a-z])")
_LANDSAT_ROLES = {"oli": {"2": "blue", "3": "green", "4": "red", "5": "nir"},
                  "tm": {"1": "blue", "2": "green", "3": "red", "4": "nir"}}  # fmt: skip
_NAME_TAGS = ("BANDNAME", "BAND_NAME", "COMMON_NAME", "STANDARD_NAME")
_WAVELENGTH_TEXT = re.compile(r"wavelength\s*:?\s*([0-9.]+)\s*(nm|um|µm|micrometers?|nanometers?)?")
_WAVELENGTH_TAGS = ("WAVELENGTH", "CENTRAL_WAVELENGTH", "CENTER_WAVELENGTH")
_WAVELENGTH_ROLES = ((430, 520, "blue"), (520, 600, "green"), (620, 700, "red"), (760, 900, "nir"))


def role_of_name(name: str | None) -> str | None:
    """'Red' / 'nir' / 'B04' / 'B4, central wavelength 665 nm' / 'LC08_..._SR_B5' -> a role;
    None when unknown."""
    text = (name or "").strip().lower()
    if text in _ROLE_WORDS:
        return _ROLE_WORDS[text]
    found = _S2.match(text)
    if found:
        return _S2_ROLES[found.group(1)]
    landsat = _LANDSAT.match(text)
    if landsat:
        sensor = "oli" if landsat.group(1) in "89" else "tm"
        return _LANDSAT_ROLES[sensor].get(landsat.group(2))
    return role_of_wavelength(text) if "wavelength" in text else None


def role_of_wavelength(text: str | None, unit: str | None = None) -> str | None:
    """'665' / '0.665' (µm) / 'central wavelength 842 nm' -> the role of that centre wavelength."""
    found = _WAVELENGTH_TEXT.search(text or "")
    value_text, unit = (found.group(1), found.group(2) or unit) if found else ((text or "").strip(), unit)
    try:
        value = float(value_text)
    except ValueError:
        return None
    if (unit or "").lower().startswith(("u", "µ", "micro")) or 0.3 < value < 3:
        value *= 1000.0
    return next((role for low, high, role in _WAVELENGTH_ROLES if low <= value < high), None)


@dataclass(frozen=True)
class BandInfo:
    """What a raster declares about its bands (index k describes band k + 1)."""

    roles: tuple[str | None, ...]
    descriptions: tuple[str | None, ...]

    @classmethod
    def of(cls, ds) -> BandInfo:
        """From an open dataset: colour interpretation, description and name tags per band."""
        roles, descriptions = [], []
        for i in range(1, ds.count + 1):
            description = ds.descriptions[i - 1]
            tags = ds.tags(i)
            named = [role_of_name(description)] + [role_of_name(tags.get(key)) for key in _NAME_TAGS]
            unit = tags.get("WAVELENGTH_UNIT") or tags.get("WAVELENGTH_UNITS")
            named += [role_of_wavelength(tags.get(key), unit) for key in _WAVELENGTH_TAGS if tags.get(key)]
            colour = getattr(ds.colorinterp[i - 1], "name", "")
            roles.append(next((r for r in named if r), colour if colour in ROLES else None))
            descriptions.append(description)
        return cls(tuple(roles), tuple(descriptions))

    def index_of(self, name: str, flag: str, role: str) -> int:
        """The 1-based band called `name` (a role, an S2 band name or a description)."""
        wanted = role_of_name(name)
        for i, (band_role, description) in enumerate(zip(self.roles, self.descriptions), start=1):
            if (wanted and band_role == wanted) or (description or "").strip().lower() == name.lower():
                return i
        declared = ", ".join(
            f"{i} {r or d}" for i, (r, d) in enumerate(zip(self.roles, self.descriptions), start=1) if r or d
        )
        raise BandError(
            f"{flag} {name}: the {role} has no band of that name or role "
            f"({'it declares: ' + declared if declared else 'it declares no band names or colours'})"
        )


def _check_range(bands: list[int], count: int, flag: str, role: str) -> None:
    if not bands:
        raise BandError(f"{flag} is empty")
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise BandError(f"{flag} {','.join(map(str, bad))} out of range: the {role} has bands 1..{count}")


def _numbers(bands: list[int | str], info: BandInfo | None, flag: str, role: str) -> list[int]:
    out = []
    for band in bands:
        if isinstance(band, int):
            out.append(band)
        elif info is None:
            raise BandError(f"{flag} {band}: band names need the raster's band information")
        else:
            out.append(info.index_of(band, flag, role))
    return out


def resolve_bands(
    lr_count: int,
    ref_count: int,
    lr_bands: list[int | str] | None,
    ref_bands: list[int | str] | None,
    lr_info: BandInfo | None = None,
    ref_info: BandInfo | None = None,
) -> tuple[list[int], list[int]]:
    """(lr_bands, ref_bands), equal length, 1-based.

    Defaults: every LR band; Ref bands by role when both declare roles (see `_pair_by_role`),
    else the first len(lr_bands) Ref bands. BandError when a band is out of range or unknown,
    the lists differ in length, the Ref has too few bands, or a pair joins two different
    declared roles (e.g. the LR's blue with the Ref's red).
    """
    lr = _numbers(list(lr_bands), lr_info, "--lr-bands", "LR") if lr_bands is not None else None
    lr = lr if lr is not None else list(range(1, lr_count + 1))
    _check_range(lr, lr_count, "--lr-bands", "LR")
    if ref_bands is not None:
        ref = _numbers(list(ref_bands), ref_info, "--ref-bands", "Ref")
        _check_range(ref, ref_count, "--ref-bands", "Ref")
        if len(ref) != len(lr):
            raise BandError(
                f"--lr-bands selects {len(lr)} band(s) but --ref-bands {len(ref)}: they pair by position"
            )
        _check_roles(lr, ref, lr_info, ref_info)
        return lr, ref
    if ref_count < len(lr):
        raise BandError(
            f"the LR has {len(lr)} selected band(s) but the Ref only {ref_count}: choose matching "
            "bands with --lr-bands and --ref-bands (e.g. --lr-bands 1,2,3 --ref-bands 1,2,3)"
        )
    if lr_info and ref_info and any(lr_info.roles[i - 1] for i in lr) and any(ref_info.roles):
        return lr, _pair_by_role(lr, lr_info, ref_info)
    return lr, list(range(1, len(lr) + 1))


def _pair_by_role(lr: list[int], lr_info: BandInfo, ref_info: BandInfo) -> list[int]:
    """Each LR band with a role gets the Ref band of that role; the others take the unused Ref
    bands in order (an LR band whose role the Ref lacks only one without a declared role)."""
    ref: list[int | None] = [None] * len(lr)
    used: set[int] = set()
    for k, band in enumerate(lr):
        role = lr_info.roles[band - 1]
        if role in ref_info.roles:
            ref[k] = ref_info.roles.index(role) + 1
            used.add(ref[k])
    for k, band in enumerate(lr):
        if ref[k] is not None:
            continue
        role = lr_info.roles[band - 1]
        free = [
            j
            for j in range(1, len(ref_info.roles) + 1)
            if j not in used and (role is None or ref_info.roles[j - 1] is None)
        ]
        if not free:
            raise BandError(
                f"LR band {band} ({role or 'no declared role'}) has no Ref band to pair with: "
                "the Ref's bands are taken or declare other colours; choose with --ref-bands"
            )
        ref[k] = free[0]
        used.add(free[0])
    return [j for j in ref if j is not None]


def _check_roles(lr: list[int], ref: list[int], lr_info: BandInfo | None, ref_info: BandInfo | None) -> None:
    if lr_info is None or ref_info is None:
        return
    for a, b in zip(lr, ref):
        ra, rb = lr_info.roles[a - 1], ref_info.roles[b - 1]
        if ra and rb and ra != rb:
            raise BandError(
                f"--lr-bands/--ref-bands pair the LR's band {a} ({ra}) with the Ref's band {b} ({rb}): "
                "pair bands of the same colour (names work too, e.g. --lr-bands red,green,blue)"
            )
