"""Structured pruning of a fine-tuned BERT: whole attention heads and
feed-forward neurons, removed from the weights.

Importance is the first-order estimate of Michel et al. 2019 ("Are Sixteen
Heads Really Better than One?") and Kwon et al. 2022 ("A Fast Post-Training
Pruning Framework for Transformers"): the gradient of the task loss with
respect to a mask of ones on each head's output and on each neuron, summed
in absolute value over training batches, normalised per layer (Michel's
l2 norm) and ranked across the layers together. A mask on head h scales
rows `h` of the attention output projection W_o (and a neuron's mask its
row of the feed-forward output kernel), so `dL/dmask_h = sum(W_o[h] *
dL/dW_o[h])`: the scores come from ordinary weight gradients of the
unchanged model, with no mask inputs threaded through it.

The pruned model is physically smaller: `BertConfig.pruned_heads` (HF's
convention: heads numbered as in the unpruned layer) and
`intermediate_sizes` give every block its own shape, and the folder is an
ordinary task folder (`from_pretrained`, `export`, and `transformers`,
which loads the zero-padded full-width weights as the same function).
`prune` is the whole job, with an optional short distillation from the
unpruned model to recover accuracy (`BertDistiller`).

Why by hand: `tensorflow-model-optimization` needs tf_keras and prunes
unstructured weights (no speed without sparse kernels); Keras 3 has no
pruning; HF's `prune_heads` is PyTorch only (and gone in transformers 5).

  >>> from keras_bert_lab.compression import pruning
  >>> pruning.PruneConfig(heads=0.5, ffn=0.25).layers is None
  True
"""

import dataclasses
import json
import logging
import math
import os
import pathlib
from typing import Optional

import keras
import numpy as np

from keras_bert_lab.checkpoints.names import (block_slices, get_weights,
                                              head_columns, set_weights)
from keras_bert_lab.compression.distillation import (BertDistiller,
                                                     DistillConfig,
                                                     teacher_task,
                                                     with_encoder)
from keras_bert_lab.compression.quantization import quantized_layers
from keras_bert_lab.config import read_json
from keras_bert_lab.models.encoder import BertEncoder

logger = logging.getLogger("keras_bert_lab")

PRUNING_FILE = "pruning.json"
FORMAT_VERSION = 1


@dataclasses.dataclass
class PruneConfig:
  """What to prune (`prune`'s flags).

  Attributes:
    heads: share of the attention heads to remove, in [0, 1), counted over
      the prunable layers; every layer keeps at least one head.
    ffn: share of the feed-forward neurons to remove, in [0, 1); every
      layer keeps at least one.
    layers: the blocks that may lose heads and neurons; None: all.
    importance_examples: training examples whose gradients rank the heads
      and neurons (Kwon et al. use 2,000).
    recover_epochs: passes of distillation from the unpruned model after
      pruning (0: none).
    distill: the losses of that distillation.
  """

  heads: float = 0.0
  ffn: float = 0.0
  layers: Optional[list] = None
  importance_examples: int = 2048
  recover_epochs: float = 0.0
  distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)

  def __post_init__(self):
    for flag in ("heads", "ffn"):
      value = getattr(self, flag)
      if not 0 <= value < 1:
        raise ValueError(
            f"--{flag}={value} must be a share in [0, 1) of the "
            f"{'attention heads' if flag == 'heads' else 'feed-forward neurons'}"
            " to remove; every layer keeps at least one.")
    if not (self.heads or self.ffn):
      raise ValueError("Nothing to prune: give --heads or --ffn a share "
                       "above 0, e.g. --heads=0.5.")
    if self.importance_examples < 1:
      raise ValueError(f"--importance_examples={self.importance_examples} "
                       "must be at least 1.")
    if self.recover_epochs < 0:
      raise ValueError(f"--recover_epochs={self.recover_epochs} may not be "
                       "negative.")


def _check_layers(layers, num_layers):
  if layers is None:
    return list(range(num_layers))
  try:
    layers = sorted({int(i) for i in layers})
  except (TypeError, ValueError):
    raise ValueError(f"--layers={','.join(map(str, layers))} must be block "
                     "indices, e.g. 0,1,2.") from None
  for i in layers:
    if not 0 <= i < num_layers:
      raise ValueError(f"--layers: block {i} is out of range; the model has "
                       f"{num_layers} blocks, 0 to {num_layers - 1}.")
  return layers


