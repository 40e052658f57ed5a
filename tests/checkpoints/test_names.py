"""The canonical name map against the references' own variable names."""

import pytest
import transformers

from keras_bert_lab.checkpoints import model_variables
from keras_bert_lab.checkpoints.hf import canonical_to_hf, hf_to_canonical
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertEncoder, BertPretrainer

CONFIG = BertConfig.preset("tiny", vocab_size=64, num_layers=2)


@pytest.fixture(scope="module")
def pretrainer():
  return BertPretrainer(BertEncoder(CONFIG))


def _hf_reference(cls_name):
  config = transformers.BertConfig(
      vocab_size=64, hidden_size=128, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=512)
  model = getattr(transformers, cls_name)(config)
  return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_google_names_and_shapes(pretrainer):
  """Names and shapes of google-research/bert's modeling.py / run_pretraining.py."""
  names = {n: tuple(v.shape) for n, v in model_variables(pretrainer).items()}
  assert names["bert/embeddings/word_embeddings"] == (64, 128)
  assert names["bert/embeddings/position_embeddings"] == (512, 128)
  assert names["bert/encoder/layer_1/attention/self/query/kernel"] == (128, 128)
  assert names["bert/encoder/layer_1/intermediate/dense/kernel"] == (128, 512)
  assert names["bert/encoder/layer_1/output/LayerNorm/gamma"] == (128,)
  assert names["cls/predictions/output_bias"] == (64,)
  assert names["cls/seq_relationship/output_weights"] == (2, 128)
  assert len(names) == 5 + 16 * 2 + 2 + 5 + 2


def test_hf_names_match_bert_for_pretraining(pretrainer):
  reference = _hf_reference("BertForPreTraining")
  ours = {}
  for name, var in model_variables(pretrainer).items():
    key, transpose = canonical_to_hf(name)
    key = key if key.startswith("cls.") else "bert." + key
    ours[key] = tuple(var.shape)[::-1] if transpose else tuple(var.shape)
  tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
          "bert.embeddings.position_ids"}
  assert ours == {k: v for k, v in reference.items() if k not in tied}


def test_hf_names_match_bert_model():
  encoder = BertEncoder(CONFIG)
  reference = _hf_reference("BertModel")
  ours = {canonical_to_hf(n)[0] for n in model_variables(encoder)}
  assert ours == set(reference) - {"embeddings.position_ids"}


def test_inverse_rule(pretrainer):
  for name in model_variables(pretrainer):
    key, transpose = canonical_to_hf(name)
    assert hf_to_canonical(key) == (name, transpose)
    assert hf_to_canonical("bert." + key) == (name, transpose)
  assert hf_to_canonical("bert.embeddings.LayerNorm.gamma") == (
      "bert/embeddings/LayerNorm/gamma", False)
