import os
import stat

import pandas as pd
import pytest

from surnames import atomic
from surnames.errors import ProjectError


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    atomic.write_text(path, "old\n")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(ProjectError, match=f"^cannot write {path}: No space left on device$"):
        atomic.write_bytes(path, b"new")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_block_leaves_the_old_folder_and_no_temporary(tmp_path):
    folder = tmp_path / "prepared"
    with atomic.output_set() as out, out.folder(folder) as staging:
        (staging / "a.csv").write_text("1\n")
    with pytest.raises(RuntimeError):
        with atomic.output_set() as out, out.folder(folder) as staging:
            (staging / "a.csv").write_text("2\n")
            raise RuntimeError("half-way")
    assert (folder / "a.csv").read_text() == "1\n" and [p.name for p in tmp_path.iterdir()] == ["prepared"]


def test_csv_and_json_are_written_the_same_way_every_time(tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": [0.123456789, 1 / 3]})
    atomic.write_csv(tmp_path / "a.csv", frame)
    atomic.write_json(tmp_path / "a.json", {"é": 1})
    assert (tmp_path / "a.csv").read_text() == "x,y\n1,0.123457\n2,0.333333\n"
    assert (tmp_path / "a.json").read_text() == '{\n  "é": 1\n}\n'


def test_a_read_only_folder_is_one_line_naming_the_user_s_file(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):  # what mkstemp meets in a read-only folder (root may write anywhere)
        raise PermissionError(13, "Permission denied", str(tmp_path / ".rnn.json.tmp-x"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(ProjectError, match=f"^cannot write {tmp_path / 'rnn.json'}: Permission denied$"):
        atomic.write_json(tmp_path / "rnn.json", {})


def test_an_output_set_that_fails_keeps_every_previous_output(tmp_path):
    first, second, folder = tmp_path / "rnn.json", tmp_path / "lstm.json", tmp_path / "plots"
    with atomic.output_set() as out:
        out.write_json(first, {"v": 1})
        out.write_json(second, {"v": 1})
        with out.folder(folder) as staging:
            atomic.write_text(staging / "a.csv", "1\n")
    with pytest.raises(ProjectError, match="cannot write"):
        with atomic.output_set() as out:
            out.write_json(first, {"v": 2})
            with out.folder(folder) as staging:
                atomic.write_text(staging / "a.csv", "2\n")
                assert (staging / "a.csv").read_text() == "2\n"  # inside a staged folder: at once
            assert first.read_text() == '{\n  "v": 1\n}\n'  # not yet: only when the whole set is written
            raise ProjectError("cannot write lstm.json: No space left on device")
    assert first.read_text() == second.read_text() == '{\n  "v": 1\n}\n'
    assert (folder / "a.csv").read_text() == "1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm.json", "plots", "rnn.json"]


def test_written_files_and_folders_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.output_set() as out, out.folder(tmp_path / "out") as staging:
            (staging / "b.txt").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750


def test_temporaries_a_killed_run_left_are_removed_by_the_next_write(tmp_path):
    (tmp_path / ".prepared.tmp-abc123").mkdir()
    (tmp_path / ".rnn.json.tmp-xyz").write_text("half")
    with atomic.output_set() as out, out.folder(tmp_path / "prepared"):
        pass
    atomic.write_json(tmp_path / "rnn.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared", "rnn.json"]


def test_a_failed_write_inside_a_staged_folder_names_the_user_s_path(tmp_path, monkeypatch):
    with pytest.raises(ProjectError) as error:
        with atomic.output_set() as out, out.folder(tmp_path / "models") as staging:
            monkeypatch.setattr(atomic.tempfile, "mkstemp", lambda **kw: (_ for _ in ()).throw(OSError(28, "full")))
            atomic.write_bytes(staging / "fold-0.pt", b"x")
    assert str(error.value) == f"cannot write {tmp_path / 'models/fold-0.pt'}: full"
    assert atomic.user_path("/a/.models.tmp-x1y2/fold-0.pt") == "/a/models/fold-0.pt"


def test_a_failed_commit_names_the_user_s_path_and_leaves_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "s2.json").mkdir()  # a folder where the stage's file belongs: refused before any rename
    with pytest.raises(ProjectError, match=f"^cannot write {tmp_path / 's2.json'}: "):
        with atomic.output_set() as out:
            out.write_json(tmp_path / "a.json", {})
            out.write_json(tmp_path / "s2.json", {})
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_plain_writes_are_renamed_at_once_even_while_an_output_set_is_open(tmp_path):
    """Which writes wait is decided by what is called, not by hidden state: a plain write in
    the middle of an open set lands at once; the set's own writes only at its end."""
    with atomic.output_set() as out:
        out.write_json(tmp_path / "later.json", {})
        atomic.write_json(tmp_path / "now.json", {})
        assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" not in p.name) == ["now.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["later.json", "now.json"]


def test_two_output_sets_are_independent(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic.output_set() as kept:
            kept.write_json(tmp_path / "a.json", {"v": 1})
            with atomic.output_set() as other:
                other.write_json(tmp_path / "b.json", {"v": 1})
            raise RuntimeError("the outer set fails after the inner one committed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]


def write_set(tmp_path, version: str) -> None:
    """A stage-like output set: two files and a folder (an output that did not exist before last)."""
    with atomic.output_set() as out:
        out.write_json(tmp_path / "metrics.json", {"version": version})
        with out.folder(tmp_path / "models") as models:
            (models / "fold-0.pt").write_text(version)
        out.write_text(tmp_path / "report.md", version)
        if version == "new":
            out.write_text(tmp_path / "new-only.txt", version)


def snapshot(tmp_path) -> dict[str, str]:
    return {str(p.relative_to(tmp_path)): p.read_text() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


def test_a_commit_that_fails_at_any_rename_rolls_back_to_the_previous_set(tmp_path, monkeypatch):
    """Every os.replace of the commit (each output moved aside, then the new one put in place)
    is made to fail in turn: the outputs are then exactly the previous set, with no temporary."""
    write_set(tmp_path, "old")
    previous = snapshot(tmp_path)
    real, calls = os.replace, []

    def counting(*args):
        calls.append(args)
        return real(*args)
    monkeypatch.setattr(atomic.os, "replace", counting)
    probe = tmp_path.parent / f"{tmp_path.name}-probe"  # the same set once, counting its renames
    probe.mkdir()
    write_set(probe, "old")
    write_set(probe, "new")
    positions = len(calls) - 3  # the probe's first set had nothing to move aside: 3 renames
    assert positions == 7  # 3 outputs moved aside and 4 put in place (new-only.txt had none)
    for failing in range(positions):
        made = []

        def flaky(*args, failing=failing):
            made.append(args)
            if len(made) == failing + 1:
                raise OSError(28, "No space left on device")
            return real(*args)
        monkeypatch.setattr(atomic.os, "replace", flaky)
        with pytest.raises(ProjectError, match="No space left on device"):
            write_set(tmp_path, "new")
        monkeypatch.setattr(atomic.os, "replace", real)
        assert snapshot(tmp_path) == previous, f"rename {failing + 1} of {positions} failed"
        assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    write_set(tmp_path, "new")  # and with nothing failing, the new set replaces the old
    assert snapshot(tmp_path)["models/fold-0.pt"] == "new" and snapshot(tmp_path)["new-only.txt"] == "new"


def test_a_folder_where_a_file_belongs_is_refused_before_anything_is_touched(tmp_path):
    write_set(tmp_path, "old")
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.md").mkdir()
    previous = snapshot(tmp_path)
    with pytest.raises(ProjectError, match=f"^cannot write {tmp_path / 'report.md'}: a folder is in its place"):
        write_set(tmp_path, "new")
    assert snapshot(tmp_path) == previous and (tmp_path / "report.md").is_dir()


def test_a_table_is_written_byte_for_byte_as_pandas_writes_the_same_frame():
    columns = ["length", "names", "accuracy", "low"]
    rows = [["1-4", 12, 0.123456789, float("nan")], ["a,b", 3, 1e-07, 2.5], ['say "x"', 0, 100.0, 0.5]]
    assert atomic.table_bytes(columns, rows) == atomic.csv_bytes(pd.DataFrame(rows, columns=columns))
