"""The pre-training loop learns, and `evaluate` computes the paper's means."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.models import BertEncoder, BertPretrainer
from keras_bert_lab.training import create_optimizer, evaluate, train
from tests.training import synthetic


def _model(dropout=0.0):
  keras.utils.set_random_seed(1)
  return BertPretrainer(BertEncoder(synthetic.tiny_config(dropout)))


def test_evaluate_matches_global_means():
  model = _model()
  # 10 examples in batches of 4: the last batch has 2; metrics must still be
  # the means over all 10 examples (MLM: over the weighted predictions).
  metrics = evaluate(model, synthetic.dataset(10, 4))
  features = next(iter(synthetic.dataset(10, 10)))
  outputs = model({k: features[k] for k in ("input_word_ids", "input_mask",
                                           "input_type_ids",
                                           "masked_lm_positions")})
  logits = np.array(outputs["masked_lm_logits"], np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ids = np.array(features["masked_lm_ids"])
  weights = np.array(features["masked_lm_weights"])
  nll = -np.take_along_axis(log_probs, ids[..., None], -1)[..., 0]
  assert metrics["masked_lm_loss"] == pytest.approx(
      (nll * weights).sum() / weights.sum(), rel=1e-5)
  assert metrics["masked_lm_accuracy"] == pytest.approx(
      ((logits.argmax(-1) == ids) * weights).sum() / weights.sum())
  nsp = np.array(outputs["next_sentence_logits"], np.float64)
  labels = np.array(features["next_sentence_labels"])
  nsp_log_probs = nsp - np.log(np.exp(nsp).sum(-1, keepdims=True))
  assert metrics["next_sentence_loss"] == pytest.approx(
      -nsp_log_probs[np.arange(10), labels].mean(), rel=1e-5)
  assert metrics["next_sentence_accuracy"] == pytest.approx(
      (nsp.argmax(-1) == labels).mean())
  assert metrics["loss"] == pytest.approx(
      metrics["masked_lm_loss"] + metrics["next_sentence_loss"])


def test_loss_goes_down_on_a_fixed_batch(tmp_path, caplog):
  model = _model()
  optimizer = create_optimizer("adamw", 3e-3, num_train_steps=30,
                               num_warmup_steps=3)
  batch = synthetic.dataset(4, 4)  # one batch of 4, repeated by dataset_fn
  before = evaluate(model, batch)
  with caplog.at_level("INFO", logger="keras_bert_lab"):
    last = train(model, optimizer, synthetic.dataset_fn(4, 4), tmp_path, 30,
                 steps_per_execution=5, checkpoint_every=30, log_every=10)
  after = evaluate(model, batch)
  assert after["loss"] < 0.5 * before["loss"], (before, after)
  assert after["masked_lm_accuracy"] > before["masked_lm_accuracy"]
  # The loop's own lines (TensorFlow's logger may warn about retracing here
  # when other tests of this process called `evaluate` before).
  lines = [r.getMessage() for r in caplog.records
           if r.name == "keras_bert_lab"]
  assert [line.split()[1] for line in lines] == ["10/30", "20/30", "30/30"]
  # The runtime's one progress line, as fine-tuning's.
  assert lines[-1].startswith("step 30/30  loss ")
  assert "  masked_lm_accuracy " in lines[-1] and lines[-1].endswith("ETA 0s")
  assert set(last) >= {"loss", "masked_lm_accuracy", "next_sentence_accuracy",
                       "learning_rate", "examples_per_second"}
  assert tf.train.latest_checkpoint(tmp_path).endswith("ckpt-30")
  (events,) = (tmp_path / "train").iterdir()
  logged = [(e.step, v.tag, v.metadata.plugin_data.plugin_name)
            for e in tf.compat.v1.train.summary_iterator(str(events))
            for v in e.summary.value]
  assert (30, "masked_lm_accuracy", "scalars") in logged
  assert {step for step, _, _ in logged} == {10, 20, 30}
  # A finished run re-run does nothing.
  assert train(model, optimizer, synthetic.dataset_fn(4, 4), tmp_path, 30) == {}


def test_mixed_float16_with_loss_scaling(tmp_path):
  keras.config.set_dtype_policy("mixed_float16")
  try:
    model = _model()
    optimizer = create_optimizer("lamb", 1e-3, num_train_steps=4,
                                 num_warmup_steps=1, loss_scale=True)
    metrics = train(model, optimizer, synthetic.dataset_fn(8, 4), tmp_path, 4,
                    log_every=4)
  finally:
    keras.config.set_dtype_policy("float32")
  assert np.isfinite(metrics["loss"])
  assert model.encoder.embeddings.compute_dtype == "float16"


def test_jit_compile_trains_like_the_plain_graph(tmp_path):
  """XLA changes how, not what: same start, same data, close weights."""
  weights = []
  for jit in (False, True):
    keras.utils.set_random_seed(3)
    model = _model()
    optimizer = create_optimizer("adamw", 3e-3, num_train_steps=6,
                                 num_warmup_steps=1)
    train(model, optimizer, synthetic.dataset_fn(4, 4), tmp_path / str(jit),
          6, steps_per_execution=3, log_every=6, jit_compile=jit)
    weights.append([w.numpy() for w in model.weights])
  for plain, xla in zip(*weights):
    np.testing.assert_allclose(plain, xla, atol=1e-4)


def test_checkpoint_of_another_input_pipeline_is_refused(tmp_path):
  model = _model()
  optimizer = create_optimizer("adamw", 1e-3, num_train_steps=4,
                               num_warmup_steps=1)
  train(model, optimizer, synthetic.dataset_fn(8, 4), tmp_path, 2)

  def bucketed_fn(context):   # another pipeline: its iterator state differs
    examples = synthetic.dataset_fn(8, 4)(context).unbatch()
    return examples.bucket_by_sequence_length(
        lambda x: tf.shape(x["input_word_ids"])[0], [8], [4, 4])
  with pytest.raises(ValueError, match="cannot resume exactly"):
    train(model, optimizer, bucketed_fn, tmp_path, 4)
