"""The training runtime that pre-training and fine-tuning share.

One place for what every run sets up and reports, whichever loop trains it
(`training.train` for pre-training, Keras' `fit` for fine-tuning and the
notebooks; see "Training runtime" in DESIGN.md):

* `setup_runtime`: the devices (`split_cpu`), the `tf.distribute` strategy,
  the global-batch check, the mixed-precision policy, the seeds and op
  determinism, in the order TensorFlow needs them;
* `ScalarWriter`: TensorBoard scalars (`tf.summary.scalar`), the chief's or a
  no-op;
* `progress_line` and the `ProgressLogger` callback: the one progress line,
  `step 10/30  loss 1.2345  learning_rate 0.0003  2.00 steps/s  ETA 10s`;
* the resume policy: a rerun of the same command continues from the last
  checkpoint (or `fit` backup) at the same data position, restoring the
  dropout seed states too; where the input position cannot be saved, the
  global batches trained on are skipped (`skip_trained`). `fit_schedule`
  cuts a `fit` run into chunks, each ending in a backup, and `resume_fit`
  restores the backup before `fit` starts so the caller can skip the input.

Keras has all the pieces (strategies, `BackupAndRestore`, `TensorBoard`,
`ProgbarLogger`); what it lacks is the seed states in a backup
(`SeedBackupAndRestore`), a data position after a resume (its backup
restarts the dataset), and a log line with an ETA for step-based runs.
"""

import json
import logging
import math
import os
import time

import keras
import tensorflow as tf

from keras_bert_lab.training.backup import SeedBackupAndRestore
from keras_bert_lab.training.distribution import (CONNECT_TIMEOUT,
                                                   check_global_batch,
                                                   get_strategy, split_cpu)

logger = logging.getLogger("keras_bert_lab")

# --mixed_precision values and the Keras policies they set.
PRECISION_POLICIES = {"none": "float32", "bf16": "mixed_bfloat16",
                      "fp16": "mixed_float16"}


def setup_runtime(strategy="auto", tpu=None, connect_timeout=CONNECT_TIMEOUT,
                  num_cpu_devices=1, global_batch_size=None,
                  mixed_precision="none", seed=None, deterministic=False):
  """Sets up devices, strategy, precision and seeds; returns the strategy.

  Call it first, before any TensorFlow op runs (the CPU split and the
  collectives must come before TensorFlow lists its devices).

  Args:
    strategy: a `--strategy` name (`get_strategy`).
    tpu: the `--tpu` address (`get_strategy`).
    connect_timeout: seconds to wait for a TPU or the other workers.
    num_cpu_devices: logical CPU devices (`split_cpu`).
    global_batch_size: the global training batch, checked to split evenly
      over the replicas (None: not checked).
    mixed_precision: `"none"` (float32), `"bf16"` (`mixed_bfloat16`, TPUs)
      or `"fp16"` (`mixed_float16`; the optimizer then needs loss scaling:
      `create_optimizer(..., loss_scale=True)`).
    seed: seeds Python, NumPy and TensorFlow (`keras.utils.set_random_seed`);
      None leaves them.
    deterministic: TensorFlow op determinism (bit-identical reruns, slower
      on GPU).

  Returns:
    The `tf.distribute.Strategy` to build and train under.

  Raises:
    ValueError: naming the flag: a bad `--num_cpu_devices`, `--strategy`,
      `--tpu`, `TF_CONFIG`, a `--train_batch_size` that does not split over
      the replicas, or an unknown `--mixed_precision`.

  Example:
    >>> strategy = setup_runtime("auto", global_batch_size=32, seed=42)
    >>> keras.mixed_precision.global_policy().name
    'float32'
  """
  if mixed_precision not in PRECISION_POLICIES:
    raise ValueError(f"--mixed_precision={mixed_precision!r} is not one of "
                     f"{tuple(PRECISION_POLICIES)}.")
  split_cpu(num_cpu_devices)
  strategy = get_strategy(strategy, tpu, connect_timeout)
  if global_batch_size is not None:
    check_global_batch(global_batch_size, strategy)
  keras.mixed_precision.set_global_policy(PRECISION_POLICIES[mixed_precision])
  if seed is not None:
    keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()
  return strategy


