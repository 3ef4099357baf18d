"""`dvc plots show` draws every plot with no network: vega, vega-lite and vega-embed come from
vendor/vega/ (inlined by the HTML template that .dvc/config names), not from a CDN.

The page is made by DVC from the plots data in the working tree, opened in headless Chromium
(Debian package `chromium`) with every network request made impossible, and its DOM read back:
each plot of dvc.yaml must have its own vega SVG with its title and its data drawn. The same
check on DVC's default page (scripts from cdn.jsdelivr.net) must find nothing drawn."""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from dvc_render.base import Renderer
from dvc_render.html import PAGE_HTML

from tests.helpers import ROOT

VENDOR = ROOT / "vendor" / "vega"
# Chromium with no way out: a proxy that refuses, every host name unresolvable, no QUIC, no
# background fetches. A script from a CDN cannot load.
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
                 "--enable-logging=stderr", "--v=0"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def plot_definitions() -> list[tuple[str, dict]]:
    """(id, properties) of each plot in dvc.yaml's top-level `plots:`, in order."""
    plots = []
    for entry in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]:
        if isinstance(entry, str):
            plots.append((entry, {}))
        else:
            (plot_id, props), = entry.items()
            plots.append((plot_id, props or {}))
    return plots


class Drawn:
    """What one plot's <div> holds once the page has run."""

    def __init__(self):
        self.svgs: list[dict] = []            # attributes of each vega root <svg class="marks">
        self.titles: list[str] = []           # vega's aria-label "Title text '…'" of each title
        self.paths: list[tuple[str, str]] = []  # (mark type, d) of each drawn path in a data mark
        self.text: list[str] = []             # visible text (not scripts)


class PageScan(HTMLParser):
    """The plots' <div>s (by id) in Chromium's serialized DOM, and what vega drew in each."""

    def __init__(self, div_ids: set[str]):
        super().__init__(convert_charrefs=True)
        self.div_ids = div_ids
        self.plots: dict[str, Drawn] = {}
        self.stack: list[tuple[str, dict]] = []

    def plot(self) -> Drawn | None:
        for tag, attrs in reversed(self.stack):
            if tag == "div" and attrs.get("id") in self.div_ids:
                return self.plots[attrs["id"]]
        return None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "div" and attrs.get("id") in self.div_ids:
            self.plots.setdefault(attrs["id"], Drawn())
        plot = self.plot()
        if plot is not None:
            classes = attrs.get("class", "").split()
            if tag == "svg" and "marks" in classes:
                plot.svgs.append(attrs)
            label = attrs.get("aria-label", "")
            if label.startswith("Title text '") and label.endswith("'"):
                plot.titles.append(label[len("Title text '"):-1])
            if tag == "path":
                mark = next((g for t, g in reversed(self.stack) if t == "g" and "role-mark" in g.get("class", "")),
                            None)
                if mark is not None and attrs.get("d", "").startswith("M"):
                    kind = next(c for c in mark["class"].split() if c.startswith("mark-"))
                    plot.paths.append((kind, attrs["d"]))
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        plot = self.plot()
        if plot is not None and not any(tag in ("script", "style") for tag, _ in self.stack):
            plot.text.append(data)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium not found: this test renders the plots page in Debian's `chromium` package; "
                    "make test installs it (or run apt-get install -y chromium)")
    return found


def make_page(out: Path, *extra: str) -> Path:
    """`dvc plots show` of the working tree's plots into `out`; the page's path."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(out), *extra], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    page = out / "index.html"
    assert page.is_file(), result.stdout + result.stderr
    return page


def render(page: Path) -> tuple[dict[str, Drawn], str]:
    """Each plot's Drawn, by its div id, after Chromium has run the page offline; and the page's console."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), *OFFLINE_FLAGS, f"--user-data-dir={profile}",
                                 "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                                capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-3000:]
    console = "\n".join(line for line in result.stderr.splitlines() if ":CONSOLE" in line)
    ids = {Renderer.remove_special_chars(plot_id) for plot_id, _ in plot_definitions()}
    scan = PageScan(ids)
    scan.feed(result.stdout)
    scan.close()
    return scan.plots, console


def expected_marks(plot_id: str, props: dict) -> tuple[str, int]:
    """(mark type, how many drawn items at least) for a plot's data."""
    if str(props.get("template", "")).startswith("confusion"):
        with open(ROOT / plot_id, newline="") as handle:
            cells = {(row[props["y"]], row[props["x"]]) for row in csv.DictReader(handle)}
        return "mark-rect", len(cells)   # one cell per (actual, predicted) pair seen
    if props.get("template") == "answer":  # .dvc/plots/answer.json: a point per step, score, view and choice
        with open(ROOT / plot_id, newline="") as handle:
            return "mark-symbol", sum(1 for _ in csv.DictReader(handle))
    y = props.get("y")
    series = sum(len(v) if isinstance(v, list) else 1 for v in y.values()) if isinstance(y, dict) else 1
    return "mark-line", series           # one line per (file, field)


def test_vendored_files_are_the_recorded_ones_and_the_template_is_built_from_them():
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    check = subprocess.run([sys.executable, str(VENDOR / "build_template.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.browser
def test_every_plot_draws_with_no_network(tmp_path):
    chromium()
    page = make_page(tmp_path / "plots")   # the template named in .dvc/config
    plots, console = render(page)
    definitions = plot_definitions()
    assert definitions and sum(len(drawn.svgs) for drawn in plots.values()) == len(definitions), console
    for plot_id, props in definitions:
        div = Renderer.remove_special_chars(plot_id)
        assert div in plots, f"{plot_id}: no <div id={div!r}> on the page"
        drawn = plots[div]
        context = f"{plot_id}: {''.join(drawn.text).strip()[:300]!r}\nconsole:\n{console[-3000:]}"
        assert len(drawn.svgs) == 1, context
        assert float(drawn.svgs[0]["width"]) > 100 and float(drawn.svgs[0]["height"]) > 100, context
        assert props.get("title", plot_id) in drawn.titles, (drawn.titles, context)
        kind, least = expected_marks(plot_id, props)
        items = [d for k, d in drawn.paths if k == kind]
        if kind == "mark-line":
            items = [d for d in items if "L" in d]   # a line through two points or more
        assert len(items) >= least, (kind, len(items), least, context)
        assert "error" not in "".join(drawn.text).lower(), context
    html = page.read_text(encoding="utf-8")
    assert html.count("vegaEmbed('#") == len(definitions)
    assert "cdn.jsdelivr.net" not in html and "<script src=" not in html


@pytest.mark.browser
def test_dvc_default_page_draws_nothing_offline(tmp_path):
    """The control: DVC's own template loads vega from a CDN, so offline nothing draws. This shows
    that the network is really cut off and that the check above sees a blank page."""
    chromium()
    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML, encoding="utf-8")
    page = make_page(tmp_path / "plots", "--html-template", str(default))
    assert "cdn.jsdelivr.net/npm/vega@" in page.read_text(encoding="utf-8")
    plots, _ = render(page)
    assert len(plots) == len(plot_definitions())
    assert all(not drawn.svgs and not drawn.paths for drawn in plots.values())
