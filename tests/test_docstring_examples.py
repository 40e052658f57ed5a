"""The public API's docstring examples run, so that they cannot rot.

Every module in `MODULES` has its docstring examples (`>>>` lines) run by
`doctest` with `ELLIPSIS | NORMALIZE_WHITESPACE`; a module whose examples
need files makes them in a temporary folder inside the example. Add a module
to `MODULES` once its examples run.
"""

import doctest
import importlib

import pytest

MODULES = [
    "keras_bert_lab.config",
    "keras_bert_lab.compression",
    "keras_bert_lab.compression.distillation",
    "keras_bert_lab.compression.pruning",
    "keras_bert_lab.compression.quantization",
    "keras_bert_lab.text.masking",
    "keras_bert_lab.text.packing",
    "keras_bert_lab.text.tokenizer",
    "keras_bert_lab.text.vocab_io",
    "keras_bert_lab.text.wordpiece_learner",
    "keras_bert_lab.checkpoints.google",
    "keras_bert_lab.checkpoints.hf",
    "keras_bert_lab.checkpoints.keras_hub",
    "keras_bert_lab.checkpoints.loader",
    "keras_bert_lab.checkpoints.names",
    "keras_bert_lab.checkpoints.own",
    "keras_bert_lab.models.encoder",
    "keras_bert_lab.models.features",
    "keras_bert_lab.data.bucketing",
    "keras_bert_lab.data.corpus",
    "keras_bert_lab.data.pretraining",
    "keras_bert_lab.data.shuffling",
    "keras_bert_lab.data.labels",
    "keras_bert_lab.data.static_shapes",
    "keras_bert_lab.data.tfrecords",
    "keras_bert_lab.data.classification",
    "keras_bert_lab.data.tagging",
    "keras_bert_lab.data.squad",
    "keras_bert_lab.data.squad_json",
    "keras_bert_lab.data.multiple_choice",
    "keras_bert_lab.data.preprocessor",
    "keras_bert_lab.data.dev_split",
    "keras_bert_lab.tasks",
    "keras_bert_lab.tasks.config",
    "keras_bert_lab.tasks.base",
    "keras_bert_lab.tasks.classification",
    "keras_bert_lab.tasks.tagging",
    "keras_bert_lab.tasks.squad",
    "keras_bert_lab.tasks.multiple_choice",
    "keras_bert_lab.tasks.finetuning",
    "keras_bert_lab.training.errors",
    "keras_bert_lab.training.optimization",
    "keras_bert_lab.training.backup",
    "keras_bert_lab.training.distribution",
    "keras_bert_lab.training.watchdog",
    "keras_bert_lab.training.cli_flags",
    "keras_bert_lab.training.runtime",
    "keras_bert_lab.training.loop",
    "keras_bert_lab.training.pretraining",
    "keras_bert_lab.tasks.pretraining",
    "keras_bert_lab.models.pretrainer",
    "keras_bert_lab.layers.activations",
    "keras_bert_lab.layers.attention",
    "keras_bert_lab.layers.embeddings",
    "keras_bert_lab.layers.heads",
    "keras_bert_lab.layers.transformer_block",
    "keras_bert_lab.metrics",
    "keras_bert_lab.reports.curves",
    "keras_bert_lab.reports.confusion",
    "keras_bert_lab.reports.figure",
    "keras_bert_lab.serving.classification",
    "keras_bert_lab.serving.tagging",
    "keras_bert_lab.serving.squad",
    "keras_bert_lab.serving.multiple_choice",
    "keras_bert_lab.serving.encoder",
    "keras_bert_lab.serving.export",
    "keras_bert_lab.serving.savedmodel",
    "keras_bert_lab.serving.batching",
    "keras_bert_lab.models.task_models",
]

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module)
           if t.examples]
  assert tests, f"{name} has no docstring examples."
  report = []
  runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
  for test in sorted(tests, key=lambda t: t.name):
    runner.run(test, out=report.append)
  result = runner.summarize(verbose=False)
  assert not result.failed, (
      f"{result.failed} of {result.attempted} examples in {name} failed:\n"
      + "".join(report))
