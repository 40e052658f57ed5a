"""Fine-tuning a task end to end: what `python -m keras_bert_lab.finetune` runs.

`finetune(task, data, init_checkpoint, model_dir, TrainConfig(...))` reads
and checks the data (`task.read_data`), builds the model from any
checkpoint, trains it with Keras' `fit` under the shared runtime
(`training.runtime`: strategy, precision, seeds, the progress line, the
resume policy) with BERT's AdamW, warm-up and linear decay, then evaluates,
saves (`save_pretrained` + `task.json`) and writes predictions. Running the
same call again resumes from the last backup, skipping the batches trained
on, so a resumed run ends with the weights of an uninterrupted one.

`model_dir` receives the model in the `save_pretrained` layout, `vocab.txt`,
`eval_results.json` (with the dev split as `{"source", "fraction",
"seed"}`), TensorBoard logs (`logs/train`, `logs/eval`) and, with a
predict source, the family's prediction files. The resume backup
(`backup/`) stays until the model is saved, so a run killed at any moment,
saving included, resumes (after the last chunk, with nothing to train).
Then `finished_run.json` records what defined the run (the task, data and
training settings, the data files' sizes and times) before the backup is
removed: the same call again finds the run finished and returns its
results; any other call trains afresh.
"""

import dataclasses
import json
import logging
import os
import pathlib
import shutil
import warnings
from typing import Optional

from keras_bert_lab.config import read_json, write_atomically, write_json
from keras_bert_lab.tasks import base
from keras_bert_lab.training.distribution import CONNECT_TIMEOUT

logger = logging.getLogger("keras_bert_lab")


@dataclasses.dataclass
class TrainConfig:
  """How to train (`finetune`'s optimisation and runtime flags).

  Attributes:
    learning_rate: peak learning rate.
    num_train_epochs: passes over the training data.
    train_batch_size, eval_batch_size: global batch sizes.
    warmup_proportion: share of the steps of linear warm-up.
    weight_decay: decoupled weight decay (not on LayerNorm or biases).
    dropout: overrides the checkpoint's `hidden_dropout_prob`.
    lower_case: overrides the checkpoint's case.
    mixed_precision: "none", "bf16" or "fp16".
    jit_compile: XLA for training and prediction.
    steps_per_execution: steps per `tf.function` call.
    seed: shuffling, head initialisation and dropout.
    log_every: steps between progress lines.
    checkpoint_every: steps between resume backups (None: each pass).
    bucket_boundaries: length buckets for the training batches; None: each
      batch padded to its longest row (dynamic padding), or to
      `max_seq_length` on TPUs and with `jit_compile`.
    strategy, tpu, connect_timeout, num_cpu_devices: `setup_runtime`'s.
  """

  learning_rate: float = 3e-5
  num_train_epochs: float = 3.0
  train_batch_size: int = 32
  eval_batch_size: int = 32
  warmup_proportion: float = 0.1
  weight_decay: float = 0.01
  dropout: Optional[float] = None
  lower_case: Optional[bool] = None
  mixed_precision: str = "none"
  jit_compile: bool = False
  steps_per_execution: int = 1
  seed: int = 42
  log_every: int = 50
  checkpoint_every: Optional[int] = None
  bucket_boundaries: Optional[list] = None
  strategy: str = "auto"
  tpu: Optional[str] = None
  connect_timeout: int = CONNECT_TIMEOUT
  num_cpu_devices: int = 1


def load_tokenizer(model, lower_case=None):
  """The `BertTokenizer` of a model's own vocabulary.

  Args:
    model: a task model (or encoder) carrying `vocab` and `lower_case`.
    lower_case: override the model's case.

  Returns:
    A `BertTokenizer`.
  """
  from keras_bert_lab.text import BertTokenizer
  return BertTokenizer(model.vocab, lower_case=(
      model.lower_case if lower_case is None else lower_case))