def check_prune_config(config, prune_config):
  """Raises before any compute when `prune_config` cannot apply to `config`.

  Args:
    config: the model's `BertConfig`.
    prune_config: a `PruneConfig`.

  Returns:
    The prunable block indices.

  Raises:
    ValueError: a block out of range, or more heads or neurons to remove
      than the layers can give while keeping one each.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> check_prune_config(BertConfig.preset("tiny"),
    ...                    PruneConfig(heads=0.5, layers=[1]))
    [1]
  """
  layers = _check_layers(prune_config.layers, config.num_layers)
  for flag, share, sizes in (
      ("heads", prune_config.heads, [config.layer_heads(i) for i in layers]),
      ("ffn", prune_config.ffn,
       [config.layer_intermediate_size(i) for i in layers])):
    remove = round(share * sum(sizes))
    if remove > sum(sizes) - len(sizes):
      raise ValueError(
          f"--{flag}={share} asks to remove {remove} of the {sum(sizes)} "
          f"{'heads' if flag == 'heads' else 'neurons'} in blocks "
          f"{layers} (per block: {sizes}), but each block keeps at least "
          f"one; the most is --{flag}="
          f"{(sum(sizes) - len(sizes)) / sum(sizes):.3f}.")
  return layers


def importance(model, dataset, num_batches):
  """First-order importance of every head and feed-forward neuron.

  Args:
    model: a compiled task model (its `compute_loss` is the task loss).
    dataset: batches `(features, labels)` of training data.
    num_batches: how many batches to sum over.

  Returns:
    `(heads, neurons)`: per block, numpy arrays of `|dL/dmask|` summed over
    the batches, one value per remaining head and per neuron.

  Example:
    >>> import tensorflow as tf
    >>> from keras_bert_lab.models import BertClassifier
    >>> model = BertClassifier(BertEncoder.from_vocab(num_layers=1),
    ...                        num_classes=2)
    >>> model.compile()
    >>> ids = tf.ones([4, 6], tf.int32)
    >>> batches = tf.data.Dataset.from_tensors(({"input_word_ids": ids,
    ...     "input_mask": ids, "input_type_ids": ids * 0},
    ...     tf.constant([0, 1, 0, 1])))
    >>> heads, neurons = importance(model, batches, 1)
    >>> heads[0].shape, neurons[0].shape
    ((2,), (512,))
  """
  import tensorflow as tf
  blocks = model.encoder.transformer_layers
  kernels = ([b.attention.output_dense.kernel for b in blocks]
             + [b.output_dense.kernel for b in blocks])

  @tf.function
  def scores(batch):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    with tf.GradientTape() as tape:
      y_pred = model(x, training=False)
      loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
    grads = tape.gradient(loss, kernels)
    rows = [tf.reduce_sum(g * k, axis=1) for g, k in zip(grads, kernels)]
    heads = [tf.abs(tf.reduce_sum(tf.reshape(r, [b.attention.num_heads, -1]),
                                  axis=1))
             for r, b in zip(rows, blocks)]
    return heads, [tf.abs(r) for r in rows[len(blocks):]]

  heads = [np.zeros(b.attention.num_heads) for b in blocks]
  neurons = [np.zeros(b.intermediate_size) for b in blocks]
  for step, batch in enumerate(dataset.take(num_batches)):
    head_scores, neuron_scores = scores(batch)
    for total, value in zip(heads + neurons, head_scores + neuron_scores):
      total += value.numpy()
    if (step + 1) % 10 == 0 or step + 1 == num_batches:
      logger.info("Importance: %d/%d batches.", step + 1, num_batches)
  return heads, neurons


def _lowest(scores, layers, remove):
  """Per block, the indices to remove: the `remove` lowest layer-normalised
  scores among `layers`, keeping one per block."""
  ranked = []
  for i in layers:
    norm = np.linalg.norm(scores[i]) or 1.0
    ranked += [(score / norm, i, j) for j, score in enumerate(scores[i])]
  ranked.sort()
  removed = {i: [] for i in layers}
  for _, i, j in ranked:
    if remove == 0:
      break
    if len(removed[i]) < len(scores[i]) - 1:
      removed[i].append(j)
      remove -= 1
  return {i: sorted(js) for i, js in removed.items() if js}


