"""A resumable pre-training loop: `train` and `evaluate` for `BertPretrainer`.

Why not `model.fit`: Keras 3 cannot checkpoint the input iterator
(`BackupAndRestore` saves the model, the optimizer and the epoch/batch count,
then restarts the dataset from its start), so a pre-training run that is
killed repeats the examples it had already seen. Here a `tf.train.Checkpoint`
holds the model, the optimizer, the step, the dropout seed states *and*
the input iterator, so a re-run continues at the same step with the next
unseen batch. TensorFlow cannot checkpoint a multi-replica iterator
(`MirroredStrategy`, `MultiWorkerMirroredStrategy`, `TPUStrategy`); there a
re-run skips the batches trained on instead (re-reading them: the input must
be deterministic), which reaches the same data position.

The loop is Orbit's (Model Garden's) shape, reduced to what BERT
pre-training needs: a `tf.function` that runs up to `steps_per_execution`
steps of `strategy.run` in a `tf.range` loop, fed by
`strategy.distribute_datasets_from_function`; losses and accuracies kept as
sums over the global batch (exact for any number of replicas); a
`tf.train.CheckpointManager`; every `log_every` steps the runtime's
progress line and TensorBoard scalars (`training.runtime`, which fine-tuning
under `fit` shares).

Checkpoints are safe against a kill mid-write: TensorFlow writes the shards
under `<prefix>_temp/`, merges them into `ckpt-N.*`, and only then rewrites
the `checkpoint` file (with `atomic_write_string_to_file`) that
`latest_checkpoint` reads, so it only ever names complete checkpoints.
"""

import logging
import os
import time

import tensorflow as tf

from keras_bert_lab.models.pretrainer import PRETRAINER_INPUTS
from keras_bert_lab.training.backup import seed_states
from keras_bert_lab.training.disk import (checkpoint_bytes, disk_full_errors,
                                          variable_bytes)
from keras_bert_lab.training.errors import explained
from keras_bert_lab.training.runtime import (ScalarWriter, progress_line,
                                            skip_trained)

logger = logging.getLogger("keras_bert_lab")


def pretraining_loss(features, outputs):
  """BERT's pre-training loss on one replica's share of the global batch.

  The masked-LM loss is the cross-entropy weighted by `masked_lm_weights`
  and divided by the sum of the weights over the *global* batch; the NSP
  loss (when the model has the head) is the mean cross-entropy over the
  global batch. Their sum is the loss the gradients come from.

  Args:
    features: a dict with `masked_lm_ids` `[B, P]`, `masked_lm_weights`
      `[B, P]` and, for NSP, `next_sentence_labels` `[B]` or `[B, 1]`.
    outputs: the `BertPretrainer` outputs (`masked_lm_logits`, optionally
      `next_sentence_logits`).

  Returns:
    `(loss, stats)`: the scalar loss of this replica, and a dict name ->
    `(numerator, denominator)` float32 sums on this replica for
    `masked_lm_loss`, `masked_lm_accuracy` and, with NSP,
    `next_sentence_loss`, `next_sentence_accuracy`.

  Example:
    >>> from keras_bert_lab import data, models, text
    >>> features = next(iter(data.pretraining_dataset(
    ...     data.read_documents(str(text.BUNDLED_CORPUS)),
    ...     text.BertTokenizer(text.BUNDLED_VOCAB), 4, max_seq_length=32)))
    >>> pretrainer = models.BertPretrainer(models.BertEncoder.from_vocab())
    >>> loss, stats = pretraining_loss(features, pretrainer(features))
    >>> sorted(stats)
    ['masked_lm_accuracy', 'masked_lm_loss', 'next_sentence_accuracy', 'next_sentence_loss']
  """
  context = tf.distribute.get_replica_context()
  weights = tf.cast(features["masked_lm_weights"], tf.float32)
  stats = {}
  stats["masked_lm_loss"], stats["masked_lm_accuracy"] = _sums(
      features["masked_lm_ids"], outputs["masked_lm_logits"], weights)
  if "next_sentence_logits" in outputs:
    labels = tf.reshape(features["next_sentence_labels"], [-1])
    stats["next_sentence_loss"], stats["next_sentence_accuracy"] = _sums(
        labels, outputs["next_sentence_logits"], tf.ones_like(labels, tf.float32))
  loss = 0.0
  for name in ("masked_lm_loss", "next_sentence_loss"):
    if name in stats:
      total, count = stats[name]
      loss += tf.math.divide_no_nan(
          total, context.all_reduce(tf.distribute.ReduceOp.SUM, count))
  return loss, stats