def finetune(task, data, init_checkpoint, model_dir, train=None, build=None,
             settings=None):
  """Fine-tunes `init_checkpoint` on `task` and writes everything to `model_dir`.

  Args:
    task: a `Task` (its config gains the labels and settings learned from
      the data, and is saved as `task.json`).
    data: a `DataConfig`.
    init_checkpoint: any checkpoint folder `from_pretrained` reads.
    model_dir: the output folder (rerun to resume).
    train: a `TrainConfig` (default: its defaults).
    build: what to train instead of `task.build_model(init_checkpoint)`
      (distillation): `(config overrides) -> (model, trainer, references)`,
      called under the strategy's scope; `fit` trains `trainer` (compiled
      with the optimizer; `model` itself when it is), `model` is
      evaluated and saved, and each `{name: model}` of `references` is
      evaluated too, under its name in the results.
    settings: what else defines the run (`build`'s settings, JSON values),
      kept in `finished_run.json`.

  Returns:
    `(results, written)`: the `eval_results.json` dict and the paths of
    the files written (task.json, eval_results.json, predictions).

  Raises:
    ValueError: bad data, settings or checkpoint, naming the flag or file
      and the fix (before training starts); a data error found while
      training (a label in a later batch) is raised too.
    training.DiskFullError: the disk filled while the backup or the model
      was written (the backup before it stays; the same call resumes).

  Example:
    >>> from keras_bert_lab import tasks
    >>> task = tasks.ClassificationTask(tasks.ClassificationConfig(
    ...     text_column="review", label_column="score"))
    >>> results, _ = tasks.finetune(
    ...     task, tasks.DataConfig(train_file="reviews.tsv"),
    ...     "all-MiniLM-L6-v2/", "runs/reviews",
    ...     tasks.TrainConfig(num_train_epochs=1))   # doctest: +SKIP
  """
  import tensorflow as tf
  from keras_bert_lab import text, training
  train = train or TrainConfig()
  model_dir = pathlib.Path(model_dir)
  model_dir.mkdir(parents=True, exist_ok=True)
  run = run_record(task, data, init_checkpoint, train, settings)
  finished = finished_run(model_dir, run)
  if finished is not None:
    return finished
  strategy = training.setup_runtime(
      train.strategy, train.tpu, train.connect_timeout, train.num_cpu_devices,
      global_batch_size=train.train_batch_size,
      mixed_precision=train.mixed_precision, seed=train.seed)
  if train.bucket_boundaries:
    from keras_bert_lab.data import bucket_boundaries
    bucket_boundaries(train.bucket_boundaries, task.config.max_seq_length)
  task_data = task.read_data(data)
  from keras_bert_lab.data import invalid_utf8_bytes
  invalid_utf8_bytes(path for path in (data.train_file, data.eval_file,
                                       data.predict_file)
                     if path and pathlib.Path(path).is_file())
  overrides = ({} if train.dropout is None
               else {"hidden_dropout_prob": train.dropout})
  with strategy.scope():
    if build is not None:
      model, trainer, references = build(overrides)
    else:
      try:
        model = task.build_model(init_checkpoint, **overrides)
      except ValueError as e:
        raise ValueError(f"--init_checkpoint={init_checkpoint}: {e}") from None
      trainer, references = model, {}
  positions = model.config.max_position_embeddings
  if task.config.max_seq_length > positions:
    raise ValueError(
        f"--max_seq_length={task.config.max_seq_length} is longer than "
        f"--init_checkpoint={init_checkpoint} allows "
        f"(max_position_embeddings={positions}); use --max_seq_length="
        f"{positions} or less.")
  if train.lower_case is not None and train.lower_case != model.lower_case:
    logger.warning("--lower_case=%s overrides the checkpoint's "
                   "lower_case=%s.", train.lower_case, model.lower_case)
    model.encoder.lower_case = train.lower_case
  if not model.vocab:
    raise ValueError(f"--init_checkpoint={init_checkpoint} carries no "
                     "vocabulary (vocab.txt); add the one it was trained "
                     "with.")
  text.write_vocab(model.vocab, model_dir / "vocab.txt")
  tokenizer = load_tokenizer(model)
  task.count_train(task_data, tokenizer)
  chunks, steps_per_chunk, total_steps, warmup = training.fit_schedule(
      task_data.num_train, train.train_batch_size, train.num_train_epochs,
      train.warmup_proportion, train.checkpoint_every,
      train.steps_per_execution)
  logger.info("%s: %d training examples, evaluation on %d (%s).", task.name,
              task_data.num_train, task_data.num_eval, task_data.eval_name)
  with strategy.scope():
    optimizer = training.create_optimizer(
        "adamw", train.learning_rate, total_steps, warmup,
        weight_decay=train.weight_decay,
        loss_scale=train.mixed_precision == "fp16")
    # The task's own loss and metrics (`BertTaskModel.compile`).
    trainer.compile(optimizer=optimizer, jit_compile=train.jit_compile,
                    steps_per_execution=train.steps_per_execution)
  stream = task.train_dataset(task_data.train, tokenizer,
                              train.train_batch_size, seed=train.seed)
  if train.bucket_boundaries:
    from keras_bert_lab.data import bucket_by_length
    stream = bucket_by_length(stream.unbatch(), train.train_batch_size,
                              train.bucket_boundaries, drop_remainder=True)
  elif not (train.jit_compile
            or isinstance(strategy, tf.distribute.TPUStrategy)):
    # Dynamic padding: each batch only as long as its longest row. TPUs and
    # XLA keep static shapes (one program; buckets give a few).
    from keras_bert_lab.data import trim_batches
    stream = trim_batches(stream)
  backup, done = training.resume_fit(trainer, model_dir, steps_per_chunk,
                                     chunks)
  stream = stream.skip(done)
  logger.info("%s %s (%d parameters) from %s: %d steps (%d "
              "chunk(s) of %d, each ending in a backup), batch %d, warm-up "
              "%d, peak learning rate %g, %d replica(s).",
              "Fine-tuning" if trainer is model else "Training",
              type(model).__name__, model.count_params(), init_checkpoint,
              total_steps, chunks, steps_per_chunk, train.train_batch_size,
              warmup, train.learning_rate, strategy.num_replicas_in_sync)
  callbacks = [backup, training.ProgressLogger(
      train.log_every, total_steps, model_dir / "logs" / "train")]
  # A full disk while the backup or the model is written: one clear error
  # (the backup before stays, see training.backup).
  disk_full = training.disk_full_errors(
      model_dir, "the resume backup or the fine-tuned model",
      lambda: 2 * training.variable_bytes(
          list(trainer.weights) + list(trainer.optimizer.variables)),
      "it resumes from the last backup")
  try:
    with disk_full, warnings.catch_warnings():
      # Tagging and SQuAD do not use the pooler; Keras says so every step.
      warnings.filterwarnings("ignore", message="Gradients do not exist for "
                              r"variables \['pooler")
      trainer.fit(stream, epochs=chunks, steps_per_epoch=steps_per_chunk,
                  callbacks=callbacks, verbose=2, shuffle=False)
      saved = evaluate_and_save(task, model, tokenizer, task_data, model_dir,
                                train, total_steps, references)
  except tf.errors.InvalidArgumentError as e:
    raise ValueError(base.assert_message(e)) from None
  # Only now: a run killed before this resumes from the finished backup and
  # only evaluates and saves again; one killed after finds it finished.
  record = dict(run=run, train_steps=total_steps, written=[
      os.path.relpath(path, model_dir) for path in saved[1]])
  write_atomically(model_dir / FINISHED_RUN,
                   lambda temporary: write_json(temporary, record))
  shutil.rmtree(backup.backup_dir, ignore_errors=True)
  return saved