def select(config, prune_config, head_scores, neuron_scores):
  """The heads and neurons to remove, ranked across the prunable blocks.

  Args:
    config: the model's `BertConfig`.
    prune_config: a `PruneConfig`.
    head_scores, neuron_scores: `importance`'s output.

  Returns:
    `(heads, neurons)`: `{block: indices to remove}`, indices among the
    block's current heads and neurons.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> config = BertConfig(hidden_size=8, num_layers=2, num_heads=4,
    ...                     intermediate_size=4)
    >>> heads, neurons = select(config, PruneConfig(heads=0.5),
    ...     [np.array([4., 3, 2, 1]), np.array([1., 1, 1, 9])],
    ...     [np.ones(4), np.ones(4)])
    >>> heads, neurons
    ({0: [3], 1: [0, 1, 2]}, {})
  """
  layers = check_prune_config(config, prune_config)
  num_heads = sum(config.layer_heads(i) for i in layers)
  num_neurons = sum(config.layer_intermediate_size(i) for i in layers)
  return (_lowest(head_scores, layers, round(prune_config.heads * num_heads)),
          _lowest(neuron_scores, layers,
                  round(prune_config.ffn * num_neurons)))


def prune_model(model, heads, neurons):
  """A copy of `model` without the given heads and neurons.

  Args:
    model: a float task model (or its encoder's task model).
    heads: `{block: current head indices to remove}`.
    neurons: `{block: feed-forward neuron indices to remove}`.

  Returns:
    A new task model of the same class, labels and settings whose config
    records the pruning (`pruned_heads` in the unpruned numbering,
    `intermediate_sizes`); on the kept units it computes what `model` does
    with the removed units masked to zero.

  Raises:
    ValueError: a quantized model, or an index out of range.

  Example:
    >>> from keras_bert_lab.models import BertClassifier
    >>> model = BertClassifier(BertEncoder.from_vocab(num_layers=2),
    ...                        num_classes=2)
    >>> small = prune_model(model, {1: [0]}, {0: list(range(100))})
    >>> small.config.pruned_heads, small.config.intermediate_sizes
    ({1: (0,)}, (412, 512))
  """
  if quantized_layers(model):
    raise ValueError("The model is quantized; prune the float model and "
                     "quantize the pruned one.")
  config = model.encoder.config
  head_size = config.hidden_size // config.num_heads
  weights = get_weights(model)
  pruned_heads = dict(config.pruned_heads)
  sizes = [config.layer_intermediate_size(i) for i in range(config.num_layers)]
  for i in range(config.num_layers):
    current = [h for h in range(config.num_heads)
               if h not in config.pruned_heads.get(i, ())]
    drop_heads, drop_neurons = set(heads.get(i, ())), set(neurons.get(i, ()))
    if (drop_heads - set(range(len(current)))
        or drop_neurons - set(range(sizes[i]))):
      raise ValueError(f"Block {i} has {len(current)} heads and {sizes[i]} "
                       "neurons; an index to remove is out of range.")
    columns = neurons_kept = None
    if drop_heads:
      kept = [j for j in range(len(current)) if j not in drop_heads]
      columns = head_columns(kept, head_size)
      pruned_heads[i] = sorted(set(config.pruned_heads.get(i, ()))
                               | {current[j] for j in drop_heads})
    if drop_neurons:
      neurons_kept = np.array([j for j in range(sizes[i])
                               if j not in drop_neurons])
      sizes[i] = len(neurons_kept)
    for name, (axis, kept) in block_slices(i, columns, neurons_kept).items():
      weights[name] = np.take(weights[name], kept, axis=axis)
  pruned = dataclasses.replace(config, pruned_heads=pruned_heads,
                               intermediate_sizes=sizes)
  small = with_encoder(model, BertEncoder(pruned, vocab=model.vocab,
                                          lower_case=model.lower_case))
  set_weights(small, weights, "the pruned weights")
  return small


def _read_plan(path, expected):
  plan = read_json(path)
  asked = {key: plan.get(key) for key in expected}
  if asked != expected:
    raise ValueError(
        f"{path} was written by another pruning ({asked}, now {expected}); "
        "rerun with the same flags to resume, or give a new --model_dir.")
  to_ints = lambda d: {int(k): v for k, v in d.items()}  # noqa: E731
  return to_ints(plan["removed_heads"]), to_ints(plan["removed_neurons"])