def _sums(labels, logits, weights):
  """Returns ((weighted CE sum, weight sum), (weighted correct, weight sum))."""
  labels = tf.cast(labels, tf.int32)
  logits = tf.cast(logits, tf.float32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits)
  correct = tf.cast(tf.equal(tf.argmax(logits, -1, tf.int32), labels),
                    tf.float32)
  count = tf.reduce_sum(weights)
  return ((tf.reduce_sum(cross_entropy * weights), count),
          (tf.reduce_sum(correct * weights), count))


def _ratios(sums):
  """Turns `{name: (numerator, denominator)}` sums into Python floats."""
  metrics = {name: float(tf.math.divide_no_nan(num, den))
             for name, (num, den) in sums.items()}
  metrics["loss"] = sum(metrics[name] for name in
                        ("masked_lm_loss", "next_sentence_loss")
                        if name in metrics)
  return metrics


def is_chief(strategy):
  """Whether this process writes checkpoints and summaries.

  Args:
    strategy: a `tf.distribute.Strategy`.

  Returns:
    True on a single machine, and on the chief of a multi-worker cluster
    (the `chief` task, or worker 0 when there is none).

  Example:
    >>> is_chief(tf.distribute.get_strategy())
    True
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  if resolver.task_type == "chief":
    return True
  return (resolver.task_type == "worker" and resolver.task_id == 0 and
          "chief" not in resolver.cluster_spec().as_dict())


def _task_id(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  return resolver.task_id if resolver is not None else 0


def _reduce_sum(strategy, stats):
  """Sums per-replica stats over replicas, tensor by tensor (a nested
  structure in one `reduce` fails under MultiWorkerMirroredStrategy)."""
  return tf.nest.map_structure(
      lambda v: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None),
      stats)


def _add(a, b):
  return tf.nest.map_structure(lambda x, y: x + y, a, b)


_STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def _holds_iterator(path):
  """Whether the checkpoint at `path` holds an input iterator's state."""
  return any(name.startswith("iterator/")
             for name, _ in tf.train.list_variables(path))


def _restore(checkpoint, path):
  """Restores `checkpoint` from `path`, naming a pipeline mismatch."""
  with explained(
      tf.errors.NotFoundError, "restore dataset iterator",
      f"{path} holds the input position of another input pipeline (other "
      "data flags, or another keras_bert_lab version), so the run cannot "
      "resume exactly. Rerun with the flags that made it, or start a new "
      "model_dir (--init_checkpoint=<its pretrained/ folder> continues from "
      "its weights)."):
    checkpoint.restore(path).assert_existing_objects_matched()


