"""One PNG of a run: its curves, its `eval_results.json` numbers, a confusion matrix.

Why written here: TensorBoard draws these curves, but it needs a running
server, and a PNG is what goes into a README, an issue or a paper.
matplotlib draws, without pyplot (no global backend).
"""

import json
import pathlib
import re

import numpy as np

from keras_bert_lab.reports.confusion import (classification_predictions,
                                              confusion_matrix)
from keras_bert_lab.reports.curves import PANELS, training_curves


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
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> plot_confusion_matrix(confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0]),
    ...                       ["neg", "pos"], ax)
    >>> print(ax.get_title())
    confusion matrix
    4 examples, accuracy 0.750
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
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> model_dir = tempfile.mkdtemp()   # a run's folder: its event files
    >>> with tf.summary.create_file_writer(
    ...     os.path.join(model_dir, "train")).as_default():
    ...   for step in (1, 2, 3):
    ...     _ = tf.summary.scalar("loss", 3.0 / step, step=step)
    >>> write_report(model_dir).name
    'report.png'
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
