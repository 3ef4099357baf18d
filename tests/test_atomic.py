import pandas as pd
import pytest

from stages import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    atomic.write_text_atomic(path, "old\n")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OSError):
        atomic.write_bytes_atomic(path, b"new")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_block_leaves_the_old_folder_and_no_temporary(tmp_path):
    folder = tmp_path / "prepared"
    with atomic.staged_dir(folder) as staging:
        (staging / "a.csv").write_text("1\n")
    with pytest.raises(RuntimeError):
        with atomic.staged_dir(folder) as staging:
            (staging / "a.csv").write_text("2\n")
            raise RuntimeError("half-way")
    assert (folder / "a.csv").read_text() == "1\n" and [p.name for p in tmp_path.iterdir()] == ["prepared"]


def test_csv_and_json_are_written_the_same_way_every_time(tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": [0.123456789, 1 / 3]})
    atomic.write_csv(tmp_path / "a.csv", frame)
    atomic.write_json(tmp_path / "a.json", {"é": 1})
    assert (tmp_path / "a.csv").read_text() == "x,y\n1,0.123457\n2,0.333333\n"
    assert (tmp_path / "a.json").read_text() == '{\n  "é": 1\n}\n'
