"""The report's words and tables for the course pair (LSTM − RNN) and the numbers' formats.

Every claim that compares two models is worded from the 95 % interval of their paired
difference: a difference only where the interval excludes 0.
"""
FIRST, SECOND = "rnn", "lstm"  # the pair the report is about: differences are SECOND − FIRST


REFERENCE_LABELS = {"baseline": "n-gram baseline", "majority": "majority class"}




def label(model: str) -> str:
    """A model's name in the report: RNN, LSTM, n-gram baseline, majority class."""
    return REFERENCE_LABELS.get(model, model.upper())


SCORE_NAMES = {"accuracy": "accuracy", "corrected_accuracy": "prior-corrected accuracy",
               "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1"}


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def with_interval(summary: dict) -> str:
    """value ± half-width of its 95 % interval, in percent."""
    return f"{pct(summary['value'])} ± {100 * (summary['high'] - summary['low']) / 2:.1f}"


def points(value: float) -> str:
    return f"{100 * value:.1f}"


def interval(entry: dict) -> str:
    return f"95 % interval [{points(entry['low'])}, {points(entry['high'])}]"


def difference_words(entry: dict, what: str) -> str:
    """How the second compares on `what`, worded from the paired interval of the difference."""
    if entry["low"] > 0:
        return f"is higher by {points(entry['difference'])} points ({interval(entry)})"
    if entry["high"] < 0:
        return f"is lower by {points(-entry['difference'])} points ({interval(entry)})"
    return (f"shows no difference measurable with this data ({points(entry['difference'])} points, "
            f"{interval(entry)} includes 0)")


def names_by_sign(entries: list[dict], key: str) -> tuple[list[str], list[str]]:
    """The entries whose interval lies above 0, and those below."""
    return ([e[key] for e in entries if e["low"] > 0], [e[key] for e in entries if e["high"] < 0])


def signed(entry: dict) -> str:
    return f"{100 * entry['difference']:+.1f} [{100 * entry['low']:+.1f}, {100 * entry['high']:+.1f}]"


def verdict(entry: dict) -> str:
    return "up" if entry["low"] > 0 else "down" if entry["high"] < 0 else "unclear"


def measured(entry: dict) -> str:
    """A paired difference in points, worded from its interval."""
    if verdict(entry) == "unclear":
        bound = 100 * max(abs(entry["low"]), abs(entry["high"]))
        return f"no difference measurable ({signed(entry)}: at most {bound:.1f} points either way)"
    return signed(entry)


def setup_table(params: dict, data: dict, models: list[str], folds: list[int]) -> str:
    """Training settings and data counts (no timings, so the report is byte-identical for
    identical params)."""
    keys = ["hidden_size", "optimizer", "lr", "batch_size", "iterations", "eval_every", "sampler", "grad_clip", "seed"]
    lines = ["| | " + " | ".join(keys + ["samples seen per fold"]) + " |", "|---" * (len(keys) + 2) + "|"]
    for m in models:
        section = params[f"train_{m}"]
        lines.append(f"| {label(m)} | " + " | ".join(str(section[k]) for k in keys)
                     + f" | {section['iterations'] * section['batch_size']:,} |")
    sizes = ", ".join(f"{fold['test']['rows']:,}" for fold in data["per_fold"])
    lines += ["", f"Data: {data['rows_raw']:,} raw rows, {data['rows_after_dedup']:,} distinct (name, language) "
              f"rows, {data['distinct_names']:,} distinct names ({data['names_in_several_languages']} under several "
              f"languages), in {data['folds']} folds by distinct name, stratified by language (test rows per fold: "
              f"{sizes}). Fold i's models (seed + i) train on the other folds' names less a val share, and are "
              f"tested on fold i's names. Results below pool folds {', '.join(map(str, folds))}."]
    if "baseline" in params:
        b = params["baseline"]
        lines += ["", f"Reference rows: an n-gram baseline (scikit-learn: TF-IDF of character {b['ngram_range'][0]}–"
                  f"{b['ngram_range'][1]}-grams within words, sublinear tf; logistic regression, C = {b['C']}, class "
                  f"weights {b['class_weight']}; settings chosen on fold 0's val names, never the test names), "
                  "trained and tested on the same folds as the cells, and the majority class of each fold's "
                  "training names."]
    return "\n".join(lines)


def results_table(metrics: dict, course_figures: dict) -> str:
    """One row per model and protocol (the reference rows last), value ± interval half-width."""
    lines = ["| model | protocol | accuracy | prior-corrected accuracy | balanced accuracy | macro F1 | loss (NLL) "
             "| course report |", "|---|---|---|---|---|---|---|---|"]
    for m in metrics:
        for protocol, what in (("train", "train: in-sample, training names"), ("test", "test: held-out names")):
            s = metrics[m][protocol]
            published = course_figures.get(m, "") if protocol == "train" else "—"
            loss = s["loss"]
            lines.append(f"| {label(m)} | {what} | {with_interval(s['accuracy'])} | "
                         f"{with_interval(s['corrected_accuracy'])} | "
                         f"{with_interval(s['balanced_accuracy'])} | {with_interval(s['macro_f1'])} | "
                         f"{loss['value']:.3f} ± {(loss['high'] - loss['low']) / 2:.3f} | {published} |")
    return "\n".join(lines)


