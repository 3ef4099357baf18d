import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest

from surnames import dvc_yaml
from surnames import prepare as prep
from surnames.errors import ProjectError
from tests.helpers import PREPARE_PARAMS, ROOT, assert_one_line, call_main, inside, run_prepare

PREPARE_ARGS = dvc_yaml.module_args("prepare", ROOT / "dvc.yaml")


def test_within_each_fold_no_name_is_in_two_files(default_prepare):
    _, metrics, folds = default_prepare
    for fold in folds:
        names = {split: set(frame["name"]) for split, frame in fold.items()}
        assert not names["train"] & names["val"] and not names["train"] & names["test"]
        assert not names["val"] & names["test"]
    assert metrics["shared_names_within_folds"] == 0


def test_every_name_is_in_exactly_one_folds_test_file(default_prepare):
    _, metrics, folds = default_prepare
    tested = pd.concat(fold["test"] for fold in folds)
    everything = pd.concat(frame for fold in folds for frame in fold.values()).drop_duplicates()
    assert not tested.duplicated().any() and len(tested) == metrics["rows_after_dedup"] == len(everything)
    per_name = pd.concat(fold["test"].drop_duplicates("name").assign(fold=i) for i, fold in enumerate(folds))
    assert per_name["name"].is_unique  # a name under two languages is still tested in one fold only
    assert metrics["names_not_tested_exactly_once"] == 0


def test_every_language_in_every_file_and_folds_are_balanced(default_prepare):
    folder, metrics, folds = default_prepare
    languages = sorted(p.stem for p in (folder / "raw").iterdir())
    assert len(languages) == 18
    for fold in folds:
        for frame in fold.values():
            assert sorted(set(frame["language"])) == languages and not frame.duplicated().any()
        assert 0.07 < fold["val"]["name"].nunique() / metrics["distinct_names"] < 0.09
    sizes = [fold["test"]["name"].nunique() for fold in folds]
    assert max(sizes) - min(sizes) <= 1  # dealt round-robin across all strata
    assert metrics["rows_after_dedup"] < metrics["rows_raw"]
    assert metrics["transliteration"]["dropped_characters"]["ß"] > 0


def test_names_of_several_languages_are_kept_under_each(default_prepare):
    frame = pd.concat(fold["test"] for fold in default_prepare[2])
    per_name = frame.groupby("name")["language"].nunique()
    assert (per_name > 1).sum() > 100


def test_folds_are_deterministic_for_a_seed():
    pairs = [(f"n{i}", f"L{i % 4}") for i in range(200)] + [("n0", "L1")]
    strata = prep.strata_by_rarest_language(pairs)
    first = prep.assign_folds(strata, 5, seed=3)
    assert first == prep.assign_folds(strata, 5, seed=3)
    assert first != prep.assign_folds(strata, 5, seed=4)
    assert sorted(len(fold) for fold in first) == [40] * 5 and set().union(*first) == {f"n{i}" for i in range(200)}
    split = prep.split_fold(strata, first[0], 0.1, seed=0)
    assert len(split["val"]) == 16 and len(split["train"]) == 144 and split["test"] == first[0]


def test_checksum_mismatch_names_the_file_and_both_hashes(tmp_path, data_copy):
    """Same line count, other content: nothing recognisable, so both hashes and the fix."""
    text = (data_copy / "Greek.txt").read_text(encoding="utf-8")
    (data_copy / "Greek.txt").write_text(text.replace("\n", "x\n", 1), encoding="utf-8")
    expected = (rf"checksum mismatch for {data_copy / 'Greek.txt'}: expected [0-9a-f]{{64}}, got [0-9a-f]{{64}}; "
                "fix: copy the original file again$")
    with pytest.raises(ProjectError, match=expected):
        run_prepare(tmp_path)
    assert not (tmp_path / "prepared").exists()


def _crlf(d):
    (d / "Irish.txt").write_bytes((d / "Irish.txt").read_bytes().replace(b"\n", b"\r\n"))


def _bom(d):
    (d / "Irish.txt").write_bytes(b"\xef\xbb\xbf" + (d / "Irish.txt").read_bytes())


