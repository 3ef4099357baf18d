"""prepare: verified raw names -> transliterated, deduplicated, split into k folds by distinct name.

For fold i, `fold-<i>/test.csv` holds the names of fold i, `val.csv` a share of the other
names and `train.csv` the rest; every name is tested in exactly one fold.

    python -m stages.prepare MANIFEST RAW_DIR PREPARED_DIR STATS   (paths from dvc.yaml)

Raw data comes from $NAMES_DATA_DIR when set, else from the official zip (params
prepare.url). Every raw file is checked against the committed manifest data/names.sha256.
"""
import hashlib
import io
import json
import os
import random
import shlex
import shutil
import urllib.error
import urllib.request
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from surnames.alphabet import ALPHABET, transliterate
from surnames.atomic import OutputSet, output_set, write_csv
from surnames.data import fold_name
from surnames.errors import ProjectError
from surnames.raw_diagnosis import line_difference, undone

SPLITS = ("train", "val", "test")


def _listing(path: Path, what: str):
    """(line number, line) of a listing file; an unreadable one is one line naming `what`."""
    try:
        return enumerate(Path(path).read_text().splitlines(), 1)
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"cannot read the {what} {path}: {error}") from None


def read_manifest(path: Path) -> dict[str, str]:
    """{file name: sha256} from a `sha256sum` listing."""
    manifest = {}
    for number, line in _listing(path, "manifest"):
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or len(fields[0]) != 64 or not fields[1].strip().endswith(".txt"):
            if line.strip():
                raise ProjectError(f"{path}:{number} is not a 'sha256  <Language>.txt' line")
            continue
        manifest[fields[1].strip().lstrip("*")] = fields[0].lower()
    if not manifest:
        raise ProjectError(f"the manifest {path} lists no files")
    return manifest


def read_line_counts(path: Path | None) -> dict[str, int]:
    """{file name: lines} from a `wc -l`-style listing ('<lines> <Language>.txt'); {} without one.
    Only error messages use it: the hashes are what pin the data."""
    if path is None:
        return {}
    counts = {}
    for number, line in _listing(path, "line counts"):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit() or not fields[1].endswith(".txt"):
            raise ProjectError(f"{path}:{number} is not a '<lines> <Language>.txt' line")
        counts[fields[1]] = int(fields[0])
    return counts


def verify_raw(directory: Path, manifest: dict[str, str], source: str | None = None,
               line_counts: dict[str, int] | None = None) -> None:
    """Exactly the manifest's files, each non-empty, UTF-8, and with the expected hash; a
    mismatch says what differs when it is recognisable (surnames/raw_diagnosis.py).

    `source` is where the files came from (NAMES_DATA_DIR or the zip's URL): errors name the
    user's file there, not the temporary copy being checked."""
    directory = Path(directory)
    origin = Path(source) if source and Path(source).is_dir() else None
    where = origin or source or directory

    def shown(name: str) -> str:
        return str(origin / name) if origin else (f"{source} member data/names/{name}" if source else
                                                  str(directory / name))
    if not directory.is_dir():
        raise ProjectError(f"raw data directory {directory} does not exist; "
                           "set NAMES_DATA_DIR to a folder of the 18 <Language>.txt files")
    present = {p.name for p in directory.iterdir() if p.is_file()}
    missing, extra = sorted(set(manifest) - present), sorted(present - set(manifest))
    if missing:
        raise ProjectError(f"{where} is missing language file(s): {', '.join(missing)}")
    if extra:
        raise ProjectError(f"{where} has unexpected file(s): {', '.join(extra)} "
                           f"(expected exactly the {len(manifest)} files of the manifest)")
    for name, expected in sorted(manifest.items()):
        data = (directory / name).read_bytes()
        if not data.strip():
            raise ProjectError(f"{shown(name)} is empty")
        actual = hashlib.sha256(data).hexdigest()
        if actual == expected:
            continue
        cause = undone(data, expected)  # another encoding, a BOM, CRLF, the final newline, ...
        if cause:  # the fix's FILE is the user's file
            raise ProjectError(f"checksum mismatch for {shown(name)}: "
                               + cause.replace("FILE", shlex.quote(shown(name))))
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            byte = data[error.start]
            raise ProjectError(f"{shown(name)} is not UTF-8: byte {byte:#04x} at offset {error.start}") from None
        cause = line_difference(data, (line_counts or {}).get(name))
        raise ProjectError(f"checksum mismatch for {shown(name)}: "
                           + (cause or f"expected {expected}, got {actual}; fix: copy the original file again"))


