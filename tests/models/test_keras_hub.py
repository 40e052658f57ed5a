"""keras-hub `BertBackbone` -> our encoder: same outputs (tanh GELU)."""

import keras_hub
import numpy as np
import pytest

from keras_bert_lab.models import BertEncoder


@pytest.fixture(scope="module")
def backbone(minilm_path):
  return keras_hub.models.BertBackbone.from_preset(minilm_path)


def _reference(backbone, batch):
  return backbone({"token_ids": batch["input_word_ids"],
                   "segment_ids": batch["input_type_ids"],
                   "padding_mask": batch["input_mask"]})


def _check(encoder, reference, batch):
  out = encoder(batch)
  np.testing.assert_allclose(out["sequence_output"],
                             reference["sequence_output"], atol=1e-4, rtol=0)
  np.testing.assert_allclose(out["pooled_output"], reference["pooled_output"],
                             atol=1e-4, rtol=0)


def test_backbone_object_converts_and_matches(backbone, batch):
  encoder = BertEncoder.from_pretrained(backbone)
  assert encoder.config.hidden_act == "gelu_approximate"
  _check(encoder, _reference(backbone, batch), batch)


def test_preset_folder_converts_with_vocab(backbone, minilm_path, batch,
                                           tmp_path):
  backbone.save_to_preset(str(tmp_path))
  keras_hub.models.BertTokenizer(
      vocabulary=f"{minilm_path}/vocab.txt", lowercase=True
  ).save_to_preset(str(tmp_path))
  encoder = BertEncoder.from_pretrained(str(tmp_path))
  assert len(encoder.vocab) == 30522 and encoder.lower_case is True
  _check(encoder, _reference(backbone, batch), batch)


def test_hf_gelu_differs_from_keras_hub_tanh(backbone, minilm_path, batch):
  """Sanity check that the comparison is sensitive to the GELU form."""
  exact = BertEncoder.from_pretrained(minilm_path)
  diff = np.abs(np.asarray(exact(batch)["sequence_output"])
                - np.asarray(_reference(backbone, batch)["sequence_output"]))
  assert diff.max() > 1e-4
