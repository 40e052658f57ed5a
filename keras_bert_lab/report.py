r"""Draw a run's training curves (and a confusion matrix) to a PNG.

  python -m keras_bert_lab.report --model_dir=runs/quickstart
  python -m keras_bert_lab.report --model_dir=runs/fine_foods \
      --output=fine_foods.png

Reads the TensorBoard event files under `--model_dir` — `pretrain`'s
`train/`, `finetune`'s `logs/train/` and `logs/eval/`, and the `train/` and
`validation/` folders of Keras' `TensorBoard` callback (its `epoch_` and
`batch_` tags, as the notebooks in `colab/` write them) — and draws what
they hold: the losses (total, masked LM, NSP), the accuracies, the learning
rate and the throughput, one panel each, plus the numbers of
`eval_results.json`. For a fine-tuned classifier (`task.json` says
`classification`) it adds the confusion matrix of the saved model on the
data the run evaluated: the `--eval_file` it was given, or its dev split of
`--train_file` (or of a tfds split) drawn again with the fraction and seed
that `eval_results.json`'s `eval_data` records.

Why written here: TensorBoard draws these curves, but it needs the
`tensorboard` package (TensorFlow 2.21 no longer installs it) and a running
server, and a PNG is what goes into a README, an issue or a paper. The event
files are read with TensorFlow's own record reader and `Event` proto;
matplotlib draws (install it with `pip install matplotlib`).
"""

import json
import logging
import os
import pathlib
import re
from typing import NamedTuple

import numpy as np

logger = logging.getLogger("keras_bert_lab")

EVENT_FILE_PATTERN = "events.out.tfevents.*"
# Panels of training curves: (title, does this metric name belong here).
PANELS = (
    ("loss", lambda name: name.endswith("loss")),
    ("accuracy", lambda name: name.endswith("accuracy")),
    ("learning rate", lambda name: name == "learning_rate"),
    ("throughput", lambda name: name.endswith("per_second")),
)
# What finetune's `eval_results.json` records as the evaluated data.
_DEV_SPLIT = re.compile(r"^dev split: (?P<fraction>[0-9.eE+-]+) of "
                        r"(?P<source>.+) held out by --seed=(?P<seed>-?\d+)$")
_TFDS_SPLIT = re.compile(r"^(?P<name>[\w./-]+)\[(?P<split>[^\]]+)\]$")
# Keras' metric names, as `pretrain` and `finetune` name the same numbers.
_ALIASES = {"sparse_categorical_accuracy": "accuracy"}


class Series(NamedTuple):
  """One scalar curve: `steps` (int64 [n], increasing) and `values` [n]."""
  steps: np.ndarray
  values: np.ndarray


def find_event_dirs(model_dir):
  """Returns the folders under `model_dir` holding TensorBoard event files.

  Args:
    model_dir: a run's folder.

  Returns:
    Sorted list of `pathlib.Path`s (`model_dir` itself included).

  Raises:
    FileNotFoundError: `model_dir` is not a folder, or holds no event file.
  """
  model_dir = pathlib.Path(model_dir)
  if not model_dir.is_dir():
    raise FileNotFoundError(f"--model_dir={model_dir} is not a folder; give "
                            "the model_dir of a pretrain or finetune run.")
  found = sorted({path.parent for path in model_dir.rglob(EVENT_FILE_PATTERN)
                  if path.is_file()})
  if not found:
    raise FileNotFoundError(
        f"No TensorBoard event files ({EVENT_FILE_PATTERN}) under "
        f"{model_dir}. `python -m keras_bert_lab.pretrain` writes them to "
        "<model_dir>/train/ and `finetune` to <model_dir>/logs/ as training "
        "runs (every --log_every steps); with `model.fit`, add "
        "`keras.callbacks.TensorBoard(log_dir=<model_dir>/logs)` (it needs "
        "`pip install tensorboard`). Point --model_dir at such a run.")
  return found


