"""Evaluation: `evaluator` scores tasks and writes predictions and scores; `forward` runs the cached
jitted model over a task's batches; `decoders/` turns outputs into gold and predicted values, one
module per output format; `metrics`, `qa_metrics` and `retrieval_metrics` are the official scorers;
`retrieval` holds the retrieval splits tasks register; `aggregation` averages benchmark scores."""
