"""benchmarks/concurrency.py on fake timings: the ratio and the stage command (no runs)."""
from pathlib import Path

import pytest

from benchmarks.concurrency import command, table_row


def test_ratio_is_median_two_at_once_over_median_alone():
    line, ratio = table_row("course loop", "defaults", [10.0, 12.0, 11.0], [20.0, 22.0, 21.0, 99.0, 21.5, 23.0])
    assert ratio == pytest.approx(21.75 / 11.0)
    assert "11.0" in line and "21.8" in line and "1.98x" in line and "99.0" in line


def test_stage_command_writes_only_into_the_given_folder(tmp_path):
    cmd = command("train_lstm stage", Path("/data/prepared"), tmp_path, steps=10)
    assert cmd[1:5] == ["-m", "stages.train", "lstm", "/data/prepared"]
    outputs = cmd[5:]  # models folder, curves folder, summary file
    assert len(set(outputs)) == 3 and all(Path(path).parent == tmp_path for path in outputs)
