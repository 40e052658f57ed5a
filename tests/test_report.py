"""`keras_bert_lab.reports` and the `report` CLI: event files read back, curves, confusion matrix.

References: the values written with `tf.summary` (and the pre-training log
lines), scikit-learn's `confusion_matrix` and `matthews_corrcoef`, and the
`eval_results.json` that `finetune` computed on the same examples.
"""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from keras_bert_lab import reports as report
from tests.conftest import ROOT
from tests.test_finetune import _tiny_encoder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CORPUS = ("keras_bert_lab/resources/"
          "austen_sense_and_sensibility_pride_and_prejudice.txt")
SCALAR = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def write_events(folder, rows):
  """Writes `{tag: value}` rows at their steps, as the training loops do."""
  writer = tf.summary.create_file_writer(str(folder))
  with writer.as_default():
    for step, values in rows:
      for tag, value in values.items():
        tf.summary.write(tag, tf.constant(value), step=step, metadata=SCALAR)
  writer.close()


def assert_png(path):
  from PIL import Image
  assert path.read_bytes()[:8] == PNG_SIGNATURE
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    width, height = image.size
  assert width >= 400 and height >= 300
  assert path.stat().st_size < 300_000


def test_read_scalars_returns_what_was_written(tmp_path):
  rows = [(step, {"loss": 10.0 / step, "learning_rate": 1e-4 * step})
          for step in (1, 2, 3)]
  write_events(tmp_path, rows)
  # A resumed run: a second file that writes step 3 again, then step 4.
  write_events(tmp_path, [(3, {"loss": 2.5}), (4, {"loss": 2.0})])
  # Not scalars: a vector (histogram-like) and a string.
  write_events(tmp_path, [(1, {"weights": [1.0, 2.0], "note": "hello"})])
  scalars = report.read_scalars(tmp_path)
  assert set(scalars) == {"loss", "learning_rate"}
  np.testing.assert_array_equal(scalars["loss"].steps, [1, 2, 3, 4])
  np.testing.assert_allclose(scalars["loss"].values,
                             np.float32([10.0, 5.0, 2.5, 2.0]))
  np.testing.assert_allclose(scalars["learning_rate"].values,
                             np.float32([1e-4, 2e-4, 3e-4]))


def test_read_scalars_keeps_the_complete_records_of_a_cut_file(tmp_path):
  write_events(tmp_path, [(step, {"loss": float(step)}) for step in range(5)])
  (path,) = tmp_path.glob("events.out.tfevents.*")
  data = path.read_bytes()
  path.write_bytes(data[:-7])  # A killed writer: the last record half-done.
  scalars = report.read_scalars(tmp_path)
  np.testing.assert_array_equal(scalars["loss"].steps, [0, 1, 2, 3])


def test_keras_tensorboard_names_and_epochs_as_steps(tmp_path):
  """Keras' callback: epoch_ tags, dict outputs' `_logits_`, validation/."""
  write_events(tmp_path / "logs" / "train", [
      (epoch, {"epoch_loss": 3.0 - epoch, "epoch_learning_rate": 0.1,
               "epoch_masked_lm_logits_accuracy": 0.1 * epoch})
      for epoch in range(3)])
  write_events(tmp_path / "logs" / "validation", [
      (2, {"epoch_loss": 1.5, "epoch_sparse_categorical_accuracy": 0.7}),
      (300, {"evaluation_loss_vs_iterations": 1.5})])
  curves, unit = report.training_curves(tmp_path, steps_per_epoch=100)
  assert unit == "step"
  found = {label: (panel, list(series.steps), list(series.values))
           for panel, label, series in curves}
  assert found["loss"] == ("loss", [100, 200, 300], [3.0, 2.0, 1.0])
  assert found["masked_lm_accuracy"][:2] == ("accuracy", [100, 200, 300])
  assert found["learning_rate"][0] == "learning rate"
  assert found["loss (validation)"] == ("loss", [300], [1.5])
  assert found["accuracy (validation)"][1:] == ([300], [pytest.approx(0.7)])
  assert len(curves) == 5  # evaluation_loss_vs_iterations repeats a curve.
  # Without steps_per_epoch the x axis is the epoch; the step-only curve goes.
  curves, unit = report.training_curves(tmp_path)
  assert unit == "epoch" and len(curves) == 5
  assert_png(report.write_report(tmp_path, tmp_path / "keras.png"))


@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_confusion_matrix_equals_sklearn(num_classes):
  from sklearn.metrics import confusion_matrix
  rng = np.random.default_rng(num_classes)
  labels = rng.integers(0, num_classes, 200)
  logits = rng.normal(size=(200, num_classes))
  expected = confusion_matrix(labels, logits.argmax(-1),
                              labels=list(range(num_classes)))
  np.testing.assert_array_equal(
      report.confusion_matrix(labels, logits, num_classes), expected)
  np.testing.assert_array_equal(
      report.confusion_matrix(labels, logits.argmax(-1), num_classes), expected)


def test_errors_name_the_folder_and_the_fix(tmp_path):
  with pytest.raises(FileNotFoundError, match="is not a folder"):
    report.write_report(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError) as error:
    report.write_report(tmp_path)
  assert str(tmp_path) in str(error.value)
  assert "keras.callbacks.TensorBoard" in str(error.value)
  write_events(tmp_path / "train", [(1, {"examples": 3.0})])
  with pytest.raises(ValueError, match="no loss, accuracy"):
    report.write_report(tmp_path)
  cli = subprocess.run([sys.executable, "-m", "keras_bert_lab.report",
                        f"--model_dir={tmp_path / 'nowhere'}"],
                       capture_output=True, text=True, cwd=ROOT)
  assert cli.returncode != 0 and "nowhere" in cli.stderr


