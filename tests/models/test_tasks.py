"""Task models on tiny configs: shapes, dtypes, gradients, XLA, persistence.

References: the output contracts of /tmp/kb/finetune_api.md (HF's
`BertFor...` outputs), Google's head names and shapes (run_classifier.py
`output_weights [num_labels, H]`, run_squad.py `cls/squad/output_weights
[2, H]`), and exact equality for round trips.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.checkpoints import get_weights, model_variables
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import (BertClassifier, BertEncoder,
                                   BertFeatureExtractor, BertMultipleChoice,
                                   BertSpanLabeler, BertTokenClassifier,
                                   features, load_task_model)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    f"w{i}" for i in range(27)]
BATCH, SEQ, K = 3, 8, 4


def _config(**overrides):
  values = dict(vocab_size=len(VOCAB), hidden_size=32, num_layers=2,
                num_heads=2, intermediate_size=64)
  values.update(overrides)
  return BertConfig(**values)


def _features(shape=(BATCH, SEQ), seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, len(VOCAB), size=shape).astype("int32")
  mask = np.ones(shape, "int32")
  mask[..., -3:] = 0  # padding exercised
  mask[0, ..., -1:] = 1 if len(shape) == 2 else mask[0, ..., -1:]
  types = np.zeros(shape, "int32")
  types[..., 3:] = 1
  return {"input_word_ids": ids * mask, "input_mask": mask,
          "input_type_ids": types * mask}


def _encoder(**overrides):
  keras.utils.set_random_seed(1)
  return BertEncoder(_config(**overrides), vocab=VOCAB, lower_case=False)


def _models(encoder):
  return {
      "classifier": BertClassifier(encoder, 3, labels=["neg", "neu", "pos"]),
      "regression": BertClassifier(encoder, 1),
      "tagger": BertTokenClassifier(encoder, 5),
      "span": BertSpanLabeler(encoder),
      "choice": BertMultipleChoice(encoder),
  }


def _inputs(kind):
  return _features((BATCH, K, SEQ)) if kind == "choice" else _features()


EXPECTED = {
    "classifier": (BATCH, 3),
    "regression": (BATCH, 1),
    "tagger": (BATCH, SEQ, 5),
    "span": {"start_logits": (BATCH, SEQ), "end_logits": (BATCH, SEQ)},
    "choice": (BATCH, K),
}


def _as_dict(out):
  return out if isinstance(out, dict) else {"logits": out}


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_output_shapes_and_float32_logits(policy):
  keras.mixed_precision.set_global_policy(policy)
  try:
    models = _models(_encoder())
    for kind, model in models.items():
      out = model(_inputs(kind))
      expected = EXPECTED[kind]
      expected = expected if isinstance(expected, dict) else {
          "logits": expected}
      got = _as_dict(out)
      assert {k: tuple(v.shape) for k, v in got.items()} == expected, kind
      for value in got.values():
        assert value.dtype == "float32", (kind, policy)
        assert np.isfinite(np.asarray(value)).all()
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_heads_have_googles_names_and_shapes():
  models = _models(_encoder())
  def head(model):
    return {n: tuple(v.shape) for n, v in model_variables(model).items()
            if not n.startswith("bert/")}
  assert head(models["classifier"]) == {"output_weights": (3, 32),
                                        "output_bias": (3,)}
  assert head(models["tagger"]) == {"output_weights": (5, 32),
                                    "output_bias": (5,)}
  assert head(models["choice"]) == {"output_weights": (1, 32),
                                    "output_bias": (1,)}
  assert head(models["span"]) == {"cls/squad/output_weights": (2, 32),
                                  "cls/squad/output_bias": (2,)}


def test_logits_are_the_head_applied_to_the_encoder():
  """Definitions: classifier = W pooled + b; tagger = W h_t + b; span splits
  W h_t + b into start (row 0) and end (row 1); choice reshapes [B*K] back."""
  encoder = _encoder()
  models = _models(encoder)
  f = _features()
  enc = encoder(f)
  pooled = np.asarray(enc["pooled_output"])
  seq = np.asarray(enc["sequence_output"])
  w = {k: get_weights(m) for k, m in models.items()}
  np.testing.assert_allclose(
      models["classifier"](f),
      pooled @ w["classifier"]["output_weights"].T
      + w["classifier"]["output_bias"], atol=1e-5)
  np.testing.assert_allclose(
      models["tagger"](f), seq @ w["tagger"]["output_weights"].T
      + w["tagger"]["output_bias"], atol=1e-5)
  span = models["span"](f)
  ws, bs = (w["span"]["cls/squad/output_weights"],
            w["span"]["cls/squad/output_bias"])
  np.testing.assert_allclose(span["start_logits"], seq @ ws[0] + bs[0],
                             atol=1e-5)
  np.testing.assert_allclose(span["end_logits"], seq @ ws[1] + bs[1],
                             atol=1e-5)
  fc = _features((BATCH, K, SEQ))
  flat = {k: v.reshape(BATCH * K, SEQ) for k, v in fc.items()}
  pooled = np.asarray(encoder(flat)["pooled_output"])
  ref = (pooled @ w["choice"]["output_weights"].T
         + w["choice"]["output_bias"]).reshape(BATCH, K)
  np.testing.assert_allclose(models["choice"](fc), ref, atol=1e-5)


def test_multiple_choice_fixed_k_and_any_k():
  encoder = _encoder()
  fixed = BertMultipleChoice(encoder, num_choices=K)
  assert fixed.inputs[0].shape[1] == K
  any_k = BertMultipleChoice(encoder)
  for k in (2, 5):
    assert tuple(any_k(_features((2, k, SEQ))).shape) == (2, k)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_gradients_reach_head_and_encoder(kind):
  model = _models(_encoder())[kind]
  with tf.GradientTape() as tape:
    out = _as_dict(model(_inputs(kind), training=True))
    loss = sum(tf.reduce_sum(tf.square(v)) for v in out.values())
  grads = tape.gradient(loss, model.trainable_variables)
  unused = []
  for var, grad in zip(model.trainable_variables, grads):
    if grad is None:
      unused.append(var.path)
    else:
      assert np.abs(np.asarray(tf.convert_to_tensor(grad))).sum() > 0, var.path
  # Tagging and span heads read the sequence output, not the pooler
  # (HF's BertForTokenClassification / QA have no pooler at all).
  if kind in ("tagger", "span"):
    assert sorted(unused) == ["pooler/bias", "pooler/kernel"], unused
  else:
    assert not unused, unused


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classifier", "tagger", "span", "choice"])
def test_fit_with_jit_compile(kind):
  model = _models(_encoder())[kind]
  sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  x = _inputs(kind)
  rng = np.random.default_rng(0)
  if kind == "classifier":
    y, loss = rng.integers(0, 3, BATCH).astype("int32"), sce
  elif kind == "choice":
    y, loss = rng.integers(0, K, BATCH).astype("int32"), sce
  elif kind == "tagger":
    y, loss = rng.integers(0, 5, (BATCH, SEQ)).astype("int32"), sce
  else:  # the agreed label keys (HF's names), not the output names
    y = {"start_positions": np.array([1, 2, 0], "int32"),
         "end_positions": np.array([2, 4, 0], "int32")}
    loss = {"start_logits": sce, "end_logits": sce}
  metrics = ({"start_logits": ["accuracy"], "end_logits": ["accuracy"]}
             if kind == "span" else ["accuracy"])
  model.compile(keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics,
                jit_compile=True)
  if kind == "tagger":  # first-wordpiece weights, as the tagging data gives
    weights = (rng.random((BATCH, SEQ)) < 0.5).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(BATCH)
  else:
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
  history = model.fit(data, epochs=3, verbose=0)
  losses = history.history["loss"]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  assert np.isfinite(list(model.evaluate(data, verbose=0))).all()


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_get_config_round_trip(kind):
  model = _models(_encoder())[kind]
  model.task_info = {"max_seq_length": SEQ}
  clone = type(model).from_config(model.get_config())
  clone.set_weights(model.get_weights())
  assert clone.labels == model.labels and clone.task_info == model.task_info
  x = _inputs(kind)
  for a, b in zip(_as_dict(model(x)).values(), _as_dict(clone(x)).values()):
    np.testing.assert_array_equal(a, b)


def test_keras_file_round_trip(tmp_path):
  model = BertClassifier(_encoder(), labels=["a", "b"], dropout=0.2)
  path = str(tmp_path / "clf.keras")
  model.save(path)
  again = keras.saving.load_model(path)
  assert isinstance(again, BertClassifier) and again.labels == ["a", "b"]
  assert again.dropout_rate == 0.2
  np.testing.assert_array_equal(model(_features()), again(_features()))


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_save_pretrained_round_trip_is_exact(kind, tmp_path, caplog):
  model = _models(_encoder())[kind]
  model.save_pretrained(tmp_path, max_seq_length=SEQ, text_column="sentence")
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    again, info = load_task_model(str(tmp_path))
  assert type(again) is type(model)
  assert "not in the checkpoint" not in caplog.text
  assert "not used" not in caplog.text
  before, after = get_weights(model), get_weights(again)
  assert before.keys() == after.keys()
  for name in before:
    np.testing.assert_array_equal(before[name], after[name], err_msg=name)
  x = _inputs(kind)
  for a, b in zip(_as_dict(model(x)).values(), _as_dict(again(x)).values()):
    np.testing.assert_array_equal(a, b)
  assert again.vocab == VOCAB and again.lower_case is False
  assert info["task"] == {"classifier": "classification",
                          "regression": "regression", "tagger": "tagging",
                          "span": "squad", "choice": "multiple_choice"}[kind]
  assert info["labels"] == model.labels
  assert info["max_seq_length"] == SEQ and info["text_column"] == "sentence"
  assert info["lower_case"] is False
  assert again.task_info == {"max_seq_length": SEQ, "text_column": "sentence"}
  # and through the class's own from_pretrained
  direct = type(model).from_pretrained(str(tmp_path))
  np.testing.assert_array_equal(get_weights(direct)["bert/pooler/dense/kernel"],
                                before["bert/pooler/dense/kernel"])


def test_saved_files_follow_hf_task_layout(tmp_path):
  model = BertClassifier(_encoder(), labels=["neg", "pos"])
  model.save_pretrained(tmp_path, max_seq_length=SEQ)
  files = set(os.listdir(tmp_path))
  assert {"config.json", "model.safetensors", "vocab.txt", "task.json",
          "tokenizer_config.json", "keras_bert_lab.json"} <= files
  config = json.loads((tmp_path / "config.json").read_text())
  assert config["architectures"] == ["BertForSequenceClassification"]
  assert config["id2label"] == {"0": "neg", "1": "pos"}
  assert config["label2id"] == {"neg": 0, "pos": 1}
  assert config["problem_type"] == "single_label_classification"
  from safetensors.numpy import load_file
  tensors = load_file(str(tmp_path / "model.safetensors"))
  assert tensors["classifier.weight"].shape == (2, 32)
  assert "bert.pooler.dense.weight" in tensors
  regression = BertClassifier(_encoder(), 1)
  regression.save_pretrained(tmp_path / "reg")
  config = json.loads((tmp_path / "reg" / "config.json").read_text())
  assert config["problem_type"] == "regression"
  assert len(config["id2label"]) == 1


def test_head_that_does_not_fit_names_file_shapes_and_fix(tmp_path):
  BertClassifier(_encoder(), 3).save_pretrained(tmp_path)
  with pytest.raises(ValueError) as e:
    BertClassifier.from_pretrained(str(tmp_path), num_classes=2)
  message = str(e.value)
  assert str(tmp_path / "model.safetensors") in message
  assert "classifier.weight" in message
  assert "(3, 32)" in message and "(2, 32)" in message
  assert "num_classes=3" in message and "num_classes=None" in message


def test_labels_that_disagree_with_the_head_are_refused(tmp_path):
  BertClassifier(_encoder(), labels=["a", "b"]).save_pretrained(tmp_path)
  with pytest.raises(ValueError, match=r"\['b', 'a'\].*\['a', 'b'\]"):
    BertClassifier.from_pretrained(str(tmp_path), labels=["b", "a"])
  assert BertClassifier.from_pretrained(str(tmp_path)).labels == ["a", "b"]


def test_missing_head_is_random_and_logged(tmp_path, caplog):
  _encoder().save_pretrained(tmp_path)
  with pytest.raises(ValueError, match="num_classes= or labels="):
    BertClassifier.from_pretrained(str(tmp_path))
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    model = BertClassifier.from_pretrained(str(tmp_path), num_classes=4)
  assert "output_weights" in caplog.text and "output_bias" in caplog.text
  assert tuple(model(_features()).shape) == (BATCH, 4)
  with pytest.raises(ValueError, match="no fine-tuned task model.*config.json"):
    load_task_model(str(tmp_path))
  # An encoder saved over a task folder leaves no stale task.json behind.
  model.save_pretrained(tmp_path)
  model.encoder.save_pretrained(tmp_path)
  with pytest.raises(ValueError, match="no fine-tuned task model"):
    load_task_model(str(tmp_path))


def test_head_of_another_task_is_not_loaded(tmp_path, caplog):
  BertClassifier(_encoder(), 5).save_pretrained(tmp_path)
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    tagger = BertTokenClassifier.from_pretrained(str(tmp_path), num_labels=5)
  assert "holds a classification head" in caplog.text
  assert "output_weights" in caplog.text  # listed as missing
  saved = get_weights(BertClassifier.from_pretrained(str(tmp_path)))
  assert not np.array_equal(get_weights(tagger)["output_weights"],
                            saved["output_weights"])


def test_reserved_task_info_keys_are_refused(tmp_path):
  with pytest.raises(ValueError, match="labels"):
    BertClassifier(_encoder(), 2).save_pretrained(tmp_path, labels=["x", "y"])


def test_google_run_classifier_and_run_squad_checkpoints(tmp_path):
  """Heads under the names google-research/bert's scripts give them."""
  encoder = _encoder()
  body = get_weights(encoder)
  rng = np.random.default_rng(0)
  heads = {
      "classifier": {"output_weights": rng.normal(size=(3, 32)),
                     "output_bias": rng.normal(size=(3,))},
      "squad": {"cls/squad/output_weights": rng.normal(size=(2, 32)),
                "cls/squad/output_bias": rng.normal(size=(2,))},
  }
  for name, head in heads.items():
    folder = tmp_path / name
    folder.mkdir()
    with tf.Graph().as_default():
      variables = [tf.compat.v1.Variable(v.astype("float32"), name=n)
                   for n, v in {**body, **head}.items()]
      saver = tf.compat.v1.train.Saver(variables)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        saver.save(sess, str(folder / "bert_model.ckpt"),
                   write_meta_graph=False, write_state=False)
    encoder.config.write_google_json(str(folder / "bert_config.json"))
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
  clf = BertClassifier.from_pretrained(str(tmp_path / "classifier"))
  assert clf.num_outputs == 3
  np.testing.assert_allclose(get_weights(clf)["output_weights"],
                             heads["classifier"]["output_weights"], rtol=1e-6)
  qa = BertSpanLabeler.from_pretrained(str(tmp_path / "squad"))
  f = _features()
  seq = np.asarray(encoder(f)["sequence_output"])
  w = heads["squad"]["cls/squad/output_weights"]
  b = heads["squad"]["cls/squad/output_bias"]
  np.testing.assert_allclose(qa(f)["start_logits"], seq @ w[0] + b[0],
                             atol=1e-4)
  np.testing.assert_allclose(qa(f)["end_logits"], seq @ w[1] + b[1], atol=1e-4)
  with pytest.raises(ValueError, match=r"bert_model.ckpt.*\(3, 32\).*\(2, 32\)"):
    BertClassifier.from_pretrained(str(tmp_path / "classifier"), num_classes=2)


