"""The results store: every score of every run in one SQLite file, and XTREME leaderboard submissions.

One row per (run, phase, task, language, split, metric) holds a value; a run row holds what the run
was (model and its size, intermediate task or ``targets.BASELINE``, target, seed, gin operative
config, git commit) and where the numbers come from (``source``: ``"ours"``, or ``"published"`` for
reference numbers from papers, imported from CSV by ``import_csv``). An eval task's scores are stored
under its target's name, which is the benchmark's task name (``xnli.de`` is task ``xnli``, language
``de``, as their records say). Every score records its split: XTREME's test labels are hidden, so dev
sets (``validation``) are scored; XQuAD only has ``test`` (each task record's ``scoring_split``).

Modules: `records` (runs, scores, validation), `store` (the SQLite `ResultsStore`), `csv_import`
(published reference scores from CSV) and `submission` (leaderboard submission folders).
"""
