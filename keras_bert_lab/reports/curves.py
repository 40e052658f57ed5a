"""A run's training curves, read from its TensorBoard event files.

Reads what `pretrain` (`train/`), `finetune` (`logs/train/`, `logs/eval/`)
and Keras' `TensorBoard` callback (`train/`, `validation/`: its `epoch_` and
`batch_` tags, as the notebooks write them) leave under a `model_dir`, with
TensorFlow's own record reader and `Event` proto: no `tensorboard` server
needed to get the numbers.
"""

import logging
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
        "`keras.callbacks.TensorBoard(log_dir=<model_dir>/logs)`. Point "
        "--model_dir at such a run.")
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
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> log_dir = os.path.join(tempfile.mkdtemp(), "train")
    >>> with tf.summary.create_file_writer(log_dir).as_default():
    ...   for step in (2, 4, 8):
    ...     _ = tf.summary.scalar("loss", 1.0 / step, step=step)
    >>> read_scalars(log_dir)["loss"]
    Series(steps=array([2, 4, 8]), values=array([0.5  , 0.25 , 0.125]))
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
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> model_dir = tempfile.mkdtemp()   # as pretrain or finetune leave it
    >>> for run in ("train", "eval"):
    ...   with tf.summary.create_file_writer(
    ...       os.path.join(model_dir, run)).as_default():
    ...     _ = tf.summary.scalar("loss", 0.5, step=100)
    ...     _ = tf.summary.scalar("accuracy", 0.8, step=100)
    >>> curves, unit = training_curves(model_dir)
    >>> unit, [(panel, label) for panel, label, _ in curves]
    ('step', [('accuracy', 'accuracy (eval)'), ('loss', 'loss (eval)'),
              ('accuracy', 'accuracy'), ('loss', 'loss')])
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