def read_scalars(log_dir):
  """Reads the scalar summaries of the event files in one folder.

  Scalars written by `tf.summary.scalar`, by `tf.summary.write` with a
  scalar tensor (`pretrain`, `finetune`) and TF1's `simple_value` are read;
  images, histograms, text and graphs are skipped. Several files (a resumed
  run writes a new one) are merged in write order, and a step written twice
  keeps its last value. A file cut short by a killed run gives what was
  complete.

  Args:
    log_dir: a folder of `events.out.tfevents.*` files (not recursive).

  Returns:
    `{tag: Series}`, steps increasing.

  Example:
    >>> read_scalars("runs/quickstart/train")["masked_lm_accuracy"].values[-1]
    0.13...
  """
  import tensorflow as tf
  from tensorflow.core.util import event_pb2
  points = {}
  for path in sorted(pathlib.Path(log_dir).glob(EVENT_FILE_PATTERN)):
    try:
      for record in tf.data.TFRecordDataset(
          str(path), buffer_size=1 << 20).as_numpy_iterator():
        event = event_pb2.Event.FromString(record)
        for value in event.summary.value:
          number = _scalar(value)
          if number is not None:
            points.setdefault(value.tag, []).append(
                (event.wall_time, event.step, number))
    except tf.errors.DataLossError:
      logger.warning("%s ends in an incomplete record (a killed run?); "
                     "using what came before it.", path)
  series = {}
  for tag, rows in points.items():
    by_step = {}
    for _, step, number in sorted(rows, key=lambda row: row[0]):
      by_step[step] = number
    steps = np.array(sorted(by_step), dtype=np.int64)
    series[tag] = Series(steps, np.array([by_step[s] for s in steps],
                                         dtype=np.float64))
  return series


def _scalar(value):
  """The number in one `Summary.Value`, or None if it is not a scalar."""
  kind = value.WhichOneof("value")
  if kind == "simple_value":
    return float(value.simple_value)
  if kind != "tensor" or value.tensor.tensor_shape.dim:
    return None
  import tensorflow as tf
  array = tf.make_ndarray(value.tensor)
  if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
    return None
  return float(array)


def training_curves(model_dir, steps_per_epoch=None):
  """The curves a report draws: every loss, accuracy, learning-rate and
  throughput scalar under `model_dir`, named as `pretrain` names them.

  Keras' TensorBoard callback names its scalars `epoch_<metric>` (x: the
  epoch) and `batch_<metric>` (x: the callback's batch count, one per
  `steps_per_execution` steps), and a dict-output model's metrics
  `<output>_logits_<metric>`; both are mapped to the names `pretrain`
  writes (`masked_lm_accuracy`, ...). Curves of runs other than `train`
  (`validation`, `eval`) get the run's name in their label. All curves of a
  report share one x axis: the unit most curves have wins, the others are
  left out (and logged).

  Args:
    model_dir: the run's folder.
    steps_per_epoch: the `fit`'s steps per epoch, to put Keras' `epoch_`
      scalars on the step axis.

  Returns:
    `(curves, unit)`: a list of `(panel, label, Series)`, panel one of
    `PANELS`' titles, and the x axis' unit ("step", "epoch" or "batch").

  Raises:
    FileNotFoundError: see `find_event_dirs`.
    ValueError: no scalar that belongs to a panel.

  Example:
    >>> curves, unit = training_curves("runs/quickstart")
    >>> unit, sorted({panel for panel, _, _ in curves})
    ('step', ['accuracy', 'learning rate', 'loss', 'throughput'])
  """
  curves = []
  for log_dir in find_event_dirs(model_dir):
    run = log_dir.name if log_dir != pathlib.Path(model_dir) else "train"
    scalars = read_scalars(log_dir)
    keras_epoch = any(tag.startswith("epoch_") for tag in scalars)
    for tag, series in sorted(scalars.items()):
      name, unit = tag, "step"
      if tag.startswith("epoch_"):
        name, unit = tag[len("epoch_"):], "epoch"
        if steps_per_epoch:
          series = Series((series.steps + 1) * steps_per_epoch, series.values)
          unit = "step"
      elif tag.startswith("batch_"):
        if keras_epoch:
          continue  # Running means within an epoch; the epoch values win.
        name, unit = tag[len("batch_"):], "batch"
      elif tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
        name = tag[len("evaluation_"):-len("_vs_iterations")]
      name = re.sub(r"_logits(?=_)", "", name)
      name = _ALIASES.get(name, name)
      panel = next((title for title, belongs in PANELS if belongs(name)),
                   None)
      if panel is None:
        continue
      label = name if run == "train" else f"{name} ({run})"
      if any(label == seen and unit == u for _, seen, u, _ in curves):
        continue  # Keras' evaluation_loss_vs_iterations repeats epoch_loss.
      curves.append((panel, label, unit, series))
  units = [unit for _, _, unit, _ in curves]
  if not units:
    raise ValueError(f"The event files under {model_dir} hold no loss, "
                     "accuracy, learning-rate or throughput scalars.")
  unit = max(("step", "epoch", "batch"), key=units.count)
  dropped = sorted({label for _, label, u, _ in curves if u != unit})
  if dropped:
    logger.info("Left out (x axis in %s, not %s): %s", "/".join(
        sorted(set(units) - {unit})), unit, ", ".join(dropped))
  return [(p, label, s) for p, label, u, s in curves if u == unit], unit


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