class ScalarWriter:
  """Writes TensorBoard scalars (`tf.summary.scalar`) into one folder.

  Args:
    folder: the event files' folder (e.g. `model_dir/train`); None writes
      nothing (a multi-worker run's non-chief workers).

  Example:
    >>> import tempfile
    >>> writer = ScalarWriter(tempfile.mkdtemp())
    >>> writer.write(100, {"loss": 2.5, "learning_rate": 1e-4})
  """

  def __init__(self, folder):
    self.folder = None if folder is None else str(folder)
    self._writer = (tf.summary.create_noop_writer() if folder is None else
                    tf.summary.create_file_writer(self.folder))

  def write(self, step, values):
    """Writes `values` at `step` and flushes (TensorBoard sees them live).

    Args:
      step: the training step (x axis).
      values: a dict name -> Python or NumPy number.
    """
    with self._writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, float(value))
    self._writer.flush()


def progress_line(step, total_steps, loss, learning_rate, steps_per_second,
                  **metrics):
  """The one progress line of a training run, with its ETA.

  Args:
    step: steps done.
    total_steps: steps of the whole run.
    loss: the training loss.
    learning_rate: the current learning rate.
    steps_per_second: the training speed, for the ETA.
    **metrics: more values to show (`masked_lm_accuracy=...`), in order;
      4 decimals below 100, else none.

  Returns:
    `"step 10/30  loss 1.2345  learning_rate 0.0003  [name value  ...]
    2.00 steps/s  ETA 10s"`.

  Example:
    >>> progress_line(10, 30, 1.23451, 3e-4, 2.0)
    'step 10/30  loss 1.2345  learning_rate 0.0003  2.00 steps/s  ETA 10s'
  """
  eta = int((total_steps - step) / max(steps_per_second, 1e-9))
  return "  ".join(
      [f"step {step}/{total_steps}", f"loss {loss:.4f}",
       f"learning_rate {learning_rate:.3g}",
       *(f"{name} {value:.4f}" if abs(value) < 100 else f"{name} {value:.0f}"
         for name, value in metrics.items()),
       f"{steps_per_second:.2f} steps/s", f"ETA {eta}s"])


class ProgressLogger(keras.callbacks.Callback):
  """For `fit`: every `every` steps a `progress_line` and its scalars.

  Counts steps by `optimizer.iterations`, so a resumed `fit` shows the
  steps of the whole run; writes `loss`, `learning_rate` and
  `steps_per_second` to TensorBoard at each line.

  Args:
    every: steps between lines (and the last step).
    total_steps: steps of the whole run.
    log_dir: the scalars' folder (`ScalarWriter`); None for none.

  Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> _ = model.fit(tf.zeros([8, 2]), tf.zeros([8]), batch_size=4, epochs=2,
    ...               verbose=0, callbacks=[ProgressLogger(2, 4)])
  """

  def __init__(self, every, total_steps, log_dir=None):
    super().__init__()
    self.every, self.total_steps, self.log_dir = every, total_steps, log_dir

  def on_train_begin(self, logs=None):
    self.writer = ScalarWriter(self.log_dir)
    self.start = time.time()
    self.first_step = None

  def on_train_batch_end(self, batch, logs=None):
    step = int(self.model.optimizer.iterations.numpy())
    if self.first_step is None:
      self.first_step = step - 1
    if step % self.every and step != self.total_steps:
      return
    rate = (step - self.first_step) / max(time.time() - self.start, 1e-9)
    learning_rate = self.model.optimizer.learning_rate
    learning_rate = float(learning_rate.numpy() if hasattr(
        learning_rate, "numpy") else learning_rate)
    loss = float((logs or {}).get("loss", float("nan")))
    self.writer.write(step, {"loss": loss, "learning_rate": learning_rate,
                             "steps_per_second": rate})
    logger.info(progress_line(step, self.total_steps, loss, learning_rate,
                              rate))


