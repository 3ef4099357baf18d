"""Verdicts: what a paired difference says, which lrs tie on val names, which steps hold.

Plain data in, plain data out (no torch): surnames/matched.py computes the differences, this
module judges them, and the report, the figure and the README read its judgements from
metrics/ladder.json without judging again.

- A difference is `up` when its 95 % interval lies above 0, `down` when below, `none` otherwise.
- Own best: a cell's lr with the best val score, per score. Where the paired interval of its
  val scores at two lrs includes 0 the lrs tie: own best then takes every tied lr, and a step's
  own-best verdict is the one all those choices share, or `tie` when they differ.
- A step holds when its verdicts are all `up` (or all `down`) in every view on every claim
  score (balanced and prior-corrected accuracy).
"""
UP, DOWN, NONE, TIE = "up", "down", "none", "tie"


def verdict(low: float, high: float) -> str:
    return UP if low > 0 else DOWN if high < 0 else NONE


def tied(best: float, differences: dict[float, dict]) -> list[float]:
    """The best lr and every lr whose val difference from it (`differences[lr]`: best − lr, with
    its interval) includes 0, in increasing order."""
    return sorted([best, *(lr for lr, d in differences.items() if lr != best and d["low"] <= 0 <= d["high"])])


def shared(verdicts: list[str]) -> str:
    """The verdict every choice of own best gives, or `tie` when a val tie leaves it open."""
    return verdicts[0] if len(set(verdicts)) == 1 else TIE


def holding(entries: list[dict], steps: list[str], views: list[str], scores: tuple[str, ...]) -> list[dict]:
    """[{step, direction}] for each step whose verdict is the same `up` or `down` in every view on
    every one of `scores` (a missing entry, e.g. a cell that blew up, holds nothing)."""
    found = {(e["step"], e["score"], e["view"]): e["verdict"] for e in entries}
    result = []
    for step in steps:
        seen = {found.get((step, score, view)) for score in scores for view in views}
        if len(seen) == 1 and seen <= {UP, DOWN}:
            result.append({"step": step, "direction": seen.pop()})
    return result
