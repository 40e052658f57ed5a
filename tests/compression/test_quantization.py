"""int8 quantization of a task model's encoder, and its raw-text export.

References: the weight-only model must equal the float model whose weights
are replaced by their abs-max int8 round trip computed here in NumPy (per
output channel for Dense kernels, per row for embedding tables, as Keras
documents `AbsMaxQuantizer`); the exported SavedModel must give what the
quantized Keras model gives on the training-side features.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_bert_lab import compression, tasks
from keras_bert_lab.data import classification
from keras_bert_lab.models import (BertClassifier, BertEncoder,
                                   BertPretrainer)
from keras_bert_lab.serving import export as export_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LABELS = ["neg", "pos"]
SEQ = 32
REVIEWS = ["The coffee was great, I will buy it again!", "Stale and bitter.",
           "", "naïve café 世界 🙂", "ok " * 40]


def _classifier(seed=0, num_layers=2):
  keras.utils.set_random_seed(seed)
  return BertClassifier(BertEncoder.from_vocab(
      num_layers=num_layers, hidden_size=32, num_heads=2,
      intermediate_size=64, initializer_range=0.3), labels=LABELS)


def _features(model, texts=REVIEWS):
  ds = classification.classification_dataset(
      tf.data.Dataset.from_tensor_slices({"text": tf.constant(texts)}),
      tasks.load_tokenizer(model), labels=None, seq_length=SEQ,
      batch_size=len(texts))
  return next(iter(ds))


def _abs_max_round_trip(w, axis):
  scale = 127.0 / np.maximum(np.abs(w).max(axis=axis, keepdims=True), 1e-7)
  return np.clip(np.round(w * scale), -127, 127) / scale


def test_the_encoders_dense_and_embedding_layers_are_quantized():
  clf = _classifier(num_layers=2)
  compression.quantize(clf, "int8")
  paths = [path for path, _ in compression.quantized_layers(clf)]
  # 2 blocks x (query, key, value, attention output, intermediate, output)
  # and the word and token-type tables; never the pooler or the head.
  assert len(paths) == 2 * 6 + 2
  assert not [p for p in paths if "pooler" in p or "classifier" in p.split(
      "/")[-1]]
  assert clf.encoder.pooler.quantization_mode is None
  assert clf.encoder.embeddings.word_embeddings._embeddings.dtype == "int8"
  attention = clf.encoder.transformer_layers[0].attention
  assert attention.query._kernel.dtype == "int8"


def test_weight_only_equals_the_float_model_with_round_tripped_weights():
  clf = _classifier(seed=1)
  reference = _classifier(seed=1)
  features = _features(clf)
  float_logits = clf(features, training=False).numpy()
  for layer in reference.encoder._flatten_layers():
    if isinstance(layer, keras.layers.Embedding):
      layer.embeddings.assign(_abs_max_round_trip(
          layer.embeddings.numpy(), axis=-1))
    elif (isinstance(layer, keras.layers.Dense)
          and layer is not reference.encoder.pooler):
      layer.kernel.assign(_abs_max_round_trip(layer.kernel.numpy(), axis=0))
  compression.quantize(clf, "int8_weights")
  logits = clf(features, training=False).numpy()
  np.testing.assert_allclose(
      logits, reference(features, training=False).numpy(), atol=1e-5)
  assert np.abs(logits - float_logits).max() > 0   # it did quantize


def test_int8_activations_stay_close_to_float():
  clf = _classifier(seed=2)
  features = _features(clf)
  probabilities = tf.nn.softmax(clf(features, training=False)).numpy()
  compression.quantize(clf, "int8")
  quantized = tf.nn.softmax(clf(features, training=False)).numpy()
  assert np.abs(quantized - probabilities).max() < 0.05


def test_pretrainer_keeps_the_tied_word_embeddings_float():
  keras.utils.set_random_seed(3)
  pretrainer = BertPretrainer(BertEncoder.from_vocab(num_layers=1))
  compression.quantize(pretrainer, "int8")
  paths = [path for path, _ in compression.quantized_layers(pretrainer)]
  assert paths and not [p for p in paths if p.endswith("word_embeddings")]


def test_bad_input_is_refused():
  clf = _classifier()
  with pytest.raises(ValueError, match="is not one of"):
    compression.quantize(clf, "int4")
  compression.quantize(clf, "int8_weights")
  with pytest.raises(ValueError, match="already quantized .*int8"):
    compression.quantize(clf, "int8")
  plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  with pytest.raises(ValueError, match="has no BERT encoder"):
    compression.quantize(plain)


def _ops(saved_model):
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  ops = set()
  for meta in proto.meta_graphs:
    functions = {f.signature.name for f in meta.graph_def.library.function}
    nodes = list(meta.graph_def.node)
    for function in meta.graph_def.library.function:
      nodes.extend(function.node_def)
    ops |= {n.op for n in nodes if n.op not in functions}
  return ops


def _size(folder):
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(folder) for f in files)


@pytest.mark.slow
def test_export_quantize_through_the_cli(tmp_path):
  clf = _classifier(seed=4)
  task = tasks.get_task("classification", labels=LABELS, max_seq_length=SEQ)
  task.save(clf, tmp_path / "run")
  (float_path,) = export_lib.export(str(tmp_path / "run"),
                                    str(tmp_path / "out"), version=1)
  proc = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.export",
       f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'out'}",
       "--version=2", "--quantize=int8"],
      cwd=ROOT, capture_output=True, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  int8_path = str(tmp_path / "out" / "2")
  assert proc.stdout.split() == [int8_path]

  # Each weight is saved once (the float weights' own bytes, plus little).
  weight_bytes = sum(np.asarray(w).nbytes for w in clf.get_weights())
  assert _size(os.path.join(float_path, "variables")) < 1.1 * weight_bytes
  # The weights shrink ~4x where they are quantized; the embedding tables
  # dominate this tiny model, as in MiniLM. (Its graph, saved_model.pb, is
  # most of this tiny SavedModel; MiniLM's figure: benchmarks/compression.py.)
  assert (_size(os.path.join(int8_path, "variables"))
          < 0.35 * _size(os.path.join(float_path, "variables")))
  ops = _ops(int8_path)
  outside_core = ops - set(dir(tf.raw_ops))
  assert outside_core <= {"NormalizeUTF8", "FastWordpieceTokenizeWithOffsets",
                          "RegexSplitWithOffsets", "TFText>RoundRobinTrim"}

  # Serving gives what the quantized Keras model gives on training's
  # features; the raw-text path is the float export's.
  quantized = compression.quantize(_classifier(seed=4), "int8")
  expected = tf.nn.softmax(
      quantized(_features(quantized), training=False)).numpy()
  served = tf.saved_model.load(int8_path).signatures["serving_default"](
      text=tf.constant(REVIEWS))
  np.testing.assert_allclose(served["probabilities"].numpy(), expected,
                             atol=1e-5)
  served_float = tf.saved_model.load(float_path).signatures[
      "serving_default"](text=tf.constant(REVIEWS))
  assert np.abs(served_float["probabilities"].numpy() - expected).max() < 0.05


@pytest.mark.slow
def test_export_quantize_refuses_encoders_and_unknown_modes(tmp_path):
  keras.utils.set_random_seed(5)
  BertPretrainer(BertEncoder.from_vocab(num_layers=1)).save_pretrained(
      str(tmp_path / "pretrain" / "pretrained"))
  with pytest.raises(ValueError, match="--quantize=int8 applies to "
                     "fine-tuned task models"):
    export_lib.export(str(tmp_path / "pretrain"), str(tmp_path / "out"),
                      version=1, quantize="int8")
  with pytest.raises(ValueError, match="--quantize=int4: use one of int8, "
                     "int8_weights"):
    export_lib.export(str(tmp_path / "pretrain"), str(tmp_path / "out"),
                      version=1, quantize="int4")
  assert not (tmp_path / "out").exists()
