"""A new architecture is a torch module and a registry row (docs/development.md, "Adding an
architecture"): a throwaway class, written only in a copy of the project, trains, is scored,
joins the verdicts and the report through `dvc repro`, with no edit to dvc.yaml, the tests or
the benchmarks; removing a registry field it needs stops the pipeline with one line."""
import json

import pytest

from tests.helpers import Clone, ran_stages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A minimal gated unit (Zhou et al. 2016): one gate, no separate memory; only in the copy.
THROWAWAY_CLASS = '''

class MinimalGatedUnit(Cell):
    """One forget gate f: hidden = (1 - f) * hidden + f * tanh(i2c(cat(input, f * hidden)))."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__(input_size, hidden_size)
        combined = input_size + hidden_size
        self.i2f = nn.Linear(combined, hidden_size)
        self.i2c = nn.Linear(combined, hidden_size)
        self.i2o = nn.Linear(combined, output_size)

    def update(self, input: torch.Tensor, hidden: torch.Tensor):
        forget = torch.sigmoid(self.i2f(torch.cat((input, hidden), 1)))
        candidate = torch.tanh(self.i2c(torch.cat((input, forget * hidden), 1)))
        return ((1 - forget) * hidden + forget * candidate,)
'''
ROW = "  mgu:\n    label: minimal gated unit\n    architecture: MinimalGatedUnit\n"
STEP = ('  - name: a minimal gated unit\n    model: mgu\n    against: wide_tanh_rnn\n'
        '    change: "one gate, no memory, against the LSTM-sized tanh RNN"\n')
TINY = {"folds": [0], "iterations": 20, "processes": 1}  # 1 fold, 20 steps


def add_architecture(clone: Clone) -> None:
    """What the docs ask for, and nothing else: the class, its row and step, its hidden size."""
    cells_py, registry = clone.path / "surnames/cells.py", clone.path / "surnames/registry.yaml"
    text = cells_py.read_text()
    at = text.index("\n\nCELLS = ")
    cells_py.write_text(text[:at] + THROWAWAY_CLASS + text[at:])
    text = registry.read_text().replace("  lstm:\n", ROW + "  lstm:\n", 1)  # a rung below the course LSTM
    registry.write_text(text.replace("steps:\n", "steps:\n" + STEP, 1))
    params = clone.path / "params.yaml"
    params.write_text(params.read_text().replace("    lstm: 128\n", "    mgu: 64\n    lstm: 128\n", 1))


def test_a_throwaway_architecture_trains_scores_and_reports_through_dvc_repro(tmp_path, names_dir):
    sections = {f"{section}__{key}": value for section in ("train_rnn", "train_lstm", "budgets")
                for key, value in TINY.items()}
    clone = Clone.of_working_tree(tmp_path / "clone", names_dir, prepare__folds=2, train_rnn__eval_every=20,
                                  train_lstm__eval_every=20, evaluate__bootstrap_draws=1000, **sections)
    add_architecture(clone)
    output = clone.run("dvc", "repro")
    lrs = json.loads((clone.path / "metrics/matched.json").read_text())["lrs"]
    assert {f"ladder@mgu-{lr:g}" for lr in lrs} <= ran_stages(output)
    point = json.loads((clone.path / f"metrics/ladder/mgu-{lrs[-1]:g}.json").read_text())
    assert point["cell"] == "mgu" and point["folds"] == [0] and point["iterations"] == 20 and "test" in point
    verdicts = json.loads((clone.path / "metrics/ladder.json").read_text())["verdicts"]
    assert {e["view"] for e in verdicts if e["step"] == "a minimal gated unit"} == {*(f"lr {lr:g}" for lr in lrs),
                                                                                 "own best"}
    report = (clone.path / "report/report.md").read_text()
    assert "| a minimal gated unit" in report  # its step's row in the verdict tables
    assert any(line.startswith(f"| minimal gated unit | {lr:g} |") for line in report.splitlines() for lr in lrs)
    assert "mgu" in (clone.path / "plots/budgets/balanced_accuracy.csv").read_text()
    clone.commit("the throwaway architecture")

    registry = clone.path / "surnames/registry.yaml"
    registry.write_text(registry.read_text().replace("    architecture: MinimalGatedUnit\n", "", 1))
    failed = clone.fail("dvc", "repro")
    expected = "cell 'mgu' has no `architecture` (its class in surnames/cells.py); add it to the row"
    assert expected in failed
    assert [line for line in failed.splitlines() if "mgu" in line] == [
        next(line for line in failed.splitlines() if expected in line)], failed