FINISHED_RUN = "finished_run.json"


def run_record(task, data, init_checkpoint, train, settings=None):
  """What defines a fine-tuning run, as JSON values (`finished_run.json`).

  Args:
    task: the `Task` (its config and other attributes, before `read_data`).
    data: the `DataConfig`; its local files add their size and time.
    init_checkpoint: the checkpoint's path.
    train: the `TrainConfig`.
    settings: `finetune`'s `settings`.

  Returns:
    A dict of JSON values.

  Example:
    >>> from keras_bert_lab import tasks
    >>> record = run_record(tasks.ClassificationTask(), tasks.DataConfig(),
    ...                     "bert/", TrainConfig())
    >>> record["train"]["learning_rate"], record["data_files"]
    (3e-05, {})
  """
  files = {}
  for name in ("train_file", "eval_file", "predict_file"):
    path = getattr(data, name)
    if path and os.path.isfile(path):
      stat = os.stat(path)
      files[name] = [stat.st_size, stat.st_mtime_ns]
  record = dict(
      family=type(task).__name__,
      task={key: dataclasses.asdict(value) if dataclasses.is_dataclass(value)
            else value for key, value in vars(task).items()},
      data=dataclasses.asdict(data), init_checkpoint=str(init_checkpoint),
      train=dataclasses.asdict(train), settings=settings, data_files=files)
  return json.loads(json.dumps(record, sort_keys=True, default=str))


