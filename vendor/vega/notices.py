"""Find every npm package bundled into the vendored bundles; write their notices.

Each npm tarball ships its bundle's source map (build/<name>.min.js.map). Its `sources` name every
file that went into the bundle, and its `sourcesContent` holds their text. A file under
`node_modules/<pkg>/` belongs to <pkg>. A path such as `../../vega-util/build/…` is a package
of vega's own repository (a monorepo), and anything else is the pinned package's own code.
That gives which packages are bundled.

The version of each is the newest one whose npm tarball holds those files byte for byte, among
those published by a day after the pin's release. The candidates are the copies that `npm
install` of the pinned tarball resolves as of then, then the versions that the dependents' ranges
allow, then every other version. A package of the pin's own repository that no version matches
is recorded with the resolved version and how many of its files differ (vega builds its own
packages from its repository, so some builds differ from the published ones); any other stops
the run. The licence text is the
tarball's own LICENSE (LICENCE, COPYING, NOTICE) file, or the earlier tarball that `versions`
names with license-from=. A package that ships none (10 of vega's own at these versions:
vega-dataflow, vega-util, …) gets its repository's: the text of a bundled package with the same repository and licence.

    python3 vendor/vega/notices.py collect WORK  # WORK holds npm pack's <name>-<version>.tgz
                                                 # of each pin; needs npm (update.sh runs this)
    python3 vendor/vega/notices.py               # rewrite THIRD_PARTY_NOTICES.md from bundled.json
    python3 vendor/vega/notices.py --check       # exit 1 if it is not what that would write

`collect` writes bundled.json (the bundles' sources, by package, and each package's version,
licence and text) and THIRD_PARTY_NOTICES.md, rendered from it.
"""
import hashlib
import io
import json
import posixpath
import re
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLED = HERE / "bundled.json"
NOTICES = HERE / "THIRD_PARTY_NOTICES.md"
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|notice)(\.[a-z]+)?$", re.IGNORECASE)
# A release of vega's monorepo publishes its packages one after another, in no dependency order
# (vega-crossfilter 4.1.4 went out a second after vega 5.33.1). Resolving as of a day after the
# pin's own publication sees that whole release and nothing much later.
RELEASE_WINDOW = timedelta(days=1)


def npm(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"error: npm {' '.join(args)} failed: {last}")
    return done.stdout


def pins() -> list[tuple[str, str, str | None]]:
    """(package, version, license-from version or None) from vendor/vega/versions, in loading order."""
    rows = []
    for line in (HERE / "versions").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version, *extra = line.split()
            license_from = next((e.split("=", 1)[1] for e in extra if e.startswith("license-from=")), None)
            rows.append((name, version, license_from))
    return rows


def tarball_files(path: Path) -> dict[str, bytes]:
    """The files of an npm tarball, by path below its `package/` folder."""
    files = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name.split("/", 1)[1]] = tar.extractfile(member).read()
    return files


class Registry:
    """npm packages fetched with `npm pack` into one folder, each read once."""

    def __init__(self, work: Path):
        self.folder = work / "packs"
        self.folder.mkdir(exist_ok=True)
        self.cache: dict[str, dict[str, bytes]] = {}
        self.times: dict[str, dict[str, datetime]] = {}

    def files(self, name: str, version: str) -> dict[str, bytes]:
        key = f"{name}@{version}"
        if key not in self.cache:
            tarball = npm("pack", "--silent", "--pack-destination", str(self.folder), key).strip().splitlines()[-1]
            self.cache[key] = tarball_files(self.folder / tarball)
        return self.cache[key]

    def published(self, name: str) -> dict[str, datetime]:
        """When each version of `name` was published."""
        if name not in self.times:
            times = json.loads(npm("view", name, "time", "--json"))
            self.times[name] = {version: datetime.fromisoformat(when.replace("Z", "+00:00"))
                                for version, when in times.items() if version not in ("created", "modified")}
        return self.times[name]

    def versions(self, name: str, spec: str | None = None, before: datetime | None = None) -> list[str]:
        """The published versions of `name` (that `spec` allows, published by `before`), newest first."""
        # `npm view NAME@* version` gives the latest only; `versions` gives them all.
        query = [f"{name}@{spec}", "version"] if spec else [name, "versions"]
        found = json.loads(npm("view", *query, "--json") or "[]")
        found = [found] if isinstance(found, str) else found
        if before is not None:
            found = [v for v in found if v in self.published(name) and self.published(name)[v] <= before]
        return sorted(found, key=version_key, reverse=True)


