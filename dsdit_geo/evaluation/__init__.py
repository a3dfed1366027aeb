"""Evaluation through the real pipeline (`dsdit-geo evaluate`, issue 5).

    from dsdit_geo.evaluation import dev_split_cases, evaluate_cases
    result = evaluate_cases(dev_split_cases()[:4], scales=(4, 8),
                            methods="bicubic,hpf,dsdit:steps=8;guidance=1.2")
    print(result.table()); result.get("hpf", 4).lpips; result.write_json("eval.json")

Modules: `cases` (which images; reading them), `methods` (method specs with option overrides),
`prepare` (GT / LR / Ref GeoTIFFs per scale), `runner` (`evaluate_cases`), `report` (rows,
aggregates, table, JSON). Pure computation lives in `methods` and `report`.
"""

from dsdit_geo.evaluation.cases import Case, cases_from_path, dev_split_cases, read_case, select_cases
from dsdit_geo.evaluation.methods import DEFAULT_METHODS, MethodSpec, parse_method, parse_methods, parse_scales
from dsdit_geo.evaluation.report import Aggregate, EvaluationResult, RunRow, TrustStats, format_table
from dsdit_geo.evaluation.runner import evaluate_cases

__all__ = [
    "DEFAULT_METHODS",
    "Aggregate",
    "Case",
    "EvaluationResult",
    "MethodSpec",
    "RunRow",
    "TrustStats",
    "cases_from_path",
    "dev_split_cases",
    "evaluate_cases",
    "format_table",
    "parse_method",
    "parse_methods",
    "parse_scales",
    "read_case",
    "select_cases",
]