def finished_run(model_dir, run):
  """`finetune`'s results if `model_dir` holds this run, finished; else None.

  A record of another run (or a damaged one) is removed, with the backup
  of a finished run whose removal was cut short: the call trains afresh.

  Args:
    model_dir: the output folder.
    run: this call's `run_record`.

  Returns:
    `(results, written)` read back, or None.

  Example:
    >>> import tempfile
    >>> finished_run(pathlib.Path(tempfile.mkdtemp()), {}) is None
    True
  """
  path = model_dir / FINISHED_RUN
  if not path.exists():
    return None
  try:
    record = read_json(path)
    if (record["run"] == run and (model_dir / "config.json").exists()
        and (model_dir / "eval_results.json").exists()):
      logger.info("%s already holds this run, finished (%d steps; %s): "
                  "nothing to do. Remove it, or pass another --model_dir, "
                  "to train again.", model_dir, record["train_steps"], path)
      # The backup of a finished run whose removal was cut short.
      shutil.rmtree(model_dir / "backup", ignore_errors=True)
      return (read_json(model_dir / "eval_results.json"),
              [model_dir / name for name in record["written"]])
  except (ValueError, KeyError, TypeError) as e:
    logger.warning("Ignoring %s (%s): training afresh.", path, e)
  path.unlink()
  shutil.rmtree(model_dir / "backup", ignore_errors=True)
  return None


def evaluate_and_save(task, model, tokenizer, task_data, model_dir,
                      train=None, train_steps=0, references=None):
  """Evaluates `model`, saves it and writes the results and predictions.

  The end of `finetune`, and all of a job that changes a model without
  training it (`compression.prune` without recovery).

  Args:
    task: the `Task` (its config is saved as `task.json`).
    model: the task model.
    tokenizer: its `BertTokenizer`.
    task_data: the `TaskData` (`eval` is evaluated, `predict` predicted).
    model_dir: the output folder.
    train: a `TrainConfig` (its `eval_batch_size`).
    train_steps: training steps taken, for the results and TensorBoard.
    references: `{name: model}` evaluated on the same data, under their
      names in the results.

  Returns:
    `(results, written)` as `finetune`.
  """
  from keras_bert_lab import training
  train = train or TrainConfig()
  model_dir = pathlib.Path(model_dir)
  results = dict(task.evaluate(model, tokenizer, task_data.eval,
                               train.eval_batch_size))
  results.update(eval_examples=task_data.num_eval,
                 eval_data=task_data.eval_name,
                 dev_split=task_data.dev_split,
                 train_examples=task_data.num_train, train_steps=train_steps,
                 **task_data.counts)
  for name, reference in (references or {}).items():
    results[name] = dict(task.evaluate(reference, tokenizer, task_data.eval,
                                       train.eval_batch_size))
  training.ScalarWriter(model_dir / "logs" / "eval").write(train_steps, {
      k: v for k, v in results.items()
      if isinstance(v, (int, float)) and not isinstance(v, bool)})
  (model_dir / "eval_results.json").write_text(
      json.dumps(results, indent=2) + "\n", encoding="utf-8")
  task.save(model, model_dir)
  written = [model_dir / "task.json", model_dir / "eval_results.json"]
  if task_data.predict is not None:
    written += task.write_predictions(model, tokenizer, task_data.predict,
                                      model_dir, train.eval_batch_size)
  return results, written
