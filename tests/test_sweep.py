from surnames.params import read_params
from tests.helpers import ROOT
from tools import sweep


def test_the_grid_changes_one_option_per_cell_and_trains_fold_0_only():
    params = read_params(ROOT / "params.yaml")
    grid = sweep.cells(params)
    assert len(grid) == 2 * len(sweep.OPTIONS)
    for name, changes in grid.items():
        model = name.split("-")[1]
        assert changes[f"train_{model}.folds"] == [0]
        assert all(key.startswith(f"train_{model}.") for key in changes)
    assert grid["sweep-lstm-half-lr"]["train_lstm.lr"] == params["train_lstm"]["lr"] / 2
    assert sweep.overrides({"train_rnn.folds": [0], "train_rnn.keep": "best"}) == \
        ["-S", "train_rnn.folds=[0]", "-S", 'train_rnn.keep="best"']


def fake(model: str, balanced: float) -> dict:
    kept = {"val_accuracy": 0.5, "val_balanced_accuracy": balanced, "val_loss": 1.0}
    return {"metrics": {f"metrics/train_{model}.json": {"data": {"kept_mean": kept}}}}


def test_the_best_cell_per_model_is_chosen_by_val_balanced_accuracy(capsys):
    grid = {"sweep-rnn-a": {}, "sweep-rnn-b": {}, "sweep-lstm-a": {}, "sweep-lstm-b": {}}
    found = {"sweep-rnn-a": fake("rnn", 0.4), "sweep-rnn-b": fake("rnn", 0.45), "sweep-lstm-a": fake("lstm", 0.5),
             "sweep-lstm-b": {"metrics": {}}}
    best = sweep.val_table(grid, found)
    assert best == {"rnn": ("sweep-rnn-b", 0.45), "lstm": ("sweep-lstm-a", 0.5)}
    assert "| sweep-lstm-b | (failed: see dvc queue logs)" in capsys.readouterr().out