def train(model, optimizer, dataset_fn, model_dir, num_train_steps,
          strategy=None, steps_per_execution=1, checkpoint_every=1000,
          max_checkpoints_to_keep=5, log_every=100, loss_fn=pretraining_loss,
          jit_compile=False):
  """Trains `model` to `num_train_steps`, resuming from `model_dir` if it can.

  On start, the latest checkpoint in `model_dir` (if any) restores the
  weights, the optimizer, the step and the input position (the iterator's
  saved state on one device; else the trained batches are skipped), so
  that a killed run re-run with the same arguments ends with the same
  weights as one that was never interrupted (given deterministic ops and
  seeded dropout).

  Args:
    model: a `BertPretrainer` (or any model taking `PRETRAINER_INPUTS` and
      returning what `loss_fn` reads), built under `strategy.scope()`.
    optimizer: e.g. `create_optimizer(...)`, built under `strategy.scope()`.
    dataset_fn: `tf.distribute.InputContext -> tf.data.Dataset` of
      per-replica batches (`input_context.get_per_replica_batch_size`) of
      pre-training features; repeated (it must not run out before
      `num_train_steps`) and deterministic for an exact resume.
    model_dir: checkpoints go here, TensorBoard summaries under `train/`.
    num_train_steps: the step to stop at.
    strategy: a `tf.distribute.Strategy`; default: the current one.
    steps_per_execution: training steps per `tf.function` call.
    checkpoint_every: steps between checkpoints (one is also written at the
      end).
    max_checkpoints_to_keep: older checkpoints are deleted.
    log_every: steps between log lines and summaries.
    loss_fn: `(features, outputs) -> (loss, stats)` as `pretraining_loss`.
    jit_compile: compile the step with XLA: forward, backward and, on one
      replica, the optimizer update (static shapes: batch with
      `drop_remainder`).

  Returns:
    The metrics of the last `log_every` window (`loss`, `masked_lm_loss`,
    `masked_lm_accuracy`, `next_sentence_loss`, `next_sentence_accuracy`,
    `learning_rate`, `examples_per_second`), or `{}` if the checkpoint
    already was at `num_train_steps`.

  Raises:
    ValueError: the latest checkpoint in `model_dir` holds the position of
      another input pipeline ("cannot resume exactly").
    DiskFullError: a checkpoint did not fit on the disk (its partial files
      are removed; the earlier checkpoints are kept).

  Example:
    >>> import tempfile
    >>> from keras_bert_lab import training
    >>> from keras_bert_lab.models import BertEncoder, BertPretrainer
    >>> from keras_bert_lab.text import (BertTokenizer, BUNDLED_CORPUS,
    ...                                  BUNDLED_VOCAB)
    >>> data = training.PretrainingInput(
    ...     input_files=[str(BUNDLED_CORPUS)],
    ...     max_seq_length=32, max_predictions_per_seq=5, train_batch_size=4)
    >>> strategy = tf.distribute.get_strategy()   # or Mirrored, TPU, ...
    >>> with strategy.scope():
    ...   model = BertPretrainer(BertEncoder.from_vocab(num_layers=1))
    ...   optimizer = training.create_optimizer("adamw", 1e-4, 4, 1)
    >>> metrics = train(model, optimizer, data.train_dataset_fn(
    ...     BertTokenizer(BUNDLED_VOCAB)), tempfile.mkdtemp(), 4,
    ...     strategy=strategy, steps_per_execution=2, log_every=2)
    >>> sorted(metrics)[:3]
    ['examples_per_second', 'learning_rate', 'loss']
  """
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    if not optimizer.built:
      optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  # Keras keeps the dropout seed generators' states out of the model's
  # tracked weights; without them a resumed run would draw other masks.
  state = dict(model=model, optimizer=optimizer, step=step,
               seed_states=seed_states(model))
  latest = tf.train.latest_checkpoint(model_dir)
  distributed = strategy.distribute_datasets_from_function(dataset_fn)
  # Only the default (one-device) strategy hands back a plain dataset, whose
  # iterator a checkpoint can hold; TensorFlow cannot checkpoint a
  # multi-replica `DistributedIterator`. Without a saved iterator, a resumed
  # run reaches the saved data position by skipping the batches trained on.
  saves_iterator = isinstance(distributed, tf.data.Dataset)
  resumes_iterator = saves_iterator and latest and _holds_iterator(latest)
  if latest and not resumes_iterator:
    distributed = strategy.distribute_datasets_from_function(
        skip_trained(dataset_fn,
                     int(tf.train.load_variable(latest, _STEP_KEY))))
  iterator = iter(distributed)
  if saves_iterator:
    state["iterator"] = iterator
  checkpoint = tf.train.Checkpoint(**state)
  if latest:
    _restore(checkpoint if resumes_iterator else tf.train.Checkpoint(
        **{k: v for k, v in state.items() if k != "iterator"}), latest)
    trained = int(step.numpy())
    logger.info("Resumed from %s at step %d%s.", latest, trained,
                "" if resumes_iterator else
                f"; the first steps re-read the input to skip the {trained} "
                "global batches trained on (same data position: TensorFlow "
                "cannot checkpoint a multi-replica input iterator)")
  # Every worker saves (a save may need all of them), but only the chief
  # into model_dir; the others write a scratch folder and delete it.
  chief = is_chief(strategy)
  scratch = os.path.join(model_dir, f".worker_{_task_id(strategy)}")
  manager = tf.train.CheckpointManager(
      checkpoint, model_dir if chief else scratch,
      max_to_keep=max_checkpoints_to_keep, step_counter=step)

  def forward_backward(features):
    inputs = {name: features[name] for name in PRETRAINER_INPUTS}
    with tf.GradientTape() as tape:
      outputs = model(inputs, training=True)
      loss, stats = loss_fn(features, outputs)
      scaled_loss = optimizer.scale_loss(loss)
    return tape.gradient(scaled_loss, model.trainable_variables), stats

  def replica_step(features):
    grads, stats = forward_backward(features)
    stats["learning_rate"] = (tf.cast(optimizer.learning_rate, tf.float32),
                              tf.constant(1.0))
    optimizer.apply(grads, model.trainable_variables)
    stats["examples"] = (tf.cast(tf.shape(features["input_word_ids"])[0],
                                 tf.float32), tf.constant(0.0))
    return stats

  if jit_compile and strategy.num_replicas_in_sync == 1:
    # XLA fuses the whole step: forward, backward and the optimizer update.
    replica_step = tf.function(replica_step, jit_compile=True)
  elif jit_compile:
    # With several replicas the gradients' all-reduce happens in the
    # optimizer update, which stays an ordinary graph.
    forward_backward = tf.function(forward_backward, jit_compile=True)

  def one_step(iterator):
    stats = strategy.run(replica_step, args=(next(iterator),))
    return _reduce_sum(strategy, stats)

  @tf.function
  def train_steps(iterator, num_steps):
    totals = one_step(iterator)
    for _ in tf.range(num_steps - 1):
      totals = _add(totals, one_step(iterator))
    step.assign_add(tf.cast(num_steps, tf.int64))
    return totals

  writer = ScalarWriter(os.path.join(model_dir, "train") if chief else None)
  checkpoint_variables = list(model.weights) + list(optimizer.variables)
  current = int(step.numpy())
  metrics, window, window_steps, window_start = {}, None, 0, time.time()
  while current < num_train_steps:
    num_steps = min(steps_per_execution, num_train_steps - current,
                    log_every - current % log_every,
                    checkpoint_every - current % checkpoint_every)
    sums = train_steps(iterator, tf.constant(num_steps))
    window = sums if window is None else _add(window, sums)
    current += num_steps
    window_steps += num_steps
    if current % log_every == 0 or current == num_train_steps:
      metrics = _log(window, window_steps, current, num_train_steps,
                     time.time() - window_start, writer)
      window, window_steps, window_start = None, 0, time.time()
    if current % checkpoint_every == 0 or current == num_train_steps:
      with disk_full_errors(
          manager.directory, f"checkpoint ckpt-{current}",
          lambda: (checkpoint_bytes(manager.latest_checkpoint)
                   or variable_bytes(checkpoint_variables)),
          "training resumes from "
          f"{manager.latest_checkpoint or 'the first step'}",
          partial=[os.path.join(manager.directory, f"ckpt-{current}_temp*")]):
        manager.save(checkpoint_number=current)
      if not chief:
        tf.io.gfile.rmtree(scratch)
  return metrics


