"""Task heads: parity with transformers' BertFor... classes on the same weights.

Reference: `transformers.BertForSequenceClassification`,
`BertForTokenClassification`, `BertForQuestionAnswering`,
`BertForMultipleChoice` (torch CPU, eval mode) with the real all-MiniLM-L6-v2
encoder. Both directions: our `save_pretrained` folder read by transformers,
and transformers' `save_pretrained` folder (safetensors; transformers 5 has
no other format and no `safe_serialization` argument) read by
`from_pretrained` / `load_task_model`. Also the paper's feature-based recipe
against `BertModel(output_hidden_states=True)`.
"""

import json

import numpy as np
import pytest
import torch
import transformers

from keras_bert_lab.models import (BertClassifier, BertEncoder,
                                   BertMultipleChoice, BertSpanLabeler,
                                   BertTokenClassifier, features,
                                   load_task_model)

TOL = 1e-4
LABELS = {"sequence": ["negative", "neutral", "positive"],
          "token": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]}
HF_CLASSES = {
    "sequence": transformers.BertForSequenceClassification,
    "regression": transformers.BertForSequenceClassification,
    "token": transformers.BertForTokenClassification,
    "qa": transformers.BertForQuestionAnswering,
    "choice": transformers.BertForMultipleChoice,
}
KINDS = list(HF_CLASSES)


def _choice_batch(batch):
  """The first six padded rows as 2 questions x 3 choices."""
  return {k: v[:6].reshape(2, 3, -1) for k, v in batch.items()}


def _inputs(kind, batch):
  return _choice_batch(batch) if kind == "choice" else batch


def _torch(features):
  return dict(
      input_ids=torch.tensor(features["input_word_ids"], dtype=torch.long),
      attention_mask=torch.tensor(features["input_mask"], dtype=torch.long),
      token_type_ids=torch.tensor(features["input_type_ids"],
                                  dtype=torch.long))


def _reference(model, features):
  with torch.no_grad():
    out = model(**_torch(features))
  if hasattr(out, "start_logits"):
    return {"start_logits": out.start_logits.numpy(),
            "end_logits": out.end_logits.numpy()}
  return {"logits": out.logits.numpy()}


def _ours(model, features):
  out = model(features)
  if isinstance(out, dict):
    return {k: np.asarray(v) for k, v in out.items()}
  return {"logits": np.asarray(out)}


def _assert_close(ours, reference):
  assert ours.keys() == reference.keys()
  for key in ours:
    assert ours[key].shape == reference[key].shape, key
    np.testing.assert_allclose(ours[key], reference[key], atol=TOL, rtol=0,
                               err_msg=key)


def _our_model(kind, encoder):
  if kind == "sequence":
    return BertClassifier(encoder, labels=LABELS["sequence"])
  if kind == "regression":
    return BertClassifier(encoder, 1)
  if kind == "token":
    return BertTokenClassifier(encoder, labels=LABELS["token"])
  if kind == "qa":
    return BertSpanLabeler(encoder)
  return BertMultipleChoice(encoder)


@pytest.fixture(scope="module")
def minilm_encoder(minilm_path):
  return BertEncoder.from_pretrained(minilm_path)


def _randomize_head(model, seed):
  """Larger-than-default random heads so that a wrong row or sign shows."""
  import keras
  keras.utils.set_random_seed(seed)
  rng = np.random.default_rng(seed)
  for var in (model.head.output_weights, model.head.output_bias):
    var.assign(rng.normal(scale=0.3, size=var.shape).astype("float32"))


@pytest.mark.parametrize("kind", KINDS)
def test_our_folder_is_read_by_transformers(kind, minilm_encoder, batch,
                                            tmp_path):
  model = _our_model(kind, minilm_encoder)
  _randomize_head(model, seed=KINDS.index(kind))
  model.save_pretrained(tmp_path, max_seq_length=48)
  reference = HF_CLASSES[kind].from_pretrained(
      tmp_path, attn_implementation="eager").eval()
  x = _inputs(kind, batch)
  _assert_close(_ours(model, x), _reference(reference, x))
  if kind in ("sequence", "token"):
    names = LABELS[kind]
    assert reference.config.id2label == dict(enumerate(names))
    assert reference.config.label2id == {n: i for i, n in enumerate(names)}
  if kind == "sequence":
    assert reference.config.problem_type == "single_label_classification"
  if kind == "regression":
    assert reference.config.problem_type == "regression"
    assert reference.config.num_labels == 1