@pytest.mark.parametrize("damage, cause", [
    (_crlf, "it has Windows line endings (CRLF); fix: convert them (dos2unix FILE"),
    (_bom, "it starts with a UTF-8 byte-order mark; fix: remove the first 3 bytes"),
    (lambda d: (_bom(d), _crlf(d)),
     "it starts with a UTF-8 byte-order mark and has Windows line endings (CRLF); fix: remove the first 3 bytes"),
    (lambda d: (d / "Irish.txt").write_bytes((d / "Irish.txt").read_bytes()[:-1]),
     "it lacks its final newline; fix: add it (echo >> FILE)"),
    (lambda d: (d / "Irish.txt").write_bytes((d / "Irish.txt").read_bytes() + b"\n\n"),
     "it has blank lines at its end; fix: remove them"),
    (lambda d: (d / "Irish.txt").write_bytes((d / "Irish.txt").read_bytes() + b"Murphyx\nKeane\n"),
     "it has 2 more lines than the pinned file (234 vs 232); fix: copy the original file again"),
    (lambda d: (d / "Irish.txt").write_bytes(b"".join((d / "Irish.txt").read_bytes().splitlines(True)[:-3])),
     "it has 3 fewer lines than the pinned file (229 vs 232)"),
    (lambda d: (d / "German.txt").write_bytes((d / "German.txt").read_text(encoding="utf-8").encode("cp1252")),
     "it is encoded as WINDOWS-1252, not UTF-8; fix: convert it (iconv -f WINDOWS-1252 -t UTF-8 FILE)"),
    (lambda d: (d / "German.txt").write_bytes((d / "German.txt").read_text(encoding="utf-8").encode("utf-16")),
     "it is encoded as UTF-16, not UTF-8; fix: convert it (iconv -f UTF-16 -t UTF-8 FILE)"),
])
def test_a_checksum_mismatch_names_a_recognisable_cause_and_its_fix(tmp_path, data_copy, damage, cause):
    damage(data_copy)
    with pytest.raises(ProjectError) as error:
        run_prepare(tmp_path)
    message = str(error.value)
    damaged = data_copy / ("German.txt" if "encoded" in cause else "Irish.txt")
    cause = cause.replace("FILE", str(damaged))  # the fix names the user's file
    assert message.startswith(f"checksum mismatch for {damaged}: ") and cause in message, message
    assert "\n" not in message
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "Irish.txt").unlink(), "missing language file.*Irish.txt"),
    (lambda d: (d / "Klingon.txt").write_text("Worf\n"), "unexpected file.*Klingon.txt"),
    (lambda d: (d / "Irish.txt").write_text(""), "Irish.txt is empty"),
    (lambda d: (d / "Irish.txt").write_bytes(b"Murphy\n\xff\xfe\n"), "Irish.txt is not UTF-8: byte 0xff at offset 7"),
])
def test_damaged_raw_data_is_refused(tmp_path, data_copy, damage, message):
    damage(data_copy)
    with pytest.raises(ProjectError, match=message) as error:
        run_prepare(tmp_path)
    assert str(data_copy) in str(error.value), "the message names the user's file, not a temporary copy"
    assert ".tmp-" not in str(error.value)
    assert not (tmp_path / "prepared").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["names"]


def test_names_data_dir_pointing_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("NAMES_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ProjectError, match=f"NAMES_DATA_DIR=.*nowhere resolves to {tmp_path / 'nowhere'}, which is "
                                           "not a directory"):
        run_prepare(tmp_path)


def test_a_relative_names_data_dir_is_taken_from_the_repository_root(tmp_path, monkeypatch, names_dir):
    """A queued or --temp experiment runs in .dvc/tmp/exps/<copy>/, where DVC sets DVC_ROOT
    to the user's repository: a relative NAMES_DATA_DIR must still find the data."""
    (tmp_path / "repo/.dvc/tmp/exps/tmpabc").mkdir(parents=True)
    (tmp_path / "shared").symlink_to(names_dir)
    monkeypatch.chdir(tmp_path / "repo/.dvc/tmp/exps/tmpabc")
    monkeypatch.setenv("NAMES_DATA_DIR", "../shared")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    assert prep.names_data_dir("../shared") == names_dir.resolve()  # the symlink, followed
    (tmp_path / "raw").mkdir()
    assert prep.fetch_raw(tmp_path / "raw", "unused", 1) == str(names_dir.resolve())
    assert len(list((tmp_path / "raw").iterdir())) == 18
    monkeypatch.delenv("DVC_ROOT")
    with pytest.raises(ProjectError, match=f"resolves to {tmp_path / 'repo/.dvc/tmp/exps/shared'}, which is not"):
        prep.fetch_raw(tmp_path, "unused", 1)


