"""The docs stay true: a short README that links every docs/ page, links that resolve, the
params page generated from the schema, and the README's headline table equal to what
`python -m stages.report --summary` prints from the committed metrics."""
import re
import subprocess
from pathlib import Path

import pytest

from surnames.params import schema_page
from tests.helpers import ROOT, call_main, inside

HEADLINE = "<!-- headline: the output of `python -m stages.report --summary`; tests/test_docs.py checks it -->"
ANSWER = ("<!-- answer: report/readme_answer.md, written by the report stage from metrics/ladder.json; "
          "tests/test_docs.py checks it -->")
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert PAGES and all(f"(docs/{page.name})" in readme for page in PAGES)


def test_every_relative_link_in_the_readme_and_docs_resolves():
    for page in [ROOT / "README.md", *PAGES]:
        for target in LINK.findall(page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to a missing {target}"


def test_docs_params_is_the_schema_as_generated():
    assert (ROOT / "docs/params.md").read_text() == schema_page(), (
        "docs/params.md is stale: run python -m stages.params --describe > docs/params.md")


def committed(paths: list[str], into: Path) -> bool:
    """HEAD's version of `paths` (files or folders) written under `into`; False outside a git checkout."""
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD", "--", *paths], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout.strip():
        return False
    for name in listed.stdout.split():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True,
                                          check=True).stdout)
    return True


def test_the_readme_headline_block_is_what_report_summary_prints(capsys, tmp_path):
    """From the committed metrics (git show HEAD:...), not the workspace's: a `make repro` on
    another CPU gives other last digits, and the README shows the committed run."""
    if not committed(["dvc.yaml", "params.yaml", "metrics", "surnames/registry.yaml"], tmp_path):
        pytest.skip("not a git checkout: the committed metrics cannot be read")
    with inside(tmp_path):
        assert call_main("report", "--summary") == 0
    printed = capsys.readouterr().out
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADLINE) + 1
    assert lines[start] == "```text"
    block = lines[start + 1 : lines.index("```", start + 1)]
    assert block == printed.rstrip("\n").splitlines(), "README's headline table differs from the committed metrics"


def test_the_readme_answer_is_the_committed_report_s(tmp_path):
    """The README's answer is the report stage's readme_answer.md, as committed (a `make repro`
    on another CPU may word other last digits)."""
    source = tmp_path / "report/readme_answer.md"
    if not committed(["report/readme_answer.md"], tmp_path):
        source = ROOT / "report/readme_answer.md"
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(ANSWER) + 1
    expected = source.read_text().splitlines()
    assert lines[start:start + len(expected)] == expected and lines[start + len(expected)] == ""
    assert len(re.findall(r"(?<=[.!?])(\*\*)?(\s|$)", "\n".join(expected))) <= 3, "at most three sentences"


def test_docs_findings_is_generated_from_the_committed_verdicts(tmp_path):
    """Every number on docs/findings.md is read from the file it names: the page is what
    tools/findings.py renders from the committed metrics and re-checks."""
    from tools import findings
    if not committed(["params.yaml", "metrics/ladder.json", "metrics/matched.json", "rechecks"], tmp_path):
        pytest.skip("not a git checkout: the committed metrics cannot be read")
    assert (ROOT / "docs/findings.md").read_text() == findings.page(tmp_path), (
        "docs/findings.md is stale: run python -m tools.findings > docs/findings.md")


def test_nothing_is_left_to_measure():
    for page in [ROOT / "README.md", *PAGES]:
        assert "TODO" not in page.read_text(), page.name
