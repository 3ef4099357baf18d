"""Write vendor/vega/template.html: DVC's plots page with vega, vega-lite and vega-embed inlined.

`dvc plots show` / `dvc plots diff` read this file (`plots.html_template` in .dvc/config), copy its
text into <out>/index.html and replace three placeholders in it: the plots' <div>s, DVC's
<script src="https://cdn..."> tags and a refresh <meta>. This template has the first and the
third but not the second, and carries the three libraries inline instead, so the page draws
with no network, wherever index.html is written (`-o DIR` included): a relative
<script src> would resolve from DIR, not from the repository. Each bundle is preceded by a comment
with its licence and the notices of the packages bundled into it (bundled.json), so a copied
page carries them.

    python3 vendor/vega/build_template.py          # (re)write template.html from the files here
    python3 vendor/vega/build_template.py --check  # exit 1 if template.html is not what it would write
"""
import json
import sys
from pathlib import Path

from notices import BUNDLED, pins  # this folder: the script's own, first on sys.path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.html"
# Strings that must not occur in inlined code: they would end or confuse the <script> element,
# or DVC would replace them (it substitutes {plot_divs}, {refresh_tag} and its CDN-tag placeholder).
FORBIDDEN = ["</script", "<script", "<!--", "{plot_divs}", "{refresh_tag}", "{" + "scripts}"]

HEAD = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- vendor/vega/template.html, written by vendor/vega/build_template.py: vega, vega-lite and
         vega-embed are inlined from vendor/vega/ (see its README.md), so the page needs no network. -->
"""

# DVC writes one `vegaEmbed('#<id>', spec);` per plot. Draw as SVG (crisp, selectable text, and a
# DOM that tests/test_plots_offline.py can inspect), and show a failure in the page, not a blank.
WRAPPER = """<script>
(function () {
    var embed = window.vegaEmbed;
    window.vegaEmbed = Object.assign(function (el, spec, opts) {
        return embed(el, spec, Object.assign({renderer: "svg"}, opts)).catch(function (error) {
            var target = typeof el === "string" ? document.querySelector(el) : el;
            if (target) { target.textContent = "vega-embed error: " + error; }
            throw error;
        });
    }, embed);
})();
</script>
"""

TAIL = """    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def bundled_notices(data: dict, bundle: str) -> str:
    """The notices of the other packages in one bundle, from bundled.json's `data` (see notices.py)."""
    packages, own = data["packages"], data["bundles"][bundle]["package"]
    return "".join(f"\n\n--- {entry['name']} {entry['version']} ({entry['license']}), bundled in {bundle}:\n"
                   f"{entry['license_text']}" for key, entry in packages.items()
                   if bundle in entry["bundles"] and key != own)


def inline(name: str, version: str, data: dict) -> str:
    code = (HERE / f"{name}.min.js").read_text(encoding="utf-8").rstrip("\n")
    license_text = (HERE / f"LICENSE.{name}").read_text(encoding="utf-8").strip()
    notices = bundled_notices(data, f"{name}.min.js")
    for text, what in ((code, f"{name}.min.js"), (license_text, f"LICENSE.{name}"), (notices, "bundled.json")):
        for bad in FORBIDDEN if what.endswith(".min.js") else [*FORBIDDEN, "*/"]:
            if bad in text:
                raise SystemExit(f"error: vendor/vega/{what} contains {bad!r}; it cannot be inlined as is")
    header = (f"/*! {name} {version} (npm), build/{name}.min.js, from vendor/vega/{name}.min.js\n{license_text}"
              f"{notices}\n*/")
    return f"<script>\n{header}\n{code}\n</script>\n"


def render() -> str:
    data = json.loads(BUNDLED.read_text(encoding="utf-8"))
    return HEAD + "".join(inline(name, version, data) for name, version, _ in pins()) + WRAPPER + TAIL


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if not TEMPLATE.is_file() or TEMPLATE.read_text(encoding="utf-8") != text:
            print("error: vendor/vega/template.html is out of date: run python3 vendor/vega/build_template.py",
                  file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    TEMPLATE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
