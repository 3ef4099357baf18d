"""vendor/vega/THIRD_PARTY_NOTICES.md holds a licence notice for every package bundled into the
vendored vega, vega-lite and vega-embed files, at the bundled version.

What each bundle contains is vendor/vega/bundled.json. vendor/vega/notices.py writes it from the
bundles' own source maps when update.sh re-vendors (that needs npm); these tests read only the
committed files, offline."""
import hashlib
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

VENDOR = ROOT / "vendor" / "vega"
# The grant sentence of each licence the bundles use: a notice without one is no licence text.
GRANTS = {"ISC": "Permission to use, copy, modify", "MIT": "Permission is hereby granted",
          "BSD-3-Clause": "Redistribution and use in source and binary forms",
          "Unlicense": "This is free and unencumbered software"}
SECTION = re.compile(r"^## (\S+) (\S+)\n\nLicence: (\S+)\. .*?\n\n```text\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


def load_notices_module():
    """vendor/vega/notices.py, a script beside the bundles, not part of a package."""
    spec = importlib.util.spec_from_file_location("vega_notices", VENDOR / "notices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notices_py = load_notices_module()


def bundled() -> dict:
    return json.loads(notices_py.BUNDLED.read_text(encoding="utf-8"))


def notices() -> dict[tuple[str, str], tuple[str, str]]:
    """(package, version) -> (licence, text) of each notice in THIRD_PARTY_NOTICES.md."""
    text = (VENDOR / "THIRD_PARTY_NOTICES.md").read_text(encoding="utf-8")
    return {(name, version): (spdx, body) for name, version, spdx, body in SECTION.findall(text)}


def test_every_bundled_package_has_a_notice_with_its_licence_text():
    found = notices()
    for bundle, info in bundled()["bundles"].items():
        for content in info["contents"]:
            name, version = content["package"].rsplit("@", 1)
            assert (name, version) in found, \
                f"{bundle} bundles {name} {version} but THIRD_PARTY_NOTICES.md has no notice for it"
            spdx, text = found[(name, version)]
            assert spdx in GRANTS, f"{name} {version}: {spdx} is new here; add its grant sentence to GRANTS"
            assert GRANTS[spdx] in text, f"{name} {version}: the {spdx} notice lacks its licence text"


def test_each_licence_text_is_the_package_s_own_or_its_repository_s():
    """A text from another project would carry another copyright holder."""
    packages = bundled()["packages"]
    repositories = {entry["name"]: entry["repository"] for entry in packages.values()}
    for key, entry in packages.items():
        donor = re.match(r"(.+)@[^@/]+/", entry["license_file"]).group(1)
        same_repository = entry["repository"] is not None and repositories.get(donor) == entry["repository"]
        assert donor == entry["name"] or same_repository, \
            f"{key} has the licence text of {entry['license_file']}, from another repository"


def test_a_version_is_the_one_whose_tarball_holds_the_bundled_files():
    """Only vega's own builds of its own packages may differ from what npm serves (see README.md)."""
    data = bundled()
    for bundle, info in data["bundles"].items():
        pin_repository = data["packages"][info["package"]]["repository"]
        for content in info["contents"]:
            entry = data["packages"][content["package"]]
            files = entry["files"][bundle]
            assert files["count"] == len(content["sources"])
            assert files["differ_from_tarball"] == 0 or (
                entry["repository"] == pin_repository and content["package"] != info["package"]), \
                f"{bundle}: {files['differ_from_tarball']} files of {content['package']} are not its tarball's"


def test_the_listing_is_of_the_vendored_bundles_and_names_each_package_once():
    data = bundled()
    assert sorted(data["bundles"]) == sorted(f"{name}.min.js" for name, _, _ in notices_py.pins())
    for name, version, _ in notices_py.pins():
        info = data["bundles"][f"{name}.min.js"]
        assert info["package"] == f"{name}@{version}"
        assert info["sha256"] == hashlib.sha256((VENDOR / f"{name}.min.js").read_bytes()).hexdigest(), \
            f"bundled.json describes another {name}.min.js: re-run vendor/vega/update.sh"
        keys = [content["package"] for content in info["contents"]]
        assert f"{name}@{version}" in keys and len(keys) == len(set(keys))
        for key in keys:
            assert f"{name}.min.js" in data["packages"][key]["bundles"]
    # vega.min.js bundles all its dependencies (vega-lite and vega-embed load vega from the page).
    assert len(data["bundles"]["vega.min.js"]["contents"]) > 40


def test_the_page_template_carries_the_notices_of_each_bundle():
    """dvc plots show copies template.html into index.html: a copied page keeps the notices."""
    page = (VENDOR / "template.html").read_text(encoding="utf-8")
    data = bundled()
    for key, entry in data["packages"].items():
        for bundle in entry["bundles"]:
            if data["bundles"][bundle]["package"] != key:
                line = f"--- {entry['name']} {entry['version']} ({entry['license']}), bundled in {bundle}:"
                assert f"{line}\n{entry['license_text']}" in page, line


def test_the_notices_file_is_written_from_the_listing():
    check = subprocess.run([sys.executable, str(VENDOR / "notices.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_a_source_map_path_names_its_package():
    names = {"vega-util", "d3-geo"}
    cases = {"../../../node_modules/d3-geo/src/circle.js": ("d3-geo", "src/circle.js"),
             "../node_modules/a/node_modules/@scope/b/lib/x.mjs": ("@scope/b", "lib/x.mjs"),
             "../../vega-util/build/vega-util.module.js": ("vega-util", "build/vega-util.module.js"),
             "../index.js": ("vega", "index.js"),
             "../../src/embed.ts": ("vega", "src/embed.ts")}
    for source, expected in cases.items():
        assert notices_py.package_of(source, "vega", names) == expected, source


def test_a_package_without_a_licence_file_takes_its_repository_s_or_stops():
    text = "Copyright (c) 2015, University of Washington.\nRedistribution and use in source and binary forms"
    packages = {"vega@5.33.1": {"license": "BSD-3-Clause", "repository": "vega/vega",
                                "license_file": "vega@5.33.0/LICENSE", "license_text": text},
                "vega-util@1.17.4": {"license": "BSD-3-Clause", "repository": "vega/vega",
                                     "license_file": None, "license_text": None}}
    notices_py.share_licences(packages, {"vega@5.33.1"})
    assert packages["vega-util@1.17.4"]["license_text"] == text
    orphan = {"x@1.0.0": {"license": "MIT", "repository": "someone/x", "license_file": None, "license_text": None}}
    with pytest.raises(SystemExit, match="x@1.0.0 ships no licence file"):
        notices_py.share_licences(orphan, set())
    assert notices_py.repository_of({"repository": {"url": "git+https://github.com/d3/d3-geo.git"}}) == "d3/d3-geo"
    assert notices_py.repository_of({"repository": "vega/vega"}) == "vega/vega"


def test_files_that_no_version_holds_stop_the_listing_unless_vega_built_them():
    sibling = {"name": "vega-statistics", "repository": "vega/vega"}
    notices_py.refuse_unmatched("vega.min.js", sibling, 1, 1, False, "vega/vega")   # vega's own build
    with pytest.raises(SystemExit, match="no version of it published by then holds"):
        notices_py.refuse_unmatched("vega.min.js", {"name": "d3-geo", "repository": "d3/d3-geo"}, 2, 51, False,
                                    "vega/vega")
    with pytest.raises(SystemExit, match="a package notices.py cannot name"):
        notices_py.refuse_unmatched("vega.min.js", {"name": "vega", "repository": "vega/vega"}, 1, 1, True,
                                    "vega/vega")
