"""docs/findings.md from the committed verdicts: python -m tools.findings > docs/findings.md

The answer (as the report words it), each step's verdict in the default run and in every
re-check (rechecks/*.json, tools/recheck.py), each re-check's claim-score differences, and the
report's two other explanations, through surnames/templates/findings.md.j2. Numbers come only
from the files; tests/test_docs.py renders the page from the committed ones and compares.
"""
import sys
from pathlib import Path

from surnames.errors import Parser, cli
from surnames.figures import SCORE_NAMES
from surnames.ladder import CLAIM_SCORES
from surnames.params import read_params
from surnames.report import (
    answer_context,
    gradient_context,
    length_context,
    read_json,
    read_rechecks,
    recheck_table,
    render,
    setting_text,
    signed,
)

MARKS = {"up": " *", "down": " *", "none": "", "tie": " (tie)"}


def recheck_rows(recheck: dict) -> list[dict]:
    found = {(e["step"], e["score"], e["view"]): e for e in recheck["verdicts"]}
    steps = list(dict.fromkeys(e["step"] for e in recheck["verdicts"]))
    return [{"step": step, "cells": [
        signed(found[step, score, view]) + MARKS[found[step, score, view]["verdict"]]
        for view in recheck["views"] for score in CLAIM_SCORES if (step, score, view) in found]}
        for step in steps]


def page(root: Path = Path(".")) -> str:
    params = read_params(root / "params.yaml")
    ladder, matched = read_json(root / "metrics/ladder.json"), read_json(root / "metrics/matched.json")
    rechecks = read_rechecks(root / "rechecks")
    table = recheck_table([ladder, *rechecks])
    context = answer_context(ladder, params["budgets"], rechecks)
    return render("findings.md.j2", {
        "answer": render("answer.md.j2", context), "table": table, "claim_scores": CLAIM_SCORES,
        "score_names": SCORE_NAMES, "gradient": gradient_context(matched, params["evaluate"]),
        **length_context(matched, []),
        "rechecks": [{"name": r["name"], "setting": setting_text(r), "views": r["views"], "rows": recheck_rows(r)}
                     for r in rechecks]})


@cli
def main(argv):
    Parser(prog="python -m tools.findings", description=__doc__.splitlines()[0]).parse_args(argv)
    sys.stdout.write(page())


if __name__ == "__main__":
    main()
