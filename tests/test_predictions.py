"""The predictions file: written by the scoring stage, read back by evaluate (surnames/predictions.py)."""
import math

import pandas as pd
import pytest
import torch

from surnames import predictions
from surnames.errors import ProjectError
from surnames.predictions import GradientFlow, Predictions, Rows, Scored

CATEGORIES = ["A", "B", "C"]


def made_up() -> Scored:
    """Both protocols, a name with a comma, and gradient norms on two held-out rows."""
    def protocol(names, folds):
        n = len(names)
        rows = Rows(names, torch.arange(n) % 3, torch.tensor([len(name) for name in names]), torch.tensor(folds))
        return Predictions(rows, (torch.arange(n) + 1) % 3, torch.arange(n) % 3,
                           torch.rand(n, dtype=torch.double, generator=torch.Generator().manual_seed(n)))
    scored = Scored("lstm", {"train": protocol(["Abe", "O'Neil", "Le, Bon"], [0, 0, 1]),
                             "test": protocol(["Zed", "Ab Cd", "Xy"], [0, 1, 1])})
    scored.gradients = GradientFlow(torch.tensor([2, 0]), torch.tensor([[0.5, 1 / 3], [2.0, float("nan")]],
                                                                        dtype=torch.double))
    return scored


def pandas_bytes(scored: Scored) -> bytes:
    """The file as the scoring stage wrote it with pandas before (floats in full, NaN empty)."""
    frames = []
    for name, p in scored.predictions.items():
        frame = pd.DataFrame({"protocol": name, "fold": p.rows.fold.tolist(), "name": p.rows.names,
                              **{column: [CATEGORIES[i] for i in t.tolist()] for column, t in (
                                  ("language", p.rows.targets), ("predicted", p.predicted),
                                  ("corrected", p.corrected))}, "nll": p.nll.tolist()})
        norms = torch.full((len(p.rows.names), 2), math.nan, dtype=torch.double)
        if name == "test":
            norms[scored.gradients.picked] = scored.gradients.norms
        for distance in range(2):
            frame[f"gradient_{distance}"] = norms[:, distance].tolist()
        frames.append(frame)
    return pd.concat(frames).to_csv(index=False, lineterminator="\n", float_format=None).encode()


def test_the_file_is_what_pandas_wrote_and_reads_back_exactly(tmp_path):
    scored = made_up()
    data = predictions.csv_bytes(scored, CATEGORIES)
    assert data == pandas_bytes(scored)
    (tmp_path / "lstm.csv").write_bytes(data)
    back = predictions.read(tmp_path / "lstm.csv", CATEGORIES)
    for name, p in scored.predictions.items():
        q = back.predictions[name]
        assert q.rows.names == p.rows.names
        for a, b in ((q.rows.targets, p.rows.targets), (q.rows.lengths, p.rows.lengths), (q.rows.fold, p.rows.fold),
                     (q.predicted, p.predicted), (q.corrected, p.corrected), (q.nll, p.nll)):
            assert torch.equal(a, b)
    assert back.gradients.picked.tolist() == [0, 2]  # by fold, then length: Zed (fold 0), then Xy
    torch.testing.assert_close(back.gradients.norms, scored.gradients.norms[[1, 0]], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("damage, message", [
    (lambda text: text.replace(",0.", ",zero.", 1), "not a whole number or a number"),
    (lambda text: text.replace("\ntrain,0,", "\ntrain,x,", 1), "not a whole number or a number"),
    (lambda text: text.replace("\ntrain,0,", "\ntrain,-1,", 1), "not a whole number or a number"),
    (lambda text: text.replace("\ntrain,", "\nholdout,", 1), "unknown languages [] or protocols"),
    (lambda text: text.replace(",B,", ",Klingon,", 1), "unknown languages ['Klingon']"),
    (lambda text: text.split("\n", 1)[0] + "\n", "must have columns"),
])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, damage, message):
    path = tmp_path / "lstm.csv"
    path.write_text(damage(predictions.csv_bytes(made_up(), CATEGORIES).decode()))
    with pytest.raises(ProjectError) as error:
        predictions.read(path, CATEGORIES)
    assert message in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)
