"""Pairing rules: MANIFEST written as `'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]'`.

LR_GLOB is a local glob (`*`, `?`, `[...]`, `**` for any depth), relative to the working
directory. Every matching file is an LR. REF_TEMPLATE and OUT_TEMPLATE are built per LR from:

    {stem}   the LR's file name without extension     (s2/T11_S2.tif -> T11_S2)
    {name}   the LR's file name                       (T11_S2.tif)
    {1} {2}  the text matched by the 1st, 2nd ... wildcard (`*`, `?` or `**`) of LR_GLOB
    {{ }}    literal braces

e.g. `'scenes/*_S2.tif => naip/{1}_NAIP.tif => {1}_sr.tif'`. The Ref may be a GDAL path
(`/vsizip/naip.zip/{1}.tif`); when it still holds wildcards after substitution (a local glob,
e.g. `naip/{1}_*.tif`) it must match exactly one file, otherwise that item fails (the others
run). OUT_TEMPLATE defaults to `{stem}_sr.tif`, relative to OUTDIR.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from dsdit_geo.batch.manifest import DEFAULT_OUT_TEMPLATE, BatchItem
from dsdit_geo.batch.paths import check_unique_outputs, is_gdal_path, resolve_input, resolve_output
from dsdit_geo.errors import ManifestError

RULE_SEPARATOR = "=>"
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class PairingRule:
    """A parsed rule; `captures` is the number of wildcards in `lr_glob`."""

    lr_glob: str
    ref_template: str
    out_template: str
    captures: int


def parse_rule(text: str) -> PairingRule:
    """Parse 'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]'; ManifestError when malformed."""
    parts = [part.strip() for part in text.split(RULE_SEPARATOR)]
    if len(parts) not in (2, 3) or not all(parts):
        raise ManifestError(f"pairing rule {text!r} must read 'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]'")
    lr_glob, ref_template = parts[0], parts[1]
    out_template = parts[2] if len(parts) == 3 else DEFAULT_OUT_TEMPLATE
    if is_gdal_path(lr_glob):
        raise ManifestError(
            f"the LR pattern {lr_glob!r} must be a local glob: list GDAL paths in a CSV manifest"
        )
    _, captures = glob_regex(os.path.expanduser(lr_glob))
    for what, template in (("Ref", ref_template), ("output", out_template)):
        _check_template(template, captures, what)
    if is_gdal_path(ref_template) and _WILDCARD.search(_strip_fields(ref_template)):
        raise ManifestError(
            f"the Ref template {ref_template!r} has wildcards, which only work for local files"
        )
    return PairingRule(lr_glob, ref_template, out_template, captures)


def expand_rule(rule: PairingRule, outdir: str, base: str | None = None) -> list[BatchItem]:
    """One BatchItem per file matching the LR glob (sorted), relative paths against `base`
    (default: the working directory). ManifestError when nothing matches or outputs collide."""
    base = os.path.abspath(base or os.getcwd())
    pattern = os.path.expanduser(rule.lr_glob)
    regex, _ = glob_regex(pattern)
    matches = sorted(
        path
        for path in glob.glob(pattern, root_dir=base, recursive=True)
        if os.path.isfile(os.path.join(base, path))
    )
    if not matches:
        raise ManifestError(f"the pairing rule's LR pattern {rule.lr_glob!r} matches no file")
    items = []
    for index, match in enumerate(matches):
        found = regex.match(match)
        groups = tuple(g or "" for g in found.groups()) if found else ("",) * rule.captures
        name = os.path.basename(match)
        fields = {"stem": os.path.splitext(name)[0], "name": name}
        fields.update({str(k + 1): value for k, value in enumerate(groups)})
        where = f"LR {match!r}"
        ref, problem = _ref_for(rule.ref_template, fields, base)
        out = resolve_output(fill_template(rule.out_template, fields), outdir, where)
        items.append(BatchItem(index, resolve_input(match, base), ref, out, where, problem=problem))
    check_unique_outputs([(item.out, item.where) for item in items])
    return items


def _ref_for(template: str, fields: dict[str, str], base: str) -> tuple[str, str | None]:
    """The Ref path for one LR, and a problem message when its glob is not exactly one file."""
    if not _WILDCARD.search(_strip_fields(template)):
        return resolve_input(fill_template(template, fields), base), None
    escaped = {key: glob.escape(value) for key, value in fields.items()}
    pattern = os.path.expanduser(fill_template(template, escaped))
    found = sorted(
        path
        for path in glob.glob(pattern, root_dir=base, recursive=True)
        if os.path.isfile(os.path.join(base, path))
    )
    ref = resolve_input(pattern, base)
    if not found:
        return ref, f"no Ref file matches {pattern}"
    if len(found) > 1:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        return ref, f"{len(found)} Ref files match {pattern} ({shown}): make the rule more specific"
    return resolve_input(found[0], base), None


def fill_template(template: str, fields: dict[str, str]) -> str:
    """Replace {field}s (and {{ / }}) in a template already checked by `_check_template`."""

    def substitute(match: re.Match) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        return fields[match.group(1)]

    return _FIELD.sub(substitute, template)


def _check_template(template: str, captures: int, what: str) -> None:
    for match in _FIELD.finditer(template):
        text, field = match.group(0), match.group(1)
        if text in ("{{", "}}"):
            continue
        if field is None:
            raise ManifestError(
                f"the {what} template {template!r} has an unpaired brace (write {{{{ or }}}})"
            )
        if field in ("stem", "name"):
            continue
        if field.isdigit() and 1 <= int(field) <= captures:
            continue
        known = "{stem}, {name}" + (f" or {{1}}..{{{captures}}}" if captures else "")
        raise ManifestError(
            f"the {what} template {template!r} uses {{{field}}}: use {known} "
            f"({{N}} is the text matched by the N-th wildcard of the LR pattern, which has {captures})"
        )


def _strip_fields(template: str) -> str:
    return _FIELD.sub("", template)


def glob_regex(pattern: str) -> tuple[re.Pattern[str], int]:
    """A regex matching what `glob(pattern, recursive=True)` returns, with one group per
    wildcard (`*`, `?`, `**`), and the number of groups. `[...]` classes are not captured."""
    out: list[str] = []
    groups = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:(.*)/)?")
            groups, i = groups + 1, i + 3
        elif pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/") and i + 2 == len(pattern):
            out.append("(.*)")
            groups, i = groups + 1, i + 2
        elif char == "*":
            while i + 1 < len(pattern) and pattern[i + 1] == "*":  # 'a**b' acts as 'a*b'
                i += 1
            out.append("([^/]*)")
            groups, i = groups + 1, i + 1
        elif char == "?":
            out.append("([^/])")
            groups, i = groups + 1, i + 1
        elif char == "[":
            start = i + 1
            if start < len(pattern) and pattern[start] == "!":
                start += 1
            if start < len(pattern) and pattern[start] == "]":
                start += 1
            end = pattern.find("]", start)
            if end < 0:
                out.append(re.escape(char))
                i += 1
                continue
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL), groups