def test_no_network_and_no_local_copy_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NAMES_DATA_DIR", raising=False)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProjectError, match="cannot download .* set NAMES_DATA_DIR"):
        run_prepare(tmp_path, {**PREPARE_PARAMS, "url": f"http://127.0.0.1:{port}/data.zip"})


def test_download_path_gives_the_same_split_as_the_local_copy(tmp_path, monkeypatch, names_dir, zip_server):
    monkeypatch.delenv("NAMES_DATA_DIR", raising=False)
    downloaded = run_prepare(tmp_path / "a", {**PREPARE_PARAMS, "url": f"{zip_server}/tutorial/data.zip"})
    monkeypatch.setenv("NAMES_DATA_DIR", str(names_dir))
    local = run_prepare(tmp_path / "b")
    assert downloaded == local
    for split in prep.SPLITS:
        name = f"fold-3/{split}.csv"
        assert (tmp_path / "a/prepared" / name).read_bytes() == (tmp_path / "b/prepared" / name).read_bytes()


def test_download_of_something_that_is_not_a_zip(tmp_path, monkeypatch, zip_server):
    monkeypatch.delenv("NAMES_DATA_DIR", raising=False)
    with pytest.raises(ProjectError, match="not a valid zip"):
        run_prepare(tmp_path, {**PREPARE_PARAMS, "url": f"{zip_server}/elsewhere"})


@pytest.mark.parametrize("val, test", [(-0.1, 0.1), (0.5, 0.5), (0.9, 0.3), ("a", 0.1)])
def run_cli(project: Path, names_dir: Path, capsys, *extra: str) -> tuple[int, str]:
    """prepare's main() with dvc.yaml's arguments, from `project`: (exit status, stderr)."""
    with inside(project, NAMES_DATA_DIR=str(names_dir)):
        status = call_main("prepare", *PREPARE_ARGS, *extra)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("val, folds", [(-0.1, 5), (0, 5), (1, 5), ("a", 5), (0.1, 1), (0.1, 2.5), (0.1, True)])
def test_invalid_params_are_refused_by_the_cli(tmp_path, names_dir, capsys, val, folds):
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data/names.sha256", tmp_path / "data")
    (tmp_path / "params.yaml").write_text(
        f"prepare: {{url: x, timeout_s: 5, val_fraction: {val}, folds: {folds}, seed: 0}}\n")
    status, err = run_cli(tmp_path, names_dir, capsys)
    assert_one_line(err, status, "invalid param")
    assert not (tmp_path / "data/prepared").exists()


def test_cli_checksum_error_is_one_line(tmp_path, data_copy, capsys):
    (data_copy / "Czech.txt").write_text("Novak\n")
    (tmp_path / "work/data").mkdir(parents=True)
    shutil.copy(ROOT / "data/names.sha256", tmp_path / "work/data")
    shutil.copy(ROOT / "data/names.lines", tmp_path / "work/data")
    shutil.copy(ROOT / "params.yaml", tmp_path / "work")
    status, err = run_cli(tmp_path / "work", data_copy, capsys)
    assert_one_line(err, status, f"checksum mismatch for {data_copy / 'Czech.txt'}")
    assert not (tmp_path / "work/data/prepared").exists() and not (tmp_path / "work/data/raw/names").exists()


def test_cli_refuses_unknown_arguments(tmp_path, names_dir, capsys):
    shutil.copy(ROOT / "params.yaml", tmp_path)
    status, err = run_cli(tmp_path, names_dir, capsys, "--seed=3")
    assert status == 2 and "unrecognized arguments: --seed=3" in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("manifest, message", [
    ("", "lists no files"),
    ("not-a-hash  Arabic.txt\n", "data/names.sha256:1 is not a 'sha256  <Language>.txt' line"),
])
def test_a_broken_manifest_is_a_one_line_error(tmp_path, names_dir, capsys, manifest, message):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/names.sha256").write_text(manifest)
    shutil.copy(ROOT / "params.yaml", tmp_path)
    status, err = run_cli(tmp_path, names_dir, capsys)
    assert_one_line(err, status, message, anywhere=True)
