"""Trainer callbacks that write a log regadvisor reads and report on it when training ends.

- :mod:`regadvisor.integrations.lightning`: ``RegadvisorCallback`` for Lightning ``Trainer``
  (``pip install regadvisor[lightning]``).
- :mod:`regadvisor.integrations.huggingface`: ``RegadvisorTrainerCallback`` for transformers
  ``Trainer`` (``pip install regadvisor[huggingface]``).

Importing this package imports neither framework: each callback's module imports its own, so
regadvisor itself never depends on them. Both write the same files (see
:mod:`regadvisor.integrations._runlog`): a JSON Lines metrics log appended as training runs,
and ``hparams.yaml`` beside it holding the run's hyperparameters as facts.
"""