def _log_metrics(stderr, step):
  """The values of `pretrain`'s progress line at `step` (`training.runtime.
  progress_line`: `name value` pairs, then the speed, `X steps/s`, which
  the loop writes as `examples_per_second`), by scalar name."""
  line = re.search(rf"step {step}/\d+  (.*)  \S+ steps/s  ETA", stderr).group(1)
  return {name: float(value) for name, value in
          (pair.split(" ") for pair in line.split("  "))}


@pytest.mark.slow
def test_report_of_a_real_pretrain_run(tmp_path):
  model_dir = tmp_path / "run"
  run = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.pretrain", "--model_size=tiny",
       "--max_seq_length=32", "--max_predictions_per_seq=5",
       "--train_batch_size=8", "--num_train_steps=6", "--checkpoint_every=6",
       "--log_every=3", "--eval_batches=1", f"--input_files={CORPUS}",
       f"--model_dir={model_dir}"], capture_output=True, text=True, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  scalars = report.read_scalars(model_dir / "train")
  for step in (3, 6):
    logged = _log_metrics(run.stderr, step)
    assert set(logged) == set(scalars)
    for name, value in logged.items():
      index = list(scalars[name].steps).index(step)
      # The log line rounds the same numbers: the learning rate to 3
      # significant digits, the loss to 4 decimals, the rest to 4 digits.
      assert scalars[name].values[index] == pytest.approx(value, rel=5e-3,
                                                          abs=5e-5)

  output = tmp_path / "report.png"
  cli = subprocess.run([sys.executable, "-m", "keras_bert_lab.report",
                        f"--model_dir={model_dir}", f"--output={output}"],
                       capture_output=True, text=True, cwd=ROOT)
  assert cli.returncode == 0, cli.stderr[-3000:]
  assert cli.stdout.strip() == str(output)
  assert_png(output)
  curves, unit = report.training_curves(model_dir)
  assert unit == "step"
  assert {panel for panel, _, _ in curves} == {
      "loss", "accuracy", "learning rate", "throughput"}


@pytest.mark.slow
def test_confusion_matrix_of_a_real_finetune_run(tmp_path, data_dir):
  """The report finds the dev split finetune evaluated and gets its numbers."""
  from sklearn.metrics import confusion_matrix, matthews_corrcoef
  with open(data_dir / "labeled" / "en" / "fine_foods_train.tsv",
            encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))[:120]
  train_file = tmp_path / "reviews.tsv"
  with open(train_file, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(["review", "score"])
    writer.writerows((r["review"], r["score"]) for r in rows)
  _tiny_encoder(tmp_path / "encoder")
  model_dir = tmp_path / "run"
  run = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.finetune",
       "--task=classification", f"--init_checkpoint={tmp_path / 'encoder'}",
       f"--model_dir={model_dir}", f"--train_file={train_file}",
       "--text_column=review", "--label_column=score", "--dev_fraction=0.25",
       "--max_seq_length=32", "--num_train_epochs=1", "--train_batch_size=16",
       "--eval_batch_size=16", "--log_every=1", "--learning_rate=1e-3"],
      capture_output=True, text=True, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads((model_dir / "eval_results.json").read_text())
  assert results["dev_split"] == {"source": str(train_file), "fraction": 0.25,
                                  "seed": 42}

  gold, predicted, names = report.classification_predictions(
      model_dir, batch_size=16)
  assert names == ["great", "other"] and len(gold) == 30
  matrix = report.confusion_matrix(gold, predicted, 2)
  np.testing.assert_array_equal(
      matrix, confusion_matrix(gold, predicted, labels=[0, 1]))
  assert np.trace(matrix) / 30 == pytest.approx(results["accuracy"])
  assert matthews_corrcoef(gold, predicted) == pytest.approx(
      results["matthews_corrcoef"], abs=1e-12)
  # The dev split: the rows split_dev holds out with finetune's default
  # --seed=42, in file order.
  file_labels = [names.index(r["score"]) for r in rows]
  np.testing.assert_array_equal(
      gold, [file_labels[i] for i in sorted(_dev_rows(120))])

  # --eval_file instead: every row of the file.
  gold_all, _, _ = report.classification_predictions(model_dir,
                                                     eval_file=str(train_file))
  np.testing.assert_array_equal(gold_all, file_labels)

  output = tmp_path / "finetune.png"
  cli = subprocess.run([sys.executable, "-m", "keras_bert_lab.report",
                        f"--model_dir={model_dir}", f"--output={output}",
                        "--eval_batch_size=16"],
                       capture_output=True, text=True, cwd=ROOT)
  assert cli.returncode == 0, cli.stderr[-3000:]
  assert_png(output)

  # Without the dev_split record the confusion matrix asks for --eval_file.
  del results["dev_split"]
  (model_dir / "eval_results.json").write_text(json.dumps(results))
  with pytest.raises(ValueError, match="--eval_file"):
    report.write_report(model_dir, tmp_path / "x.png")
  assert_png(report.write_report(model_dir, tmp_path / "x.png",
                                 confusion=False))


def _dev_rows(n):
  """The row indices `split_dev(.., 0.25, seed=42)` holds out (finetune's)."""
  from keras_bert_lab.data.dev_split import split_dev
  return set(split_dev(list(range(n)), 0.25, 42)[1])