def _eval_examples(model_dir, info, eval_file, tfds_data_dir):
  """The examples `finetune` evaluated, from `eval_results.json`'s eval_data."""
  from keras_bert_lab.data.tasks import classification

  def read(source):
    match = _TFDS_SPLIT.match(source)
    if match and not os.path.exists(source):
      return classification.tfds_classification(
          match["name"], match["split"], tfds_data_dir)[0]
    return classification.read_classification_file(
        source, info.get("text_column") or "text",
        label_column=info.get("label_column") or "label",
        text_b_column=info.get("text_b_column"))

  if eval_file:
    return read(eval_file)
  results = pathlib.Path(model_dir) / "eval_results.json"
  eval_data = (json.loads(results.read_text(encoding="utf-8")).get("eval_data")
               if results.exists() else None)
  fix = ("pass the evaluation file with --eval_file (the columns are read "
         "as task.json names them), or --noconfusion_matrix")
  if not eval_data:
    raise ValueError(f"{results} is missing or names no eval_data, so the "
                     f"evaluated examples are unknown; {fix}.")
  split = _DEV_SPLIT.match(eval_data)
  try:
    if split:
      return classification.split_dev(read(split["source"]),
                                       float(split["fraction"]),
                                       int(split["seed"]))[1]
    return read(eval_data)
  except FileNotFoundError as e:
    raise ValueError(f"eval_data {eval_data!r} of {results} cannot be read "
                     f"({e}); run from the folder finetune ran in, or "
                     f"{fix}.") from e


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
    >>> gold, predicted, names = classification_predictions("runs/fine_foods")
    >>> confusion_matrix(gold, predicted, len(names))
  """
  from keras_bert_lab import text
  from keras_bert_lab.data.tasks import classification
  from keras_bert_lab.models import load_task_model
  model, info = load_task_model(str(model_dir))
  if info["task"] != "classification":
    raise ValueError(f"{model_dir} holds a {info['task']} model; a confusion "
                     "matrix needs a classification model.")
  examples = _eval_examples(model_dir, info, eval_file, tfds_data_dir)
  tokenizer = text.BertTokenizer(
      str(pathlib.Path(model_dir) / "vocab.txt"), lower_case=info["lower_case"])
  dataset = classification.classification_dataset(
      examples, tokenizer, info["labels"],
      seq_length=info.get("max_seq_length") or 128, batch_size=batch_size,
      truncation=info.get("truncation") or "longest_first")
  labels, predictions = [], []
  for features, batch_labels in dataset:
    labels.append(batch_labels.numpy())
    predictions.append(np.argmax(model.predict_on_batch(features), axis=-1))
  if not labels:
    raise ValueError(f"The evaluation data of {model_dir} holds no examples.")
  return (np.concatenate(labels), np.concatenate(predictions),
          list(info["labels"]))


def _figure(rows, columns):
  """A matplotlib `Figure` of `rows` x `columns` axes, without pyplot.

  No pyplot means no global backend: nothing opens a window, and a
  notebook's inline backend is left alone.
  """
  try:
    from matplotlib.figure import Figure
  except ImportError as e:
    raise ImportError("The report draws with matplotlib: pip install "
                      "matplotlib") from e
  fig = Figure(figsize=(5 * columns, 3.8 * rows))
  return fig, list(fig.subplots(rows, columns, squeeze=False).flat)


def plot_confusion_matrix(matrix, label_names, ax):
  """Draws a confusion matrix (counts and row shares) on `ax`.

  Args:
    matrix: `[k, k]` counts, row = true class (`confusion_matrix`).
    label_names: k names.
    ax: a matplotlib `Axes`.

  Example:
    >>> fig, ax = plt.subplots()
    >>> plot_confusion_matrix(confusion_matrix(gold, pred), ["neg", "pos"], ax)
  """
  matrix = np.asarray(matrix)
  shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
  ticks = np.arange(len(label_names))
  ax.set_xticks(ticks, [str(n) for n in label_names], rotation=45, ha="right")
  ax.set_yticks(ticks, [str(n) for n in label_names])
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  if len(label_names) <= 12:
    for (i, j), count in np.ndenumerate(matrix):
      ax.text(j, i, f"{count}\n{shares[i, j]:.0%}", ha="center", va="center",
              fontsize=8, color="white" if shares[i, j] > 0.6 else "black")
  accuracy = np.trace(matrix) / max(matrix.sum(), 1)
  ax.set_title(f"confusion matrix\n{matrix.sum()} examples, accuracy "
               f"{accuracy:.3f}")


def _eval_numbers(results):
  """The metrics of an `eval_results.json` (not its counts or settings)."""
  return {k: v for k, v in results.items()
          if isinstance(v, (int, float)) and not isinstance(v, bool)
          and not re.search(r"examples|steps", k)}


def _plot_eval_results(numbers, ax):
  names = sorted(numbers)
  ax.barh(names, [numbers[n] for n in names], color="tab:green")
  for i, name in enumerate(names):
    ax.text(numbers[name], i, f" {numbers[name]:.4g}", va="center",
            fontsize=8)
  ax.invert_yaxis()
  ax.set_title("eval_results.json")
  ax.margins(x=0.25)


def write_report(model_dir, output=None, eval_file=None, confusion=None,
                 predictions=None, steps_per_epoch=None, eval_batch_size=32,
                 tfds_data_dir=None, title=None):
  """Draws a run's curves, eval results and confusion matrix to a PNG.

  Args:
    model_dir: the run's folder (event files anywhere below it).
    output: the PNG's path; default `<model_dir>/report.png`.
    eval_file: see `classification_predictions`.
    confusion: draw the confusion matrix; default: when `model_dir` holds a
      classification `task.json` (or `predictions` are given).
    predictions: `(labels, predictions, label_names)` to draw instead of
      predicting again (e.g. what a notebook computed).
    steps_per_epoch: turns the x axis of Keras' `epoch_` scalars into steps.
    eval_batch_size: prediction batch size for the confusion matrix.
    tfds_data_dir: see `classification_predictions`.
    title: the figure's title; default `model_dir`.

  Returns:
    The PNG's `pathlib.Path`.

  Raises:
    FileNotFoundError: no folder, or no event files in it.
    ValueError: no curves to draw, or the confusion matrix's data is missing.

  Example:
    >>> write_report("runs/quickstart")
    PosixPath('runs/quickstart/report.png')
  """
  model_dir = pathlib.Path(model_dir)
  output = pathlib.Path(output) if output else model_dir / "report.png"
  curves, unit = training_curves(model_dir, steps_per_epoch)
  results_file = model_dir / "eval_results.json"
  results = _eval_numbers(json.loads(results_file.read_text(encoding="utf-8"))
                         if results_file.exists() else {})
  if confusion is None:
    task_file = model_dir / "task.json"
    confusion = predictions is not None or (task_file.exists() and json.loads(
        task_file.read_text(encoding="utf-8")).get("task") == "classification")
  if confusion and predictions is None:
    predictions = classification_predictions(
        model_dir, eval_file, eval_batch_size, tfds_data_dir)

  panels = [name for name, _ in PANELS
            if any(panel == name for panel, _, _ in curves)]
  extra = int(bool(results)) + int(bool(confusion))
  count = len(panels) + extra
  columns = min(count, 3)
  rows = -(-count // columns)
  fig, axes = _figure(rows, columns)
  steps = np.concatenate([series.steps for _, _, series in curves])
  for ax, name in zip(axes, panels):
    for panel, label, series in curves:
      if panel == name:
        ax.plot(series.steps, series.values, label=label,
                marker="o" if len(series.steps) < 2 else None)
    if steps.max() > steps.min():  # One x range: a lone eval point lines up.
      pad = 0.03 * (steps.max() - steps.min())
      ax.set_xlim(steps.min() - pad, steps.max() + pad)
    ax.set_title(name)
    ax.set_xlabel(unit)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    if name == "learning rate":
      ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.legend(fontsize=8)
  position = len(panels)
  if results:
    _plot_eval_results(results, axes[position])
    position += 1
  if confusion:
    gold, predicted, names = predictions
    plot_confusion_matrix(confusion_matrix(gold, predicted, len(names)),
                          names, axes[position])
    position += 1
  for ax in axes[position:]:
    ax.axis("off")
  fig.suptitle(title or str(model_dir))
  fig.tight_layout()
  output.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(output, dpi=80)
  return output


def main(argv):
  from absl import app
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    path = write_report(
        FLAGS.model_dir, FLAGS.output, eval_file=FLAGS.eval_file,
        confusion=False if not FLAGS.confusion_matrix else None,
        steps_per_epoch=FLAGS.steps_per_epoch,
        eval_batch_size=FLAGS.eval_batch_size,
        tfds_data_dir=FLAGS.tfds_data_dir, title=FLAGS.title)
  except (FileNotFoundError, ValueError, ImportError) as e:
    raise app.UsageError(str(e))
  print(path)


def _define_flags():
  """The CLI's flags (defined only when run as a program: `pretrain` and
  `finetune` define `model_dir` too, and may share a process with this
  module)."""
  from absl import flags
  flags.DEFINE_string("model_dir", None, "A pretrain or finetune model_dir "
                      "(or any folder with TensorBoard event files below it).")
  flags.DEFINE_string("output", None, "The PNG to write; default "
                      "<model_dir>/report.png.")
  flags.DEFINE_bool("confusion_matrix", True, "For a classification "
                    "model_dir: add the confusion matrix on the evaluated "
                    "data (--noconfusion_matrix to skip the predictions).")
  flags.DEFINE_string("eval_file", None, "Data for the confusion matrix; "
                      "default: what eval_results.json says the run "
                      "evaluated.")
  flags.DEFINE_integer("eval_batch_size", 32, "Prediction batch size.",
                       lower_bound=1)
  flags.DEFINE_string("tfds_data_dir", None, "tfds data directory, when the "
                      "run evaluated a tfds split.")
  flags.DEFINE_string("title", None, "The figure's title; default "
                      "--model_dir.")
  flags.DEFINE_integer("steps_per_epoch", None, "Keras TensorBoard logs: the "
                       "fit's steps_per_epoch, to plot epochs as steps.",
                       lower_bound=1)
  flags.mark_flag_as_required("model_dir")
  return flags.FLAGS


if __name__ == "__main__":
  from absl import app
  FLAGS = _define_flags()
  app.run(main)