def prune(model_in, data, model_dir, config, train=None, **task_settings):
  """Prunes the task model in `model_in` and writes it to `model_dir`.

  Reads the model's `task.json` and `data` as `distill` does, ranks heads
  and neurons on `config.importance_examples` training examples
  (`importance`, `select`), writes the plan to `model_dir/pruning.json`,
  and writes the pruned task folder with `eval_results.json` (the pruned
  model's metrics and, under `"unpruned"`, the original's). With
  `config.recover_epochs`, the pruned model is first distilled from the
  unpruned one (`BertDistiller`, `tasks.finetune`'s schedule and resume:
  rerun the same call to resume; the plan is read back, not recomputed).

  Args:
    model_in: a fine-tuned task folder.
    data: a `tasks.DataConfig` (its labels are the model's).
    model_dir: the pruned model's folder.
    config: a `PruneConfig`.
    train: a `tasks.TrainConfig` for the batch sizes and the recovery
      (`num_train_epochs` is replaced by `config.recover_epochs`).
    **task_settings: task config fields for this data (`text_column`...).

  Returns:
    `(results, written)` as `tasks.finetune`.

  Raises:
    ValueError: not a task folder, a quantized model, shares or blocks
      that do not fit the model, bad data, or a `pruning.json` of other
      settings in `model_dir`; all before compute.

  Example:
    >>> from keras_bert_lab import tasks
    >>> results, _ = prune(
    ...     "runs/reviews", tasks.DataConfig(train_file="reviews.tsv"),
    ...     "runs/reviews-pruned", PruneConfig(heads=0.5, ffn=0.5,
    ...                                        recover_epochs=1))
    ...     # doctest: +SKIP
  """
  from keras_bert_lab import tasks
  from keras_bert_lab.models.task_models import load_task_model
  task, data = teacher_task(model_in, data, "--model", task_settings)
  train = train or tasks.TrainConfig()
  model_dir = pathlib.Path(model_dir)
  plan_file = model_dir / PRUNING_FILE
  expected = {"model": os.path.abspath(model_in), "heads": config.heads,
              "ffn": config.ffn, "layers": config.layers,
              "importance_examples": config.importance_examples}
  unpruned, _ = load_task_model(model_in)
  if quantized_layers(unpruned):
    raise ValueError(f"--model={model_in} is quantized; prune the float "
                     "model and quantize the pruned one.")
  check_prune_config(unpruned.encoder.config, config)
  task_data = task.read_data(data)
  tokenizer = tasks.load_tokenizer(unpruned)
  if plan_file.exists():
    removed_heads, removed_neurons = _read_plan(plan_file, expected)
    logger.info("Resuming the pruning in %s.", plan_file)
  else:
    task.count_train(task_data, tokenizer)
    batch = train.train_batch_size
    num_batches = math.ceil(min(config.importance_examples,
                                task_data.num_train) / batch)
    logger.info("Ranking heads and neurons of %s on %d batches of %d "
                "training examples.", model_in, num_batches, batch)
    unpruned.compile()
    stream = task.train_dataset(task_data.train, tokenizer, batch,
                                seed=train.seed)
    removed_heads, removed_neurons = select(
        unpruned.encoder.config, config,
        *importance(unpruned, stream, num_batches))
  small = prune_model(unpruned, removed_heads, removed_neurons)
  logger.info("Pruning %s: %d heads and %d neurons removed, %d of %d "
              "parameters left.", model_in,
              sum(map(len, removed_heads.values())),
              sum(map(len, removed_neurons.values())), small.count_params(),
              unpruned.count_params())
  if not plan_file.exists():
    model_dir.mkdir(parents=True, exist_ok=True)
    plan = dict(expected, format_version=FORMAT_VERSION,
                removed_heads=removed_heads, removed_neurons=removed_neurons,
                pruned_heads={str(k): list(v) for k, v in
                              small.config.pruned_heads.items()},
                intermediate_sizes=list(
                    small.config.intermediate_sizes or []),
                parameters=[unpruned.count_params(), small.count_params()])
    plan_file.write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
  if not config.recover_epochs:
    results, written = tasks.evaluate_and_save(
        task, small, tokenizer, task_data, model_dir, train,
        references={"unpruned": unpruned})
    return results, written + [plan_file]

  def build(overrides):
    teacher, _ = load_task_model(model_in)
    student = prune_model(load_task_model(model_in, **overrides)[0],
                          removed_heads, removed_neurons)
    return student, BertDistiller(teacher, student, config.distill), {
        "unpruned": teacher}

  results, written = tasks.finetune(
      task, data, model_in, model_dir,
      dataclasses.replace(train, num_train_epochs=config.recover_epochs),
      build=build, settings=dict(prune=dataclasses.asdict(config)))
  return results, written + [plan_file]
