"""The shared training runtime: set-up, scalars, progress line, resume policy."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.training import (ProgressLogger, ScalarWriter,
                                     fit_schedule, progress_line, resume_fit,
                                     setup_runtime, skip_trained)


def _scalars(folder):
  """`[(step, tag, value, plugin)]` of the event files in `folder`."""
  return [(e.step, v.tag, float(tf.make_ndarray(v.tensor)),
           v.metadata.plugin_data.plugin_name)
          for path in sorted(folder.glob("events.out.tfevents.*"))
          for e in tf.compat.v1.train.summary_iterator(str(path))
          for v in e.summary.value]


def test_progress_line():
  assert (progress_line(10, 30, 1.23451, 3e-4, 2.0) ==
          "step 10/30  loss 1.2345  learning_rate 0.0003  2.00 steps/s  "
          "ETA 10s")
  assert (progress_line(30, 30, 2.0, 1e-4, 4.0, masked_lm_accuracy=0.123456,
                        examples_per_second=15898.4) ==
          "step 30/30  loss 2.0000  learning_rate 0.0001  "
          "masked_lm_accuracy 0.1235  examples_per_second 15898  "
          "4.00 steps/s  ETA 0s")


def test_setup_runtime_sets_policy_and_seed():
  try:
    strategy = setup_runtime("cpu", global_batch_size=8,
                             mixed_precision="bf16", seed=3)
    assert strategy.num_replicas_in_sync == 1
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    drawn = np.random.rand()
    keras.utils.set_random_seed(3)
    assert np.random.rand() == drawn
  finally:
    setup_runtime("cpu")   # float32 again
  assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("kwargs,message", [
    ({"mixed_precision": "fp8"}, "--mixed_precision='fp8' is not one of"),
    ({"strategy": "nccl"}, "--strategy='nccl' is not one of"),
    ({"num_cpu_devices": 0}, "--num_cpu_devices=0: use 1 or more"),
    ({"strategy": "tpu"}, "--strategy=tpu needs --tpu=ADDRESS"),
])
def test_setup_runtime_names_the_flag(kwargs, message):
  with pytest.raises(ValueError, match=message):
    setup_runtime(**kwargs)


def test_scalar_writer(tmp_path):
  writer = ScalarWriter(tmp_path / "train")
  writer.write(5, {"loss": 2.5, "learning_rate": np.float32(1e-4)})
  writer.write(10, {"loss": 1.5})
  assert _scalars(tmp_path / "train") == [
      (5, "loss", 2.5, "scalars"),
      (5, "learning_rate", pytest.approx(1e-4), "scalars"),
      (10, "loss", 1.5, "scalars")]
  ScalarWriter(None).write(1, {"loss": 1.0})   # a non-chief: nothing
  assert [p.name for p in tmp_path.iterdir()] == ["train"]


def test_fit_schedule():
  # 36 rows, batch 1, 3 epochs, a backup every 2 steps: 54 chunks of 2.
  assert fit_schedule(36, 1, 3.0, 0.1, checkpoint_every=2) == (54, 2, 108, 10)
  # A chunk per pass (4 steps), rounded up to whole executions of 3.
  assert fit_schedule(100, 32, 2.0, 0.1, steps_per_execution=3) == (
      2, 6, 12, 1)


def _regression(seed):
  """A small model with dropout (seed state) and its data, deterministic."""
  keras.utils.set_random_seed(seed)
  model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                            keras.layers.Dropout(0.5), keras.layers.Dense(1)])
  model.compile(keras.optimizers.SGD(0.05), "mse")
  x = np.random.RandomState(0).rand(64, 4).astype("float32")
  data = tf.data.Dataset.from_tensor_slices((x, x.sum(-1))).repeat().batch(4)
  return model, data


class _Kill(keras.callbacks.Callback):

  def on_epoch_end(self, epoch, logs=None):
    if epoch == 1:
      raise KeyboardInterrupt


def test_progress_logger_and_resume_fit(tmp_path, caplog):
  """A `fit` killed after 2 of 4 chunks, resumed: the same weights as an
  uninterrupted run, and the progress line counts the whole run's steps."""
  model, data = _regression(0)
  model.fit(data, epochs=4, steps_per_epoch=3, verbose=0, shuffle=False)
  uninterrupted = model.get_weights()

  model, data = _regression(0)
  backup, done = resume_fit(model, tmp_path, 3, 4)
  assert done == 0
  with pytest.raises(KeyboardInterrupt):
    model.fit(data, epochs=4, steps_per_epoch=3, verbose=0, shuffle=False,
              callbacks=[backup, _Kill()])
  model, data = _regression(0)
  with caplog.at_level(logging.INFO, logger="keras_bert_lab"):
    backup, done = resume_fit(model, tmp_path, 3, 4)
    assert done == 6
    model.fit(data.skip(done), epochs=4, steps_per_epoch=3, verbose=0,
              shuffle=False,
              callbacks=[backup, ProgressLogger(4, 12, tmp_path / "logs")])
  for resumed, whole in zip(model.get_weights(), uninterrupted):
    np.testing.assert_array_equal(resumed, whole)
  lines = [r.getMessage() for r in caplog.records
           if r.name == "keras_bert_lab"]   # not TensorFlow's own warnings
  assert lines[0] == (f"Resuming from the backup in {tmp_path / 'backup'}: 2 "
                      "of 4 chunk(s) done (step 6); skipping the 6 batches "
                      "trained on.")
  assert [line.split("  ")[0] for line in lines[1:]] == ["step 8/12",
                                                         "step 12/12"]
  assert lines[-1].endswith("ETA 0s") and "learning_rate 0.05" in lines[-1]
  logged = _scalars(tmp_path / "logs")
  assert [(s, t) for s, t, _, _ in logged] == [
      (8, "loss"), (8, "learning_rate"), (8, "steps_per_second"),
      (12, "loss"), (12, "learning_rate"), (12, "steps_per_second")]
  # Kept after fit (the caller removes it once the model is saved); a run
  # resumed from it now has nothing left to train.
  assert (tmp_path / "backup").exists()
  model, data = _regression(0)
  assert resume_fit(model, tmp_path, 3, 4)[1] == 12


def test_skip_trained_skips_global_steps():
  """2 replicas on one pipeline: a global step takes 2 per-replica batches."""
  def dataset_fn(context):
    return tf.data.Dataset.range(100).batch(
        context.get_per_replica_batch_size(4))
  context = tf.distribute.InputContext(num_input_pipelines=1,
                                       input_pipeline_id=0,
                                       num_replicas_in_sync=2)
  first = next(iter(skip_trained(dataset_fn, 3)(context)))
  np.testing.assert_array_equal(first, [12, 13])