def _log(window, window_steps, current, num_train_steps, seconds, writer):
  """Writes the progress line and the scalars of a window; returns its
  metrics."""
  examples = float(window.pop("examples")[0])
  metrics = _ratios(window)
  metrics["examples_per_second"] = examples / seconds
  writer.write(current, metrics)
  shown = dict(sorted(metrics.items()))
  logger.info(progress_line(current, num_train_steps, shown.pop("loss"),
                            shown.pop("learning_rate"),
                            window_steps / seconds, **shown))
  return metrics


def evaluate(model, dataset, strategy=None, loss_fn=pretraining_loss):
  """Returns the pre-training metrics of `model` over a finite dataset.

  Args:
    model: a `BertPretrainer`.
    dataset: a finite `tf.data.Dataset` of global batches of pre-training
      features (a last, smaller batch is fine: metrics are ratios of sums).
    strategy: a `tf.distribute.Strategy`; default: the current one.
    loss_fn: as in `train`.

  Returns:
    A dict of floats: `masked_lm_accuracy`, `masked_lm_loss` and, with NSP,
    `next_sentence_accuracy`, `next_sentence_loss`, plus `loss` (their sum).

  Example:
    >>> from keras_bert_lab import models, text, training
    >>> held_out = training.PretrainingInput(
    ...     input_files=[str(text.BUNDLED_CORPUS)], max_seq_length=32,
    ...     train_batch_size=4, eval_batches=2).eval_dataset(
    ...         text.BertTokenizer(text.BUNDLED_VOCAB))
    >>> results = evaluate(models.BertPretrainer(
    ...     models.BertEncoder.from_vocab(num_layers=1)), held_out)
    >>> 0 <= results["masked_lm_accuracy"] <= 1
    True
  """
  strategy = strategy or tf.distribute.get_strategy()

  def replica_step(features):
    inputs = {name: features[name] for name in PRETRAINER_INPUTS}
    return loss_fn(features, model(inputs, training=False))[1]

  @tf.function
  def eval_step(features):
    stats = strategy.run(replica_step, args=(features,))
    return _reduce_sum(strategy, stats)

  totals = None
  for features in strategy.experimental_distribute_dataset(dataset):
    sums = eval_step(features)
    totals = sums if totals is None else _add(totals, sums)
  if totals is None:
    raise ValueError("evaluate() got an empty dataset.")
  return _ratios(totals)