def baseline_findings(compare: dict, references: dict) -> list[str]:
    """Each course cell against the n-gram baseline on held-out names, and the stretch goal."""
    if "vs_baseline" not in compare:
        return []
    out = []
    for m in (FIRST, SECOND):
        parts = [f"{SCORE_NAMES[e['score']]} {difference_words(e, e['score'])}"
                 for e in compare["vs_baseline"] if e["model"] == m]
        out.append(f"- **Against the n-gram baseline** (held-out names, {label(m)} − baseline): the "
                   f"{label(m)}'s " + "; ".join(parts) + ".")
    lstm = {e["score"]: e for e in compare["vs_baseline"] if e["model"] == SECOND}
    matched = all(lstm[key]["high"] >= 0 for key in ("balanced_accuracy", "macro_f1"))
    verdict = "matches or beats" if matched else "does **not** match"
    out.append(f"- Goal check: the course LSTM {verdict} the class-balanced n-gram baseline on held-out balanced "
               "accuracy and macro F1 (matching = the baseline is not ahead beyond the interval).")
    if "majority" in references:
        majority = references["majority"]["test"]
        out.append(f"- For scale, the majority class scores {with_interval(majority['accuracy'])} accuracy and "
                   f"{with_interval(majority['balanced_accuracy'])} balanced accuracy on held-out names.")
    return out


def findings(metrics: dict, compare: dict, references: dict | None = None) -> str:
    first, second = label(FIRST), label(SECOND)
    out = [f"Differences are {second} − {first} on the same names, with a paired bootstrap 95 % interval."]
    for protocol, what in (("test", "held-out names"), ("train", "in-sample, training names")):
        parts = [f"{SCORE_NAMES[key]} {difference_words(compare[protocol][key], key)}"
                 for key in SCORE_NAMES if protocol == "test" or key == "balanced_accuracy"]
        out.append(f"- **{protocol} protocol** ({what}): the {second}'s " + "; ".join(parts) + ".")
    for m in metrics:
        train, test = metrics[m]["train"]["balanced_accuracy"], metrics[m]["test"]["balanced_accuracy"]
        if train["low"] > test["high"]:
            verdict = ("its interval lies above the held-out one, so in-sample figures like the course report's "
                       "overstate it")
        elif test["low"] > train["high"]:
            verdict = "its interval lies below the held-out one"
        else:
            verdict = "the two intervals overlap, so no gap is measurable"
        out.append(f"- The {label(m)}'s balanced accuracy on its training names is {with_interval(train)}, "
                   f"on held-out names {with_interval(test)}: {verdict}.")
    ahead, behind = names_by_sign(compare["by_language"], "language")
    unclear = len(compare["by_language"]) - len(ahead) - len(behind)
    out.append(f"- Per language (held-out recall): the {second} is ahead on {len(ahead)} of "
               f"{len(compare['by_language'])} languages ({', '.join(ahead) or 'none'}) and behind on {len(behind)} "
               f"({', '.join(behind) or 'none'}); on the other {unclear} no difference is measurable with this data. "
               "Which languages are listed depends on the training run and on the bootstrap's draws: retrained "
               "with another seed, the LSTM was ahead on other languages, and with another bootstrap seed a "
               "language at the edge of its interval joins the list (docs/findings.md).")
    longer, shorter = names_by_sign(compare["by_length"], "length")
    leads = "; ".join(f"{e['length']} letters {points(e['difference'])} points [{points(e['low'])}, "
                      f"{points(e['high'])}]" for e in compare["by_length"])
    out.append(f"- By name length (held-out accuracy): the {second} is ahead on "
               f"{', '.join(longer) or 'no'} letter buckets and behind on {', '.join(shorter) or 'none'} "
               f"({leads}). Its lead on the longest names minus its lead on the shortest, in points: "
               f"{measured(compare['length_trend'])}.")
    flow = {m: metrics[m]["gradient_flow"] for m in (FIRST, SECOND)}
    ratio = {m: flow[m]["ratio_far_to_near"] for m in (FIRST, SECOND)}
    distance = flow[FIRST]["max_distance"]
    gap = compare["gradient_ratio"]
    line = (f"- Gradient flow (held-out names of at least {distance + 2} letters, {flow[FIRST]['names']} names): from "
            f"the last letter back {distance} letters the mean gradient norm at the hidden state changes by a factor "
            f"of {ratio[FIRST]['value']:.3g} [{ratio[FIRST]['low']:.3g}, {ratio[FIRST]['high']:.3g}] for the {first} "
            f"and {ratio[SECOND]['value']:.3g} [{ratio[SECOND]['low']:.3g}, {ratio[SECOND]['high']:.3g}] "
            f"for the {second} ({second} − {first}: {gap['difference']:.3g}, 95 % interval "
            f"[{gap['low']:.3g}, {gap['high']:.3g}]). ")
    if gap["low"] > 0:
        line += (f"The {first}'s gradient falls off faster, which is what the course report's vanishing-gradient "
                 "argument predicts.")
    elif gap["high"] < 0:
        line += (f"The {first}'s gradient does **not** fall off faster than the {second}'s, so this measurement "
                 f"does not support the course report's vanishing-gradient explanation for this trained {first}.")
    else:
        line += "No difference between the two is measurable with this data."
    out.append(line)
    return "\n".join(out + baseline_findings(compare, references or {}))
