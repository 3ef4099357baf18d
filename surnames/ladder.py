"""The ablation ladder: which cells are compared, and what each comparison isolates.

The course report says the LSTM beats the RNN through (1) gradient flow, (2) long-range
memory and (3) its gates. The ladder asks which change from the course RNN to the course
LSTM carries the lead, one change at a time (cells in surnames/cells.py):

    rnn ──tanh──▶ tanh_rnn ──width──▶ wide_tanh_rnn ──gates──▶ lstm
                                                   lstm_forget_open ─┐ (lstm − each: that gate)
                                                   lstm_output_open ─┘

Each comparison is `model − against` on held-out names, paired (surnames/evaluate.py).
Plain data, no torch: the report imports it too.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    model: str
    against: str
    isolates: str  # what the comparison changes, for the report's table


PAIRS = (  # each cell against the rung below it, then the course LSTM against each cell
    Pair("tanh_rnn", "rnn", "non-linearity: hidden = tanh(i2h(combined))"),
    Pair("wide_tanh_rnn", "tanh_rnn", "capacity: the tanh RNN at the LSTM's parameter count"),
    Pair("lstm_forget_open", "wide_tanh_rnn", "gates, forget gate held open, against the same capacity"),
    Pair("lstm_output_open", "wide_tanh_rnn", "gates, output gate held open, against the same capacity"),
    Pair("lstm", "wide_tanh_rnn", "gates: the whole LSTM against an RNN of its parameter count"),
    Pair("lstm", "lstm_forget_open", "the forget gate"),
    Pair("lstm", "lstm_output_open", "the output gate"),
    Pair("lstm", "tanh_rnn", "gates and capacity"),
    Pair("lstm", "rnn", "everything: the course comparison"),
)
PATH = (("tanh_rnn", "rnn", "non-linearity"), ("wide_tanh_rnn", "tanh_rnn", "capacity"),
        ("lstm", "wide_tanh_rnn", "gating"))  # rnn -> lstm one change at a time: these add up to the gap
GATING = (("lstm", "lstm_forget_open", "the forget gate"),  # and the gating comparison, split in two
          ("lstm_forget_open", "wide_tanh_rnn", "the rest of the LSTM (its forget gate held open)"))
RUNGS = ("rnn", "tanh_rnn", "wide_tanh_rnn", "lstm_forget_open", "lstm_output_open", "lstm")  # bottom to top
PAIR_SCORES = ("accuracy", "corrected_accuracy", "balanced_accuracy", "macro_f1")
LABELS = {"rnn": "RNN (course)", "tanh_rnn": "tanh RNN", "wide_tanh_rnn": "tanh RNN (LSTM-sized)",
          "lstm_forget_open": "LSTM (forget gate open)", "lstm_output_open": "LSTM (output gate open)",
          "lstm": "LSTM (course)"}
OWN_BEST = "own best"  # the view of surnames/matched.py with each rung at its best val budget