def _hf_model(kind, minilm_path, seed):
  torch.manual_seed(seed)
  kwargs = {}
  if kind in ("sequence", "token"):
    names = LABELS[kind]
    kwargs = dict(id2label=dict(enumerate(names)),
                  label2id={n: i for i, n in enumerate(names)})
  elif kind == "regression":
    kwargs = dict(num_labels=1)
  model = HF_CLASSES[kind].from_pretrained(
      minilm_path, attn_implementation="eager", **kwargs)
  head = model.qa_outputs if kind == "qa" else model.classifier
  with torch.no_grad():
    for param in head.parameters():
      param.copy_(torch.randn_like(param) * 0.3)
  return model.eval()


@pytest.mark.parametrize("kind", KINDS)
def test_transformers_folder_is_read_by_from_pretrained(
    kind, minilm_path, batch, tmp_path, caplog):
  reference = _hf_model(kind, minilm_path, seed=10 + KINDS.index(kind))
  reference.save_pretrained(tmp_path)
  # Our model needs the vocabulary; HF's model folder does not hold one.
  (tmp_path / "vocab.txt").write_text(
      open(f"{minilm_path}/vocab.txt", encoding="utf-8").read())
  x = _inputs(kind, batch)
  expected = _reference(reference, x)
  cls = {"sequence": BertClassifier, "regression": BertClassifier,
         "token": BertTokenClassifier, "qa": BertSpanLabeler,
         "choice": BertMultipleChoice}[kind]
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    ours = cls.from_pretrained(str(tmp_path))
  # HF's token and QA models have no pooler; nothing else may be missing.
  missing = [line for line in caplog.text.splitlines()
             if "not in the checkpoint" in line]
  if kind in ("token", "qa"):
    assert len(missing) == 1 and "bert/pooler/dense/kernel" in missing[0]
    assert "output" not in missing[0].split("values:")[1]
  else:
    assert not missing, missing
  assert "not used" not in caplog.text
  _assert_close(_ours(ours, x), expected)
  model, info = load_task_model(str(tmp_path))
  assert type(model) is cls
  assert info["task"] == {"sequence": "classification",
                          "regression": "regression", "token": "tagging",
                          "qa": "squad", "choice": "multiple_choice"}[kind]
  assert info["labels"] == LABELS.get(kind)
  assert model.labels == LABELS.get(kind)
  _assert_close(_ours(model, x), expected)


def test_hf_default_label_names_are_not_kept(minilm_path, tmp_path):
  """HF writes LABEL_0.. when a model has no label names; those are not
  names, so the model carries none and num_classes comes from the head."""
  torch.manual_seed(0)
  reference = transformers.BertForSequenceClassification.from_pretrained(
      minilm_path, num_labels=4)
  reference.save_pretrained(tmp_path)
  config = json.loads((tmp_path / "config.json").read_text())
  assert config["id2label"]["0"] == "LABEL_0"
  (tmp_path / "vocab.txt").write_text(
      open(f"{minilm_path}/vocab.txt", encoding="utf-8").read())
  ours = BertClassifier.from_pretrained(str(tmp_path))
  assert ours.labels is None and ours.num_outputs == 4
  with pytest.raises(ValueError, match=r"\(4, 384\).*\(2, 384\)"):
    BertClassifier.from_pretrained(str(tmp_path), num_classes=2)


def test_feature_based_recipe_matches_hidden_states(minilm_path,
                                                    minilm_encoder, batch):
  """Paper 5.3: concat of the last four layers; sentence-transformers' mean
  pooling (sum of token vectors * mask / sum of mask) of the last layer."""
  reference = transformers.BertModel.from_pretrained(
      minilm_path, attn_implementation="eager").eval()
  with torch.no_grad():
    hidden = reference(**_torch(batch),
                       output_hidden_states=True).hidden_states
  hidden = [h.numpy() for h in hidden]  # [embeddings, layer 1, ..., layer 6]
  concat = np.concatenate(hidden[-4:], axis=-1)
  out = features(minilm_encoder)(batch)
  np.testing.assert_allclose(out["token_features"], concat, atol=TOL, rtol=0)
  np.testing.assert_allclose(out["sentence_features"], concat[:, 0], atol=TOL,
                             rtol=0)
  mask = batch["input_mask"][:, :, None].astype("float32")
  mean = (hidden[-1] * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
  out = features(minilm_encoder, layers=(-1,), pooling="mean")(batch)
  np.testing.assert_allclose(out["sentence_features"], mean, atol=TOL, rtol=0)
