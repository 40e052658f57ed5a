"""A fine-tuned classifier's confusion matrix on the data its run evaluated.

The evaluated data is found again from `eval_results.json`: its `dev_split`
record (`{"source", "fraction", "seed"}`: the same `split_dev` drawn again)
or the `eval_data` file it names; the predictions go through the task's own
evaluation dataset (`keras_bert_lab.tasks`).
"""

import json
import os
import pathlib
import re

import numpy as np

_TFDS_SPLIT = re.compile(r"^(?P<name>[\w./-]+)\[(?P<split>[^\]]+)\]$")


def confusion_matrix(labels, predictions, num_classes=None):
  """Counts of (true class, predicted class) pairs, as scikit-learn's.

  Args:
    labels: true class ids, shape [n].
    predictions: class ids [n], or logits/probabilities [n, classes] (their
      argmax).
    num_classes: the matrix size; default 1 + the largest id seen.

  Returns:
    int64 `[num_classes, num_classes]`: row = true class, column = predicted.

  Example:
    >>> confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
  """
  from keras_bert_lab.metrics import _pair
  labels, predictions = _pair(labels, predictions)
  if num_classes is None:
    num_classes = int(max(labels.max(), predictions.max())) + 1
  matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
  np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
  return matrix


def _eval_examples(model_dir, config, eval_file, tfds_data_dir):
  """The examples `finetune` evaluated, from `eval_results.json`."""
  from keras_bert_lab.data.dev_split import split_dev
  from keras_bert_lab.data import classification

  def read(source):
    match = _TFDS_SPLIT.match(source)
    if match and not os.path.exists(source):
      return classification.tfds_classification(
          match["name"], match["split"], tfds_data_dir)[0]
    return classification.read_classification_file(
        source, config.text_column, label_column=config.label_column,
        text_b_column=config.text_b_column)

  if eval_file:
    return read(eval_file)
  results = pathlib.Path(model_dir) / "eval_results.json"
  values = (json.loads(results.read_text(encoding="utf-8"))
            if results.exists() else {})
  fix = ("pass the evaluation file with --eval_file (the columns are read "
         "as task.json names them), or --noconfusion_matrix")
  split = values.get("dev_split")
  eval_data = values.get("eval_data")
  if not eval_data or (split is None and eval_data.startswith("dev split")):
    raise ValueError(f"{results} is missing or records no dev_split or "
                     f"eval_data, so the evaluated examples are unknown; "
                     f"{fix}.")
  try:
    if split:
      return split_dev(read(split["source"]), float(split["fraction"]),
                       int(split["seed"]))[1]
    return read(eval_data)
  except FileNotFoundError as e:
    raise ValueError(f"The evaluated data of {results} cannot be read ({e}); "
                     f"run from the folder finetune ran in, or {fix}."
                     ) from e


def classification_predictions(model_dir, eval_file=None, batch_size=32,
                               tfds_data_dir=None):
  """The saved classifier's predictions on the data its run evaluated.

  Args:
    model_dir: a `finetune --task=classification` model_dir (or any folder
      `load_task_model` reads with a classification `task.json`).
    eval_file: CSV/TSV/JSONL (or `tfds_name[split]`) to predict on, with the
      columns task.json names; default: what `eval_results.json` says the
      run evaluated (its `--eval_file`, or the dev split of `--train_file`
      held out by `--dev_fraction` and `--seed`). Relative paths are read
      from the working directory, as `finetune` read them.
    batch_size: prediction batch size.
    tfds_data_dir: tfds data directory, for tfds sources.

  Returns:
    `(labels, predictions, label_names)`: int class ids [n] twice, and the
    label list (class i is `label_names[i]`).

  Raises:
    ValueError: not a classification model, or the evaluated data cannot be
      found (the message says which flag fixes it).

  Example:
    >>> gold, predicted, names = classification_predictions(
    ...     "runs/fine_foods")  # doctest: +SKIP
    >>> confusion_matrix(gold, predicted, len(names))  # doctest: +SKIP
  """
  from keras_bert_lab import tasks
  task, model = tasks.load(str(model_dir))
  if task.name != "classification":
    raise ValueError(f"{model_dir} holds a {task.name} model; a confusion "
                     "matrix needs a classification model.")
  examples = _eval_examples(model_dir, task.config, eval_file, tfds_data_dir)
  dataset = task.eval_dataset(examples, tasks.load_tokenizer(model),
                              batch_size)
  labels, predictions = [], []
  for features, batch_labels in dataset:
    labels.append(batch_labels.numpy())
    predictions.append(np.argmax(model.predict_on_batch(features), axis=-1))
  if not labels:
    raise ValueError(f"The evaluation data of {model_dir} holds no examples.")
  return (np.concatenate(labels), np.concatenate(predictions),
          list(task.config.labels))