def test_feature_extractor_by_definition():
  """Token features = concat of the chosen blocks' outputs; sentence
  features = [CLS] row, mask-weighted mean, or the pooler output."""
  encoder = _encoder(num_layers=4)
  f = _features()
  enc = encoder(f)
  layers = [np.asarray(x) for x in enc["encoder_outputs"]]
  tokens = np.concatenate(layers[-4:], axis=-1)
  out = features(encoder)(f)
  np.testing.assert_allclose(out["token_features"], tokens, atol=1e-6)
  np.testing.assert_allclose(out["sentence_features"], tokens[:, 0], atol=1e-6)
  mean = BertFeatureExtractor(encoder, layers=(0, -1), pooling="mean")(f)
  chosen = np.concatenate([layers[0], layers[-1]], axis=-1)
  m = f["input_mask"][:, :, None].astype("float32")
  np.testing.assert_allclose(mean["sentence_features"],
                             (chosen * m).sum(1) / m.sum(1), atol=1e-5)
  pooled = features(encoder, layers=(-1,), pooling="pooler")(f)
  np.testing.assert_allclose(pooled["sentence_features"], enc["pooled_output"],
                             atol=1e-6)
  assert out["token_features"].dtype == "float32"
  clone = BertFeatureExtractor.from_config(
      BertFeatureExtractor(encoder, (1,), "mean").get_config())
  assert clone.layer_indices == (1,) and clone.pooling == "mean"


def test_feature_extractor_bad_arguments():
  encoder = _encoder()
  with pytest.raises(ValueError, match=r"\[-5\] outside .* \[-2, 1\]"):
    features(encoder, layers=(-5, -1))
  with pytest.raises(ValueError, match="pooling='max'"):
    features(encoder, layers=(-1,), pooling="max")


def test_dropout_defaults_to_the_configs_hidden_dropout(tmp_path):
  encoder = _encoder(hidden_dropout_prob=0.25)
  assert BertClassifier(encoder, 2).dropout_rate == 0.25
  assert BertTokenClassifier(encoder, 2, dropout=0.0).dropout_rate == 0.0
  assert BertMultipleChoice(encoder).dropout_rate == 0.25
  BertClassifier(encoder, 2).save_pretrained(tmp_path)
  again = BertClassifier.from_pretrained(str(tmp_path), hidden_dropout_prob=0.0)
  assert again.dropout_rate == 0.0 and again.config.hidden_dropout_prob == 0.0
  # Dropout is active only in training: inference is deterministic.
  f = _features()
  np.testing.assert_array_equal(again(f), again(f))
  model = BertClassifier(encoder, 2)
  assert not np.array_equal(model(f, training=True), model(f, training=True))