def version_key(version: str) -> tuple:
    core, _, pre = version.partition("-")
    return (*(int(p) for p in core.split(".")), pre == "", pre)


def install(work: Path, name: str, tarball: Path, before: datetime) -> Path:
    """`npm install` the pinned tarball alone, as of `before`; returns its node_modules."""
    tree = work / f"tree-{name}"
    tree.mkdir()
    (tree / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    # Peer dependencies (vega for vega-lite, …) are left out: the bundles load them from globals.
    npm("install", "--ignore-scripts", "--no-audit", "--no-fund", "--legacy-peer-deps",
        f"--before={before.isoformat()}", str(tarball), cwd=tree)
    return tree / "node_modules"


def installed(modules: Path) -> dict[Path, dict]:
    """{folder: its package.json} of every package below node_modules, nested copies included."""
    folders = sorted(p.parent for p in modules.rglob("package.json")
                     if p.parent.parent.name == "node_modules"
                     or (p.parent.parent.name.startswith("@") and p.parent.parent.parent.name == "node_modules"))
    return {folder: json.loads((folder / "package.json").read_text()) for folder in folders}


def package_of(source: str, own: str, names: set[str]) -> tuple[str, str]:
    """(package, path inside it) of one source-map entry."""
    parts = source.split("/")
    if "node_modules" in parts:
        rest = parts[len(parts) - parts[::-1].index("node_modules"):]
        cut = 2 if rest[0].startswith("@") else 1
        return "/".join(rest[:cut]), "/".join(rest[cut:])
    rest = [p for p in posixpath.normpath(source).split("/") if p != ".."]
    if len(rest) > 1 and rest[0] in names and rest[0] != own:   # a sibling package of a monorepo
        return rest[0], "/".join(rest[1:])
    return own, "/".join(rest)


def sources_by_package(source_map: dict, own: str, names: set[str]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = {}
    contents = source_map.get("sourcesContent") or []
    for index, source in enumerate(source_map["sources"]):
        content = contents[index] if index < len(contents) else None
        if content is None:
            raise SystemExit(f"error: the source map of {own} has no content for {source}")
        package, path = package_of(source, own, names)
        if path in grouped.get(package, {}):
            raise SystemExit(f"error: {own}'s bundle holds two copies of {package}/{path} (two versions of "
                             f"{package}?); notices.py lists one version of a package per bundle")
        grouped.setdefault(package, {})[path] = content
    return grouped


def differing(files: dict[str, bytes], wanted: dict[str, str]) -> int:
    """How many of the bundled files the package does not hold byte for byte."""
    return sum(files.get(path) != text.encode("utf-8") for path, text in wanted.items())


def folder_files(folder: Path, paths) -> dict[str, bytes]:
    return {p: (folder / p).read_bytes() for p in paths if (folder / p).is_file()}


def identify(name: str, wanted: dict[str, str], tree: dict[Path, dict], registry: Registry,
             before: datetime) -> tuple[str, int]:
    """(version, files that differ) of a bundled package: the first candidate that holds every file.

    Candidates are published by `before`: a later version cannot be the one the bundle was built
    with, even if it holds the same files."""
    copies = [(folder, manifest["version"]) for folder, manifest in tree.items() if manifest["name"] == name]
    if not copies:
        raise SystemExit(f"error: {name} is bundled but npm install did not resolve it")
    tried: dict[str, int] = {}  # version -> files that differ, in the order tried
    for folder, version in copies:
        tried[version] = differing(folder_files(folder, wanted), wanted)
        if tried[version] == 0:
            return version, 0
    # The dependents' ranges first; then any other version: a range of this tree may not be the
    # one the bundle was built with (delaunator 5.0.0 and 5.0.1 ask for different robust-predicates).
    candidates = [v for spec in sorted(ranges(name, tree)) for v in registry.versions(name, spec, before)]
    for version in dict.fromkeys(candidates + registry.versions(name, before=before)):
        if version not in tried:
            tried[version] = differing(registry.files(name, version), wanted)
            if tried[version] == 0:
                return version, 0
    return next(iter(tried.items()))


def ranges(name: str, tree: dict[Path, dict]) -> set[str]:
    """The version ranges that the resolved packages declare for `name`."""
    return {manifest["dependencies"][name] for manifest in tree.values() if name in manifest.get("dependencies", {})}


def license_text(files: dict[str, bytes]) -> tuple[str, str] | None:
    """(file names, text) of a package's licence files (LICENSE and NOTICE, say), if it ships any."""
    paths = sorted(path for path in files if "/" not in path and LICENSE_FILE.match(path))
    if not paths:
        return None
    return ", ".join(paths), "\n\n".join(files[path].decode("utf-8").strip() for path in paths)


def repository_of(manifest: dict) -> str | None:
    """owner/name of a package's GitHub repository ("vega/vega", "git+https://github.com/d3/d3-geo.git")."""
    repository = manifest.get("repository")
    url = repository.get("url") if isinstance(repository, dict) else repository
    if not url:
        return None
    return re.sub(r"^(git\+)?(https?|git|ssh)://(git@)?github\.com/|^git@github\.com:|^github:|\.git$", "",
                  url).rstrip("/") or None


def license_of(name: str, version: str, registry: Registry, license_from: str | None) -> dict:
    """The licence of one package version: its SPDX field, repository and, if it ships one, its text."""
    manifest = json.loads(registry.files(name, version)["package.json"])
    spdx = manifest.get("license") or "(none declared)"
    entry = {"license": spdx.get("type", "(none declared)") if isinstance(spdx, dict) else spdx,
             "repository": repository_of(manifest), "license_file": None, "license_text": None}
    for candidate in [version, license_from] if license_from else [version]:
        found = license_text(registry.files(name, candidate))
        if found:
            entry.update(license_file=f"{name}@{candidate}/{found[0]}", license_text=found[1])
            break
    return entry


def share_licences(packages: dict, pinned: set[str]) -> None:
    """Give a package whose tarball ships no licence file the one of its repository.

    10 of vega's own packages (vega-dataflow, vega-util, …) ship none at the bundled versions;
    vega/vega's LICENSE covers them. It is taken from a package of the same repository and licence, a pin first.
    """
    for key, entry in packages.items():
        if entry["license_text"] is None:
            donors = sorted((k not in pinned, k) for k, e in packages.items() if e["license_text"]
                            and e["repository"] == entry["repository"] and e["license"] == entry["license"])
            if not entry["repository"] or not donors:
                raise SystemExit(f"error: {key} ships no licence file and no other bundled package of its "
                                 f"repository ({entry['repository']}) has one; add its text by hand")
            donor = packages[donors[0][1]]
            entry.update(license_file=donor["license_file"], license_text=donor["license_text"])


def read_source_map(tarball: Path, name: str) -> tuple[dict[str, bytes], dict]:
    """The pinned tarball's files and its bundle's source map."""
    files = tarball_files(tarball)
    bundle = f"{name}.min.js"
    source_map = json.loads(files[f"build/{bundle}.map"])
    if source_map.get("file") != bundle:
        raise SystemExit(f"error: build/{bundle}.map of {tarball.name} maps {source_map.get('file')!r}")
    return files, source_map


def refuse_unmatched(bundle: str, entry: dict, differ: int, count: int, own: bool, repository: str) -> None:
    """Stop unless a package's bundled files are its tarball's, or it is built by the pin's own repository.

    A pin's own path that holds files its tarball lacks is a package package_of could not name.
    vega builds its own packages from its repository, so a few of those builds differ from the
    published ones; from anywhere else, differing files mean a version this cannot tell.
    """
    if differ and (own or entry["repository"] != repository):
        what = f"{bundle} bundles {differ} of {count} files under {entry['name']}"
        raise SystemExit(f"error: {what} that its tarball lacks (a package notices.py cannot name)" if own else
                         f"error: {what} that no version of it published by then holds; its version is unknown")


def list_bundle(work: Path, pin: tuple[str, str, str | None], registry: Registry, packages: dict) -> dict:
    """One bundle's listing: each package in it, at its version; adds their entries to `packages`."""
    name, version, license_from = pin
    bundle = f"{name}.min.js"
    tarball = work / f"{name}-{version}.tgz"
    files, source_map = read_source_map(tarball, name)
    registry.cache[f"{name}@{version}"] = files
    before = registry.published(name)[version] + RELEASE_WINDOW
    modules = install(work, name, tarball, before)
    repository = repository_of(json.loads(files["package.json"]))
    tree = installed(modules)
    names = {manifest["name"] for manifest in tree.values()}
    contents = []
    for package, wanted in sorted(sources_by_package(source_map, name, names).items()):
        own = package == name
        found, differ = (version, differing(files, wanted)) if own else \
            identify(package, wanted, tree, registry, before)
        key = f"{package}@{found}"
        if key not in packages:
            packages[key] = {"name": package, "version": found, "bundles": [], "files": {},
                             **license_of(package, found, registry, license_from if own else None)}
        refuse_unmatched(bundle, packages[key], differ, len(wanted), own, repository)
        packages[key]["bundles"].append(bundle)
        packages[key]["files"][bundle] = {"count": len(wanted), "differ_from_tarball": differ}
        contents.append({"package": key, "sources": sorted(wanted)})
        print(f"{bundle}: {key} ({len(wanted)} files, {differ} differ from its tarball), {packages[key]['license']}")
    return {"package": f"{name}@{version}", "sha256": hashlib.sha256(files[f"build/{bundle}"]).hexdigest(),
            "source_map_sha256": hashlib.sha256(files[f"build/{bundle}.map"]).hexdigest(), "contents": contents}


def collect(work: Path) -> dict:
    """bundled.json's data: every bundle's listing and every bundled package's licence."""
    registry, packages = Registry(work), {}
    bundles = {f"{pin[0]}.min.js": list_bundle(work, pin, registry, packages) for pin in pins()}
    share_licences(packages, {f"{name}@{version}" for name, version, _ in pins()})
    return {"bundles": bundles, "packages": dict(sorted(packages.items()))}


def render(data: dict) -> str:
    """THIRD_PARTY_NOTICES.md: a table of what each bundle holds, then each package's licence."""
    out = io.StringIO()
    out.write("# Third-party notices: vendor/vega\n\n"
              "Written by `vendor/vega/notices.py` from `bundled.json` (`update.sh` makes both); do not edit.\n\n"
              "The three bundles here contain the npm packages below, as their source maps record them. "
              "A version is the one whose npm tarball holds the bundled files byte for byte; where none does, "
              "the row says how many files differ from the tarball of the version npm resolves. "
              "See `vendor/vega/README.md`.\n\n"
              "| package | version | licence | bundled in | files | differ from the tarball |\n"
              "|---|---|---|---|---|---|\n")
    for key, entry in data["packages"].items():
        for bundle in entry["bundles"]:
            files = entry["files"][bundle]
            out.write(f"| {entry['name']} | {entry['version']} | {entry['license']} | {bundle} | "
                      f"{files['count']} | {files['differ_from_tarball']} |\n")
    for key, entry in data["packages"].items():
        source = entry["repository"] or "(no repository declared)"
        source = f"github.com/{source}" if re.fullmatch(r"[\w.-]+/[\w.-]+", source) else source
        out.write(f"\n## {entry['name']} {entry['version']}\n\n"
                  f"Licence: {entry['license']}. Source: {source}. Text: `{entry['license_file']}`.\n\n"
                  f"```text\n{entry['license_text']}\n```\n")
    return out.getvalue()


def main(argv: list[str]) -> int:
    if argv[:1] == ["collect"] and len(argv) == 2:
        data = collect(Path(argv[1]))
        BUNDLED.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    elif argv not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    text = render(json.loads(BUNDLED.read_text(encoding="utf-8")))
    if argv == ["--check"]:
        if not NOTICES.is_file() or NOTICES.read_text(encoding="utf-8") != text:
            print("error: vendor/vega/THIRD_PARTY_NOTICES.md is out of date: run python3 vendor/vega/notices.py",
                  file=sys.stderr)
            return 1
        return 0
    NOTICES.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
