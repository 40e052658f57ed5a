"""The notebooks in colab/, run top to bottom on the CPU with tiny settings.

Each notebook's first cell holds its parameters (tagged `parameters`, as
papermill expects); here, as papermill does, a cell right after it
overrides them (a few steps, a 2-layer model, short sequences), and nbclient
runs every cell in a fresh kernel whose working directory is a temporary
folder. The assertions check what the notebooks made (the saved model loads,
the SavedModel answers raw text, the masking statistics follow the paper's
rules), not only that they ran.
"""

import csv
import json
import os
import re

import nbclient
import nbformat
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_finetune import _tiny_encoder

COLAB = ROOT / "colab"
NOTEBOOKS = ("pretrain_on_tpu.ipynb", "finetune_and_export.ipynb",
             "pretraining_data_explained.ipynb", "compress_and_serve.ipynb")


def execute(name, cwd, **parameters):
  """Runs colab/<name> in `cwd` with `parameters` overriding the first cell.

  Returns:
    The executed notebook and its text outputs joined (stdout and
    `text/plain` results).
  """
  nb = nbformat.read(COLAB / name, as_version=4)
  assert "parameters" in nb.cells[0].metadata.get("tags", [])
  overrides = "\n".join(f"{key} = {value!r}"
                        for key, value in parameters.items())
  unknown = [key for key in parameters
             if not re.search(rf"^{key} = ", nb.cells[0].source, re.M)]
  assert not unknown, f"{name} has no parameter {unknown}"
  injected = nbformat.v4.new_code_cell(overrides)
  injected.metadata["tags"] = ["injected-parameters"]
  nb.cells.insert(1, injected)
  env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="tensorflow",
             TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  client = nbclient.NotebookClient(
      nb, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": str(cwd)}})
  client.execute(env=env)
  nbformat.write(nb, cwd / name)  # Kept for a look when a test fails.
  texts = []
  for cell in nb.cells:
    for output in cell.get("outputs", []):
      if output.get("name") == "stdout":
        texts.append(output["text"])
      elif "text/plain" in output.get("data", {}):
        texts.append(output["data"]["text/plain"])
  return nb, "\n".join(texts)


def test_notebooks_are_committed_clean():
  """No outputs in the repository, and a parameters cell first."""
  for name in NOTEBOOKS:
    nb = nbformat.read(COLAB / name, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "code"
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    for cell in nb.cells:
      if cell.cell_type == "code":
        assert not cell.outputs and cell.execution_count is None, name


@pytest.mark.slow
def test_pretrain_on_tpu(tmp_path):
  from keras_bert_lab.models import BertPretrainer
  _, text = execute(
      "pretrain_on_tpu.ipynb", tmp_path, MODEL_DIR="run", MAX_SEQ_LENGTH=32,
      MAX_PREDICTIONS_PER_SEQ=5, GLOBAL_BATCH_SIZE=8, NUM_TRAIN_STEPS=20,
      NUM_WARMUP_STEPS=2, STEPS_PER_EXECUTION=5, LOG_EVERY=10,
      EVAL_BATCHES=2, SHOW_TENSORBOARD=False)
  # No TPU here: the notebook fell back to the CPU in float32.
  assert "No TPU" in text and "policy float32" in text
  run = tmp_path / "run"
  model = BertPretrainer.from_pretrained(str(run / "pretrained"))
  assert model.config.num_layers == 2 and model.config.hidden_size == 128
  results = json.loads((run / "eval_results.json").read_text())
  assert results["steps"] == 20
  assert 0 <= results["masked_lm_accuracy"] <= 1
  assert 0 <= results["next_sentence_accuracy"] <= 1
  assert re.search(r"largest logit difference 0\b", text)
  # Two TensorBoard points (20 steps, LOG_EVERY 10) drawn by the report.
  from keras_bert_lab import reports as report
  scalars = report.read_scalars(run / "logs" / "train")
  assert list(scalars["epoch_loss"].steps) == [0, 1]
  assert (run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_finetune_and_export(tmp_path, data_dir):
  train_file = data_dir / "labeled" / "en" / "fine_foods_train.tsv"
  # A 2-layer width-32 encoder (the notebook's default is a real one).
  checkpoint = tmp_path / "tiny_bert"
  _tiny_encoder(checkpoint)
  examples = ["Great coffee!", "Stale and bland.", ""]
  _, text = execute(
      "finetune_and_export.ipynb", tmp_path, INIT_CHECKPOINT=str(checkpoint),
      TRAIN_FILE=str(train_file), MAX_TRAIN_EXAMPLES=64, MAX_SEQ_LENGTH=32,
      BATCH_SIZE=16, NUM_EPOCHS=1, LOG_EVERY=2, MODEL_DIR="run",
      EXPORT_DIR="exported", EXAMPLES=examples, SHOW_TENSORBOARD=False)

  # The fine-tuned folder: labels learned from the file, settings saved.
  from keras_bert_lab.models import load_task_model
  with open(train_file, encoding="utf-8", newline="") as f:
    file_labels = sorted({row["score"] for row in csv.DictReader(
        f, delimiter="\t")})
  _, info = load_task_model(str(tmp_path / "run"))
  assert info["task"] == "classification" and info["labels"] == file_labels
  assert info["max_seq_length"] == 32
  # 10% of 4,000 reviews held out: 400 evaluated, counted by the matrix.
  results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
  assert results["eval_examples"] == 400 and results["train_examples"] == 64
  matrix = re.search(r"\[\[\s*(\d+)\s+(\d+)\]\s*\[\s*(\d+)\s+(\d+)\]\]", text)
  counts = np.array(matrix.groups(), int).reshape(2, 2)
  assert counts.sum() == 400
  assert np.trace(counts) / 400 == pytest.approx(results["accuracy"])
  assert (tmp_path / "run" / "report.png").stat().st_size > 10_000

  # The SavedModel, loaded here with TensorFlow and tensorflow-text only.
  import tensorflow as tf
  import tensorflow_text  # noqa: F401
  versions = list((tmp_path / "exported").iterdir())
  assert len(versions) == 1 and versions[0].name.isdigit()
  served = tf.saved_model.load(str(versions[0]))
  out = served.signatures["serving_default"](text=tf.constant(examples))
  probabilities = out["probabilities"].numpy()
  assert probabilities.shape == (3, 2)
  np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)
  assert {label.decode() for label in out["label"].numpy()} <= set(file_labels)
  # The REST request printed for TF Serving carries the same texts.
  request = re.search(r"curl -d '(.*)' http://localhost:8501", text)
  assert json.loads(request.group(1))["instances"] == [
      {"text": t} for t in examples]


@pytest.mark.slow
def test_compress_and_serve(tmp_path, data_dir):
  from keras_bert_lab import tasks
  from keras_bert_lab.models import load_task_model
  rows = tmp_path / "reviews.tsv"
  with open(data_dir / "labeled" / "en" / "fine_foods_train.tsv",
            encoding="utf-8") as f:
    rows.write_text("".join(f.readlines()[:81]), encoding="utf-8")
  # A teacher: the tiny 2-layer encoder fine-tuned on 80 real reviews.
  _tiny_encoder(tmp_path / "tiny_bert")
  task = tasks.get_task("classification", text_column="review",
                        label_column="score", max_seq_length=32)
  tasks.finetune(task, tasks.DataConfig(train_file=str(rows)),
                 str(tmp_path / "tiny_bert"), str(tmp_path / "teacher"),
                 tasks.TrainConfig(num_train_epochs=1, train_batch_size=16))
  examples = ["Great coffee!", "Stale and bland.", ""]
  _, text = execute(
      "compress_and_serve.ipynb", tmp_path, TEACHER="teacher",
      TRAIN_FILE=str(rows), STUDENT_LAYERS=[1], NUM_EPOCHS=1, BATCH_SIZE=16,
      LOG_EVERY=2, STUDENT_DIR="student", EXPORT_DIR="exported",
      EXAMPLES=examples, LATENCY_CALLS=3)
  student, info = load_task_model(str(tmp_path / "student"))
  assert student.encoder.config.num_layers == 1
  results = json.loads((tmp_path / "student" / "eval_results.json"
                        ).read_text())
  assert re.search(rf"student accuracy {results['accuracy']:.4f}, teacher "
                   rf"{results['teacher']['accuracy']:.4f}", text)
  # The int8 student SavedModel answers raw text, as the float teacher does.
  import tensorflow as tf
  import tensorflow_text  # noqa: F401
  (version,) = (tmp_path / "exported").iterdir()
  dtypes = tf.train.load_checkpoint(str(version / "variables" / "variables")
                                    ).get_variable_to_dtype_map().values()
  assert tf.int8 in set(dtypes)
  served = tf.saved_model.load(str(version))
  out = served.signatures["serving_default"](text=tf.constant(examples))
  np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0,
                             atol=1e-6)
  assert {label.decode() for label in out["label"].numpy()} <= set(
      info["labels"])
  assert text.count("batch-1 p50") == 2


@pytest.mark.slow
def test_pretraining_data_explained(tmp_path):
  nb, text = execute(
      "pretraining_data_explained.ipynb", tmp_path, MAX_SEQ_LENGTH=64,
      MAX_PREDICTIONS_PER_SEQ=10, BATCH_SIZE=64, STATS_BATCHES=8,
      EXAMPLES_SHOWN=2)
  stats = json.loads(re.search(r"^STATS (.*)$", text, re.M).group(1))
  # 512 sequences of up to 64 tokens, about 4,700 predictions.
  assert stats["sequences"] == 512 and stats["predictions"] > 4000
  # Google's rule, exactly: min(P, max(1, round(length * 0.15))) each.
  assert stats["chosen_share"] == stats["rule_share"]
  # The paper's 15% (rounding per sequence moves it by < 1%) and 80/10/10
  # (binomial noise at ~4,700 draws: sd 0.6% and 0.4%; 2% allowed).
  assert abs(stats["chosen_share"] - 0.15) < 0.01
  assert abs(stats["mask_share"] - 0.8) < 0.02
  assert abs(stats["random_share"] - 0.1) < 0.02
  assert abs(stats["kept_share"] - 0.1) < 0.02
  # NSP: B is random half of the time, and always after a one-sentence
  # chunk, so IsNext is a little under one half.
  assert 0.35 < stats["is_next_share"] <= 0.5
  # The rendered examples: [CLS] first, [MASK] with the original token.
  assert re.search(r"^Example 0 \((IsNext|NotNext)", text, re.M)
  assert "[CLS]" in text and "[MASK]{" in text
  images = [o for cell in nb.cells for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]
  html = [o for cell in nb.cells for o in cell.get("outputs", [])
          if "text/html" in o.get("data", {})]
  assert len(images) == 1 and len(html) == 1