def fit_schedule(num_train, batch_size, num_train_epochs, warmup_proportion,
                 checkpoint_every=None, steps_per_execution=1):
  """Cuts a `fit` run into chunks, each ending in a resume backup.

  Keras' epochs here are chunks of the repeated training stream: one pass
  over the data each by default, or `checkpoint_every` steps; the total is
  rounded up to equal chunks of whole `steps_per_execution` calls (Keras
  runs whole executions).

  Args:
    num_train: training examples (windows for SQuAD).
    batch_size: the global batch.
    num_train_epochs: passes over the data (a float).
    warmup_proportion: the share of the steps of linear warm-up.
    checkpoint_every: steps per chunk; None: one pass each.
    steps_per_execution: steps per `tf.function` call.

  Returns:
    `(chunks, steps_per_chunk, total_steps, warmup_steps)`: `fit`'s
    `epochs` and `steps_per_epoch`, and the schedule's lengths.

  Example:
    >>> fit_schedule(36, 1, 3.0, 0.1, checkpoint_every=2)
    (54, 2, 108, 10)
  """
  steps_per_epoch = math.ceil(num_train / batch_size)
  total = max(1, int(round(steps_per_epoch * num_train_epochs)))
  chunks = math.ceil(total / (checkpoint_every or steps_per_epoch))
  per_chunk = math.ceil(math.ceil(total / chunks) / steps_per_execution) * (
      steps_per_execution)
  total = per_chunk * chunks
  return chunks, per_chunk, total, int(total * warmup_proportion)


def resume_fit(model, model_dir, steps_per_chunk, chunks):
  """The resume policy of a `fit` run: its backup, restored before `fit`.

  Makes a `SeedBackupAndRestore` in `model_dir/backup` (a kill while it
  writes resumes from the backup before: `double_checkpoint`; the caller
  removes it after saving the trained model) and restores
  it now (`fit` restores it again), so that the caller can skip the batches
  trained on in its training stream (the same on every run): the resumed
  run then sees the data an uninterrupted one would.

  Args:
    model: the compiled model, built under its strategy's scope.
    model_dir: the run's folder.
    steps_per_chunk: `fit`'s `steps_per_epoch` (`fit_schedule`).
    chunks: `fit`'s `epochs`, for the log line.

  Returns:
    `(callback, steps_done)`: the backup, for `fit`'s callbacks, and the
    global batches trained on (chunks done, as Keras resumes them, times
    `steps_per_chunk`; not `optimizer.iterations`, which does not count
    float16 steps skipped for overflow).

  Example:
    >>> import tempfile
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> train = tf.data.Dataset.from_tensors(
    ...     (tf.zeros([4, 2]), tf.zeros([4]))).repeat()
    >>> backup, done = resume_fit(model, tempfile.mkdtemp(), 2, 3)
    >>> _ = model.fit(train.skip(done), epochs=3, steps_per_epoch=2,
    ...               callbacks=[backup], verbose=0, shuffle=False)
    >>> done
    0
  """
  # Kept after `fit` (delete_checkpoint=False): the caller removes it once
  # the model is saved, so that a kill in between resumes with nothing to
  # train rather than from the first step.
  backup = SeedBackupAndRestore(os.path.join(str(model_dir), "backup"),
                                double_checkpoint=True,
                                delete_checkpoint=False)
  backup.set_model(model)
  with model.distribute_strategy.scope():
    backup.on_train_begin()
  metadata = backup._training_metadata_path
  done_chunks = (json.loads(tf.io.gfile.GFile(metadata).read())["epoch"]
                 if tf.io.gfile.exists(metadata) else 0)
  done = done_chunks * steps_per_chunk
  if done:
    logger.info("Resuming from the backup in %s: %d of %d chunk(s) done "
                "(step %d); skipping the %d batches trained on.",
                backup.backup_dir, done_chunks, chunks, done, done)
  return backup, done


def skip_trained(dataset_fn, steps):
  """`dataset_fn` past the batches of `steps` global steps.

  For `strategy.distribute_datasets_from_function`: each global step takes
  `num_replicas_in_sync / num_input_pipelines` consecutive per-replica
  batches from every input pipeline. (A plain dataset of global batches
  skips with `dataset.skip(steps)`.) The input must be deterministic.

  Args:
    dataset_fn: `tf.distribute.InputContext -> tf.data.Dataset` of
      per-replica batches.
    steps: global steps trained on.

  Returns:
    An input function of the same kind.

  Example:
    >>> skipped_fn = skip_trained(lambda _: tf.data.Dataset.range(10), 3)
    >>> int(next(iter(skipped_fn(tf.distribute.InputContext()))))
    3
  """
  def skipped_fn(context):
    per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
    return dataset_fn(context).skip(steps * per_pipeline)
  return skipped_fn
