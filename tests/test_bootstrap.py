import pytest
import torch

from surnames import bootstrap, native


def one_fold(rows):
    return torch.zeros(rows, dtype=torch.long)


def cycling_folds(rows, folds=3):
    return torch.arange(rows) % folds


def mean_of(values):
    values = torch.tensor(values, dtype=torch.double)
    return lambda weights: (weights @ values) / weights.sum(1)


def all_draws(statistic, resampler):
    return torch.cat([statistic(weights) for weights in resampler.weights()])


def test_two_names_give_the_three_possible_means_in_binomial_proportions():
    resampler = bootstrap.Resampler(["a", "b"], one_fold(2), draws=4000, seed=0)
    draws = all_draws(mean_of([0.0, 1.0]), resampler)
    assert set(draws.tolist()) == {0.0, 0.5, 1.0}
    assert (draws == 0.5).double().mean().item() == pytest.approx(0.5, abs=0.03)  # (a,b) or (b,a): 2 of 4
    low, high = bootstrap.percentile_interval(draws)
    assert (low.item(), high.item()) == (0.0, 1.0)


def test_a_name_with_two_rows_is_drawn_with_both():
    resampler = bootstrap.Resampler(["a", "a", "b"], one_fold(3), draws=500, seed=1)
    draws = all_draws(mean_of([1.0, 1.0, 0.0]), resampler)
    assert set(round(v, 6) for v in draws.tolist()) == {0.0, round(2 / 3, 6), 1.0}


def test_percentile_interval_on_known_values():
    values = torch.arange(1, 1001, dtype=torch.double)
    low, high = bootstrap.percentile_interval(values, 0.95)
    assert low.item() == pytest.approx(25.975) and high.item() == pytest.approx(975.025)
    low, high = bootstrap.percentile_interval(torch.tensor([1.0, float("nan"), 3.0]), 0.5)
    assert (low.item(), high.item()) == (1.5, 2.5)


def test_paired_difference_removes_what_both_share():
    """Two statistics that differ by a constant: the paired interval is that constant exactly,
    however wide each one's own interval is."""
    values = torch.rand(50, generator=torch.Generator().manual_seed(0)).tolist()
    first, second = mean_of(values), mean_of([v + 0.1 for v in values])
    resampler = bootstrap.Resampler([f"n{i}" for i in range(50)], one_fold(50), draws=1000, seed=0)
    described = bootstrap.intervals({"a": first, "gap": bootstrap.difference(second, first)},
                                   torch.zeros(50, dtype=torch.long), [0], resampler, 0.95)
    gap = described["gap"]
    assert gap["low"].item() == pytest.approx(0.1) and gap["high"].item() == pytest.approx(0.1)
    assert described["a"]["high"] - described["a"]["low"] > 0.1


def test_describe_gives_pooled_and_per_fold_values():
    fold_of_row = torch.tensor([0, 0, 1, 1, 1])
    resampler = bootstrap.Resampler(list("abcde"), fold_of_row, draws=1000, seed=0)
    described = bootstrap.intervals({"m": mean_of([1, 0, 1, 1, 1])}, fold_of_row, [0, 1], resampler, 0.95)["m"]
    assert described["value"].item() == pytest.approx(0.8)
    assert described["per_fold"].tolist() == pytest.approx([0.5, 1.0])
    assert described["low"] <= described["value"] <= described["high"]


def test_same_seed_same_draws_other_seed_other_draws():
    names = [f"n{i}" for i in range(30)]
    statistic = mean_of(list(range(30)))
    first = all_draws(statistic, bootstrap.Resampler(names, cycling_folds(30), 300, seed=5))
    assert torch.equal(first, all_draws(statistic, bootstrap.Resampler(names, cycling_folds(30), 300, seed=5, chunk=7)))
    assert not torch.equal(first, all_draws(statistic, bootstrap.Resampler(names, cycling_folds(30), 300, seed=6)))


def test_the_interval_widens_when_the_folds_disagree():
    """Two made-up models with the same pooled accuracy on the same names: one whose folds
    agree (each fold 60 % right), one whose folds disagree (20 % to 100 %). Names alone would
    give both the same interval; the fold level widens the second's."""
    folds, per_fold = 5, 100
    fold_of_row = torch.arange(folds).repeat_interleave(per_fold)
    names = [f"n{i}" for i in range(folds * per_fold)]
    within = torch.arange(per_fold)
    agree = torch.cat([(within < 60).double() for _ in range(folds)])
    disagree = torch.cat([(within < rate).double() for rate in (20, 40, 60, 80, 100)])
    resampler = bootstrap.Resampler(names, fold_of_row, draws=2000, seed=0)
    described = bootstrap.intervals({"agree": mean_of(agree.tolist()), "disagree": mean_of(disagree.tolist())},
                                   fold_of_row, list(range(folds)), resampler, 0.95)
    width = {key: (d["high"] - d["low"]).item() for key, d in described.items()}
    assert described["agree"]["value"].item() == described["disagree"]["value"].item() == pytest.approx(0.6)
    assert width["agree"] == pytest.approx(0.09, abs=0.03)  # names only: about 2 x 1.96 x sqrt(.24 / 500)
    assert width["disagree"] > 3 * width["agree"]


def test_each_draw_takes_as_many_folds_as_there_are_each_with_all_its_names_drawn():
    fold_of_row = torch.tensor([0, 0, 0, 1, 1, 2])
    resampler = bootstrap.Resampler(list("abcdef"), fold_of_row, draws=300, seed=3)
    for weights in resampler.weights():
        per_fold = torch.stack([weights[:, fold_of_row == fold].sum(1) for fold in range(3)], 1)
        sizes = torch.tensor([3.0, 2.0, 1.0])
        assert torch.equal((per_fold / sizes).sum(1), torch.full((len(weights),), 3.0, dtype=torch.double))
        assert torch.equal(per_fold / sizes, (per_fold / sizes).round())  # whole picks of a fold


def test_the_compiled_loop_and_the_numpy_loop_make_the_same_draws():
    if native.library() is None:
        pytest.skip("the compiled library is not built here (no C compiler)")
    names = [f"n{i}" for i in range(200)] + ["n3", "n7"]  # two names listed twice: one group each
    fold_of_row = torch.cat([torch.arange(200) % 4, torch.tensor([3, 3])])
    resampler = bootstrap.Resampler(names, fold_of_row, draws=123, seed=11, chunk=50)
    compiled = torch.cat(list(resampler.weights(compiled=True)))
    assert torch.equal(compiled, torch.cat(list(resampler.weights(compiled=False))))
    assert torch.equal(compiled[:, 200], compiled[:, 3]) and torch.equal(compiled[:, 201], compiled[:, 7])
    threads = torch.get_num_threads()
    torch.set_num_threads(3 if threads != 3 else 1)
    try:  # another number of threads: each draw is the same whoever makes it
        assert torch.equal(compiled, torch.cat(list(resampler.weights(compiled=True))))
    finally:
        torch.set_num_threads(threads)
