"""Numerical parity with transformers (torch CPU) on the same weights.

Reference: `transformers.BertModel` / `BertForPreTraining` with the real
all-MiniLM-L6-v2 encoder; heads are seeded random. Our models load the HF
safetensors folder, a Google TF1 checkpoint written here with the original
variable names, and their own `save_pretrained` folder.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from keras_bert_lab.checkpoints import get_weights
from keras_bert_lab.models import BertEncoder, BertPretrainer

TOL = 1e-4


def _torch_inputs(batch):
  return dict(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
              attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
              token_type_ids=torch.tensor(batch["input_type_ids"],
                                          dtype=torch.long))


def _positions(batch):
  """Three real-token positions per row, including the last real token."""
  lengths = batch["input_mask"].sum(axis=1)
  return np.stack([[1, 2, n - 2] for n in lengths]).astype("int32")


@pytest.fixture(scope="module")
def hf_pretraining(minilm_path, tmp_path_factory):
  """An HF BertForPreTraining: MiniLM encoder, seeded random heads, saved."""
  torch.manual_seed(0)
  config = transformers.BertConfig.from_pretrained(minilm_path)
  model = transformers.BertForPreTraining(config)
  base = transformers.BertModel.from_pretrained(minilm_path)
  model.bert.load_state_dict(base.state_dict())
  with torch.no_grad():
    for name, param in model.cls.named_parameters():
      if "decoder.weight" not in name:  # tied to the word embeddings
        offset = 1.0 if "LayerNorm.weight" in name else 0.0
        param.copy_(torch.randn_like(param) * 0.05 + offset)
  model.eval()
  folder = tmp_path_factory.mktemp("hf_pretraining")
  model.save_pretrained(folder)
  return model, str(folder)


def _google_name(hf_key):
  """Reference HF -> Google TF1 name and transpose, from google-research/bert's
  modeling.py scopes (written out independently of keras_bert_lab)."""
  key = hf_key.removeprefix("bert.")
  special = {
      "cls.predictions.bias": ("cls/predictions/output_bias", False),
      "cls.seq_relationship.weight": ("cls/seq_relationship/output_weights", False),
      "cls.seq_relationship.bias": ("cls/seq_relationship/output_bias", False),
      "embeddings.word_embeddings.weight": ("bert/embeddings/word_embeddings", False),
      "embeddings.position_embeddings.weight": ("bert/embeddings/position_embeddings", False),
      "embeddings.token_type_embeddings.weight": ("bert/embeddings/token_type_embeddings", False),
  }
  if key in special:
    return special[key]
  scope, leaf = key.rsplit(".", 1)
  scope = scope.replace("encoder.layer.", "encoder.layer_").replace(".", "/")
  if not scope.startswith("cls"):
    scope = "bert/" + scope
  if scope.endswith("LayerNorm"):
    return f"{scope}/{'gamma' if leaf == 'weight' else 'beta'}", False
  return f"{scope}/{'kernel' if leaf == 'weight' else 'bias'}", leaf == "weight"


@pytest.fixture(scope="module")
def google_folder(hf_pretraining, minilm_path, tmp_path_factory):
  """The same weights as a Google TF1 checkpoint, with an optimizer slot."""
  model, _ = hf_pretraining
  folder = tmp_path_factory.mktemp("uncased_L-6_H-384_A-12")
  arrays = {}
  for key, value in model.state_dict().items():
    if key.startswith("cls.predictions.decoder") or key.endswith("position_ids"):
      continue
    name, transpose = _google_name(key)
    value = value.numpy()
    arrays[name] = value.T if transpose else value
  arrays["bert/pooler/dense/kernel/adam_m"] = np.zeros_like(arrays["bert/pooler/dense/kernel"])
  with tf.Graph().as_default():
    variables = [tf.compat.v1.Variable(v, name=n) for n, v in arrays.items()]
    step = tf.compat.v1.train.get_or_create_global_step()
    saver = tf.compat.v1.train.Saver(variables + [step])
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      saver.save(sess, str(folder / "bert_model.ckpt"), write_meta_graph=False,
                 write_state=False)
  c = model.config
  google_config = dict(
      vocab_size=c.vocab_size, hidden_size=c.hidden_size,
      num_hidden_layers=c.num_hidden_layers,
      num_attention_heads=c.num_attention_heads,
      intermediate_size=c.intermediate_size, hidden_act="gelu",
      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
      max_position_embeddings=c.max_position_embeddings,
      type_vocab_size=c.type_vocab_size, initializer_range=0.02)
  (folder / "bert_config.json").write_text(json.dumps(google_config))
  shutil.copy(os.path.join(minilm_path, "vocab.txt"), folder / "vocab.txt")
  return str(folder)


def _reference_heads(model, batch, positions):
  with torch.no_grad():
    out = model(**_torch_inputs(batch))
  mlm = np.take_along_axis(out.prediction_logits.numpy(),
                           positions[:, :, None].astype(np.int64), axis=1)
  return mlm, out.seq_relationship_logits.numpy()


def _ours(model, batch, positions):
  out = model({**batch, "masked_lm_positions": positions})
  return (np.asarray(out["masked_lm_logits"]),
          np.asarray(out["next_sentence_logits"]))


def test_encoder_matches_transformers_bert_model(minilm_path, batch):
  reference = transformers.BertModel.from_pretrained(
      minilm_path, attn_implementation="eager").eval()
  values = []   # each block's value projection, taken by a forward hook
  for layer in reference.encoder.layer:
    layer.attention.self.value.register_forward_hook(
        lambda module, args, output: values.append(output.numpy()))
  with torch.no_grad():
    ref = reference(**_torch_inputs(batch), output_attentions=True)
  encoder = BertEncoder.from_pretrained(minilm_path)
  out = encoder(batch)
  assert batch["input_mask"].min() == 0 and (batch["input_type_ids"] == 1).any()
  np.testing.assert_allclose(out["sequence_output"],
                             ref.last_hidden_state.numpy(), atol=TOL, rtol=0)
  np.testing.assert_allclose(out["pooled_output"], ref.pooler_output.numpy(),
                             atol=TOL, rtol=0)
  # The attention outputs: HF's probabilities are the softmax of our scores
  # under the padding mask; our values are HF's, split into heads.
  pad = (1.0 - batch["input_mask"][:, None, None, :]) * -1e9
  for scores, ours, probs, value in zip(out["attention_scores"],
                                        out["attention_values"],
                                        ref.attentions, values):
    np.testing.assert_allclose(tf.nn.softmax(scores + pad), probs.numpy(),
                               atol=TOL, rtol=0)
    heads = value.reshape(*value.shape[:2], 12, 32).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(ours, heads, atol=TOL, rtol=0)
  assert encoder.lower_case is True and len(encoder.vocab) == 30522


@pytest.mark.parametrize("layout", ["hf", "google"])
def test_pretrainer_heads_match_transformers(layout, hf_pretraining,
                                             google_folder, batch, caplog):
  model, hf_folder = hf_pretraining
  positions = _positions(batch)
  ref_mlm, ref_nsp = _reference_heads(model, batch, positions)
  folder = hf_folder if layout == "hf" else google_folder
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    ours = BertPretrainer.from_pretrained(folder)
  assert "not in the checkpoint" not in caplog.text
  if layout == "google":
    assert "adam_m" not in caplog.text and ours.lower_case is True
  mlm, nsp = _ours(ours, batch, positions)
  np.testing.assert_allclose(mlm, ref_mlm, atol=TOL, rtol=0)
  np.testing.assert_allclose(nsp, ref_nsp, atol=TOL, rtol=0)


def test_save_pretrained_round_trip_is_exact_and_readable_by_transformers(
    hf_pretraining, batch, tmp_path):
  model, hf_folder = hf_pretraining
  ours = BertPretrainer.from_pretrained(hf_folder)
  ours.save_pretrained(tmp_path)
  again = BertPretrainer.from_pretrained(tmp_path)
  before, after = get_weights(ours), get_weights(again)
  assert before.keys() == after.keys()
  for name in before:
    np.testing.assert_array_equal(before[name], after[name], err_msg=name)
  positions = _positions(batch)
  for a, b in zip(_ours(ours, batch, positions), _ours(again, batch, positions)):
    np.testing.assert_array_equal(a, b)
  assert again.vocab == ours.vocab and again.lower_case == ours.lower_case
  reread = transformers.BertForPreTraining.from_pretrained(tmp_path).eval()
  ref_mlm, ref_nsp = _reference_heads(model, batch, positions)
  mlm, nsp = _reference_heads(reread, batch, positions)
  np.testing.assert_allclose(mlm, ref_mlm, atol=TOL, rtol=0)
  np.testing.assert_allclose(nsp, ref_nsp, atol=TOL, rtol=0)


def test_masked_lm_layout_loads_heads_and_reports_missing(
    hf_pretraining, batch, tmp_path, caplog):
  model, _ = hf_pretraining
  mlm_model = transformers.BertForMaskedLM(model.config)
  mlm_model.bert.load_state_dict(model.bert.state_dict(), strict=False)
  mlm_model.cls.load_state_dict(
      {k: v for k, v in model.cls.state_dict().items()
       if k.startswith("predictions")}, strict=False)
  mlm_model.eval().save_pretrained(tmp_path)
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    ours = BertPretrainer.from_pretrained(str(tmp_path))
  # BertForMaskedLM has no pooler and no NSP head: both listed as missing.
  assert "bert/pooler/dense/kernel" in caplog.text
  assert "cls/seq_relationship/output_weights" in caplog.text
  positions = _positions(batch)
  with torch.no_grad():
    ref = mlm_model(**_torch_inputs(batch)).logits.numpy()
  ref = np.take_along_axis(ref, positions[:, :, None].astype(np.int64), axis=1)
  np.testing.assert_allclose(_ours(ours, batch, positions)[0], ref,
                             atol=TOL, rtol=0)
