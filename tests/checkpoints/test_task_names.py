"""Task-head names against the references' own variable names and shapes.

HF: the state dicts of `BertForSequenceClassification`,
`BertForTokenClassification`, `BertForQuestionAnswering`,
`BertForMultipleChoice`. Google: run_classifier.py's `output_weights`
`[num_labels, H]` / `output_bias`, run_squad.py's `cls/squad/output_weights`
`[2, H]` / `cls/squad/output_bias` (written out here from those scripts).
"""

import pytest
import transformers

from keras_bert_lab.checkpoints import model_variables
from keras_bert_lab.checkpoints.hf import (HEAD_PREFIXES, canonical_to_hf,
                                           hf_to_canonical)
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import (BertClassifier, BertEncoder,
                                   BertMultipleChoice, BertSpanLabeler,
                                   BertTokenClassifier)

CONFIG = BertConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=2,
                    intermediate_size=64)


def _hf_shapes(cls_name, **kwargs):
  config = transformers.BertConfig(
      vocab_size=64, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=64, **kwargs)
  model = getattr(transformers, cls_name)(config)
  return {k: tuple(v.shape) for k, v in model.state_dict().items()
          if not k.endswith("position_ids")}


def _ours_as_hf(model):
  out = {}
  for name, var in model_variables(model).items():
    key, transpose = canonical_to_hf(name)
    if not key.startswith(HEAD_PREFIXES):
      key = "bert." + key
    out[key] = tuple(var.shape)[::-1] if transpose else tuple(var.shape)
  return out


@pytest.mark.parametrize("cls_name, build, kwargs, no_pooler", [
    ("BertForSequenceClassification",
     lambda enc: BertClassifier(enc, 3), dict(num_labels=3), False),
    ("BertForSequenceClassification",
     lambda enc: BertClassifier(enc, 1), dict(num_labels=1), False),
    ("BertForTokenClassification",
     lambda enc: BertTokenClassifier(enc, 7), dict(num_labels=7), True),
    ("BertForQuestionAnswering", BertSpanLabeler, {}, True),
    ("BertForMultipleChoice", BertMultipleChoice, {}, False),
])
def test_hf_task_layouts(cls_name, build, kwargs, no_pooler):
  ours = _ours_as_hf(build(BertEncoder(CONFIG)))
  reference = _hf_shapes(cls_name, **kwargs)
  if no_pooler:  # HF builds these without a pooler; ours keeps it.
    ours = {k: v for k, v in ours.items() if ".pooler." not in k}
  assert ours == reference


def test_google_head_names():
  enc = BertEncoder(CONFIG)
  clf = model_variables(BertClassifier(enc, 3))
  assert tuple(clf["output_weights"].shape) == (3, 32)  # run_classifier.py
  assert tuple(clf["output_bias"].shape) == (3,)
  qa = model_variables(BertSpanLabeler(enc))
  assert tuple(qa["cls/squad/output_weights"].shape) == (2, 32)  # run_squad.py
  assert tuple(qa["cls/squad/output_bias"].shape) == (2,)


@pytest.mark.parametrize("name, key", [
    ("output_weights", "classifier.weight"),
    ("output_bias", "classifier.bias"),
    ("cls/squad/output_weights", "qa_outputs.weight"),
    ("cls/squad/output_bias", "qa_outputs.bias"),
])
def test_head_rule_and_inverse(name, key):
  assert canonical_to_hf(name) == (key, False)
  assert hf_to_canonical(key) == (name, False)
  assert hf_to_canonical("bert." + key) == (name, False)
