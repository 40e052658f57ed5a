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
    "keras_bert_lab.data.static_shapes",
    "keras_bert_lab.data.tfrecords",
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
