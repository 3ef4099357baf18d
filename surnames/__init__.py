"""surnames: the library behind the pipeline. A character-level RNN and LSTM (the course
report's cells), a character n-gram baseline, cross-validation folds by distinct name,
scores with paired bootstrap intervals, atomic outputs and one-line errors.

Importing it, or any module of it, changes nothing in the process: no environment variable,
no signal handler, no thread setting (the entry points in stages/ set the process up).
The user command `python -m surnames.predict` predicts languages with a trained model.
"""