def names_data_dir(value: str) -> Path:
    """NAMES_DATA_DIR as an absolute path. A relative one is taken from the repository root:
    DVC sets DVC_ROOT to the user's repository even for queued and --temp experiments, which
    run in a copy under .dvc/tmp/exps/ where the relative path would point nowhere."""
    return (Path(os.environ.get("DVC_ROOT") or ".") / value).resolve()


def fetch_raw(destination: Path, url: str, timeout_s: float) -> str:
    """Fill `destination` with the raw files; return where they came from."""
    local = os.environ.get("NAMES_DATA_DIR")
    if local:
        source = names_data_dir(local)
        if not source.is_dir():
            raise ProjectError(f"NAMES_DATA_DIR={local} resolves to {source}, which is not a directory; "
                               "point it at a folder of the 18 <Language>.txt files")
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copyfile(path, destination / path.name)
        return str(source)
    extract_names(download(url, timeout_s), destination)
    return url


def download(url: str, timeout_s: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ProjectError(f"cannot download {url} ({reason}); "
                           "without network, set NAMES_DATA_DIR to a folder of the 18 <Language>.txt files") from None


def extract_names(archive: bytes, destination: Path) -> None:
    """Extract data/names/*.txt from the tutorial's zip, flat into `destination`."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            members = [m for m in bundle.namelist() if m.startswith("data/names/") and m.endswith(".txt")]
            if not members:
                raise ProjectError("downloaded zip has no data/names/*.txt")
            for member in members:
                (destination / Path(member).name).write_bytes(bundle.read(member))
    except zipfile.BadZipFile as error:
        raise ProjectError(f"downloaded file is not a valid zip: {error}") from None


def read_pairs(directory: Path, languages: list[str]) -> tuple[list[tuple[str, str]], dict]:
    """Transliterated (name, language) rows in file order, plus what transliteration changed or dropped."""
    rows, changed, empty, dropped, accented = [], 0, 0, Counter(), Counter()
    for language in languages:
        for line in (Path(directory) / f"{language}.txt").read_text(encoding="utf-8").splitlines():
            raw = line.strip()
            if not raw:
                continue
            name = transliterate(raw)
            if name != raw:
                changed += 1
                for c in raw:
                    if c not in ALPHABET:
                        (accented if transliterate(c) else dropped)[c] += 1
            if not name:
                empty += 1
                continue
            rows.append((name, language))
    transliteration = {"names_changed": changed, "names_empty_after_transliteration": empty,
                       "accented_letters_transliterated": sum(accented.values()),
               "dropped_characters": dict(sorted(dropped.items()))}
    return rows, transliteration


def strata_by_rarest_language(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """{language: its names}, each distinct name under its rarest language only.

    Stratifying on the rarest language keeps small languages in every fold and file even
    though some names belong to several languages.
    """
    languages_of = defaultdict(set)
    for name, language in pairs:
        languages_of[name].add(language)
    size = Counter(language for languages in languages_of.values() for language in languages)
    strata = defaultdict(list)
    for name in sorted(languages_of):
        strata[min(languages_of[name], key=lambda lang: (size[lang], lang))].append(name)
    return dict(sorted(strata.items()))


def assign_folds(strata: dict[str, list[str]], folds: int, seed: int) -> list[set[str]]:
    """Each distinct name into one of `folds` folds, stratified: within a language the
    shuffled names are dealt round-robin, continuing where the previous language stopped,
    so folds differ in size by at most one name overall and per language."""
    rng = random.Random(seed)
    assigned, position = [set() for _ in range(folds)], 0
    for names in strata.values():
        names = list(names)
        rng.shuffle(names)
        for name in names:
            assigned[position % folds].add(name)
            position += 1
    return assigned


def split_fold(strata: dict[str, list[str]], test: set[str], val_fraction: float, seed: int) -> dict[str, set]:
    """{train, val, test} names of one fold: val is a stratified share of the non-test names."""
    rng = random.Random(seed)
    splits = {"train": set(), "val": set(), "test": set(test)}
    for names in strata.values():
        rest = [name for name in names if name not in test]
        rng.shuffle(rest)
        n_val = _share(len(rest), val_fraction)
        splits["val"].update(rest[:n_val])
        splits["train"].update(rest[n_val:])
    return splits


def _share(count: int, fraction: float) -> int:
    """round(count * fraction), but at least one name when the fraction is positive."""
    return max(1, round(count * fraction)) if fraction > 0 and count >= 3 else round(count * fraction)


def prepare(params: dict, manifest_path: Path, raw_dir: Path, out_dir: Path, stats_path: Path,
            lines_path: Path | None = None) -> dict:
    manifest, line_counts = read_manifest(manifest_path), read_line_counts(lines_path)
    languages = sorted(Path(name).stem for name in manifest)
    with output_set() as out:  # raw files, prepared splits and counts: all renamed into place, or none
        return _prepare(params, manifest, line_counts, languages, raw_dir, out_dir, stats_path, out)


def _prepare(params, manifest, line_counts, languages, raw_dir, out_dir, stats_path, out: OutputSet) -> dict:
    with out.folder(raw_dir) as raw:
        source = fetch_raw(raw, params["url"], params["timeout_s"])
        verify_raw(raw, manifest, source, line_counts)
        rows, transliteration = read_pairs(raw, languages)
    pairs = list(dict.fromkeys(rows))  # drop duplicate (name, language), keep first-seen order
    strata = strata_by_rarest_language(pairs)
    tests = assign_folds(strata, params["folds"], params["seed"])
    folds = [split_fold(strata, test, params["val_fraction"], params["seed"] * 1000 + i)
             for i, test in enumerate(tests)]
    frames = [{split: pd.DataFrame([p for p in pairs if p[0] in names], columns=["name", "language"])
               .sort_values(["language", "name"], ignore_index=True) for split, names in fold.items()}
              for fold in folds]
    for i, fold_frames in enumerate(frames):
        for split, frame in fold_frames.items():
            missing = sorted(set(languages) - set(frame["language"]))
            if missing:
                raise ProjectError(f"fold {i}'s {split} file has no names of {', '.join(missing)}; "
                                   "lower prepare.folds or change prepare.val_fraction")
    stats = data_stats(rows, pairs, transliteration, folds, frames, languages)
    with out.folder(out_dir) as prepared:
        for i, fold_frames in enumerate(frames):
            for split, frame in fold_frames.items():
                write_csv(prepared / fold_name(i) / f"{split}.csv", frame)
        (prepared / "categories.json").write_text(json.dumps(languages, indent=2) + "\n")
    out.write_json(stats_path, stats)
    return stats


def data_stats(rows, pairs, transliteration, folds, frames, languages) -> dict:
    """Counts for data/stats.json (a plain output, not a metric: `dvc exp show` stays narrow);
    the report's data section reads them."""
    names = {name for name, _ in pairs}
    shared = sum(len(fold[a] & fold[b]) for fold in folds for i, a in enumerate(SPLITS) for b in SPLITS[i + 1 :])
    tested = Counter(name for fold in folds for name in fold["test"])
    return {
        "rows_raw": len(rows) + transliteration["names_empty_after_transliteration"],
        "rows_after_transliteration": len(rows),
        "rows_after_dedup": len(pairs),
        "distinct_names": len(names),
        "names_in_several_languages": sum(1 for n in Counter(name for name, _ in pairs).values() if n > 1),
        "transliteration": transliteration,
        "folds": len(folds),
        "shared_names_within_folds": shared,
        "names_not_tested_exactly_once": len(names - set(tested)) + sum(1 for n in tested.values() if n != 1),
        "per_fold": [{"fold": i, **{split: {"rows": len(fold_frames[split]), "names": len(fold[split])}
                                    for split in SPLITS}} for i, (fold, fold_frames) in enumerate(zip(folds, frames))],
        "per_language": [{"language": language, "rows": sum(1 for _, lang in pairs if lang == language),
                          "smallest_test_fold": min(int((f["test"]["language"] == language).sum()) for f in frames)}
                         for language in languages],
    }
