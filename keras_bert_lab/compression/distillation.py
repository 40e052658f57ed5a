"""Task-specific knowledge distillation of a fine-tuned BERT into a smaller one.

A fine-tuned task folder (the teacher) teaches a student of the same task,
vocabulary and preprocessing on the task's training data: the student
learns from the gold labels and from the teacher's outputs at once
(Hinton et al. 2015), and optionally from its hidden states and attention
scores (TinyBERT, Jiao et al. 2020) or its last block's attention and value
relations (MiniLM, Wang et al. 2020). The student starts from chosen teacher layers (DistilBERT's
initialisation, Sanh et al. 2019), from another checkpoint with the same
vocabulary, or from scratch. `distill` is the whole job, as
`tasks.finetune` is for fine-tuning (the same data, schedule, resume and
outputs: the student folder is an ordinary task folder that `finetune`,
`export`, `from_pretrained` and `transformers` read).

  >>> from keras_bert_lab.compression import distillation
  >>> distillation.uniform_layer_map(3, 6)   # TinyBERT's g(m) for 3 of 6
  [1, 3, 5]

Built on Keras 3's `keras.distillation`: `BertDistiller` is a `Distiller`
(the teacher frozen and run in inference mode, its features taken in one
pass by the Distiller's extractor), Keras' `LogitsDistillation` gives the
soft targets (KL divergence at temperature T, times T^2) and its
`FeatureDistillation` the MSE on a regression teacher's scores.
What Keras' `Distiller` could not do, and is done here:
  * The hard-label term is the student's own task loss
    (`BertTaskModel.compile`): Keras applies one loss per output and drops
    sample weights, so tagging's mean over first wordpieces and SQuAD's
    mean of start and end losses would be wrong.
  * One student pass: Keras' extractor runs the student a second time for
    intermediate features; `BertDistiller.call` returns the outputs and the
    encoder's hidden states of one pass.
  * Layer maps and widths: `FeatureDistillation` compares two layers'
    outputs of the same structure; `HiddenStateDistillation` maps each
    student block to a teacher block, through a learned projection
    (TinyBERT's W_h) when the widths differ.
  * Masks: Keras' losses see only the two outputs; the attention losses
    need the padding mask, so `BertDistiller` passes the features'
    `input_mask` to every loss.
The attention losses read `BertEncoder`'s `attention_scores` and
`attention_values` outputs. Not here yet: an unlabelled transfer file;
general (pre-training) distillation.
"""

import dataclasses
import logging
from typing import Optional

import keras
from keras import ops

from keras_bert_lab.compression.quantization import quantized_layers
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models.encoder import BertEncoder, default_optimizer

logger = logging.getLogger("keras_bert_lab")


# The weights of the distillation losses (`DistillConfig` fields and flags).
LOSS_WEIGHTS = ("logits_weight", "hidden_weight", "attention_weight",
                "minilm_weight")


@dataclasses.dataclass
class DistillConfig:
  """The losses of a distillation (`distill`'s loss flags).

  The loss is `alpha * hard + (1 - alpha) * (logits_weight * soft +
  hidden_weight * hidden + attention_weight * attention + minilm_weight *
  minilm)`, Keras' `Distiller` mix.

  Attributes:
    temperature: T of the soft targets (Hinton; DistilBERT uses 2).
    alpha: weight of the hard-label loss, in [0, 1] (Keras'
      `student_loss_weight`).
    logits_weight: weight of the soft-target KL (times T^2); for
      regression, of the MSE to the teacher's scores.
    hidden_weight: weight of the hidden-state MSE (TinyBERT; 0: off).
    attention_weight: weight of the attention-score MSE (TinyBERT; 0: off).
    minilm_weight: weight of MiniLM's last-block attention and
      value-relation KL (0: off).
    layer_map: teacher block for each student block in the hidden-state
      and attention-score losses; None: the blocks the student was
      initialised from (`distill`'s `layers`), else `uniform_layer_map`.
  """

  temperature: float = 2.0
  alpha: float = 0.5
  logits_weight: float = 1.0
  hidden_weight: float = 0.0
  attention_weight: float = 0.0
  minilm_weight: float = 0.0
  layer_map: Optional[list] = None

  def __post_init__(self):
    if self.temperature <= 0:
      raise ValueError(f"--temperature={self.temperature} must be positive.")
    if not 0 <= self.alpha <= 1:
      raise ValueError(f"--alpha={self.alpha} must be in [0, 1] (the weight "
                       "of the hard-label loss).")
    weights = {"--" + name: getattr(self, name) for name in LOSS_WEIGHTS}
    negative = [f"{flag}={value}" for flag, value in weights.items()
                if value < 0]
    if negative:
      raise ValueError(f"{', '.join(negative)}: loss weights may not be "
                       "negative.")
    if self.alpha < 1 and not any(weights.values()):
      raise ValueError(f"Nothing to distil: {', '.join(weights)} are all 0; "
                       "give one of them a weight, or use finetune "
                       "(--alpha=1 is plain fine-tuning).")


def uniform_layer_map(num_student, num_teacher):
  """TinyBERT's uniform map: student block m learns from teacher block g(m).

  Args:
    num_student: student blocks M.
    num_teacher: teacher blocks N (a multiple of M spreads them evenly).

  Returns:
    0-based teacher indices, `g(m) = (m + 1) * N // M - 1`; the last is the
    teacher's last block.

  Example:
    >>> uniform_layer_map(2, 6)
    [2, 5]
  """
  return [(m + 1) * num_teacher // num_student - 1 for m in range(num_student)]


def check_layers(layers, num_teacher, flag="--student_layers"):
  """Teacher block indices, checked: in range, increasing, no repeats.

  Args:
    layers: 0-based indices.
    num_teacher: the teacher's blocks.
    flag: the flag named in messages.

  Returns:
    The indices as a list of ints.

  Raises:
    ValueError: naming the index and the range.

  Example:
    >>> check_layers(["0", "2", "4"], 6)
    [0, 2, 4]
  """
  try:
    layers = [int(i) for i in layers]
  except ValueError:
    raise ValueError(f"{flag}={','.join(map(str, layers))} must be block "
                     "indices (integers).") from None
  if not layers:
    raise ValueError(f"{flag} is empty; name at least one teacher block.")
  for i in layers:
    if not 0 <= i < num_teacher:
      raise ValueError(
          f"{flag}: block {i} is out of range; the teacher has {num_teacher} "
          f"blocks, 0 to {num_teacher - 1}.")
  if any(b <= a for a, b in zip(layers, layers[1:])):
    raise ValueError(f"{flag}={','.join(map(str, layers))} must increase "
                     "(each teacher block once, in order).")
  return layers


def with_encoder(teacher, encoder):
  """A new task model like `teacher` (head, labels, settings) on `encoder`.

  Args:
    teacher: a task model.
    encoder: the new model's `BertEncoder`.

  Returns:
    A task model of `teacher`'s class, labels and settings, its head fresh.

  Example:
    >>> from keras_bert_lab.models import BertClassifier
    >>> model = BertClassifier(BertEncoder.from_vocab(num_layers=2),
    ...                        labels=["a", "b"])
    >>> with_encoder(model, BertEncoder.from_vocab(num_layers=1)).labels
    ['a', 'b']
  """
  config = teacher.get_config()
  config["encoder"] = encoder
  return type(teacher).from_config(config)


def _check_vocab(teacher, encoder, source):
  if encoder.vocab != teacher.vocab or encoder.lower_case != teacher.lower_case:
    if encoder.vocab is None or len(encoder.vocab) != len(teacher.vocab):
      what = (f"{len(encoder.vocab)} tokens against the teacher's "
              f"{len(teacher.vocab)}" if encoder.vocab else "no vocab.txt")
    elif encoder.vocab != teacher.vocab:
      i = next(i for i, (a, b) in enumerate(zip(encoder.vocab, teacher.vocab))
               if a != b)
      what = (f"id {i} is {encoder.vocab[i]!r} there and "
              f"{teacher.vocab[i]!r} in the teacher's")
    else:
      what = (f"lower_case={encoder.lower_case} against the teacher's "
              f"{teacher.lower_case}")
    raise ValueError(
        f"--student_init={source} does not share the teacher's tokenizer "
        f"({what}); the student must read the teacher's token ids. Use a "
        "checkpoint trained with the teacher's vocab.txt, or "
        "--student_layers / --student_config.")


def build_student(teacher, layers=None, init_checkpoint=None, config=None,
                  **config_overrides):
  """A student task model for `teacher`, from one of three starting points.

  Args:
    teacher: the fine-tuned task model (float, not quantized).
    layers: teacher block indices: the student copies the teacher's
      embeddings, these blocks, pooler and head (DistilBERT's
      initialisation).
    init_checkpoint: a checkpoint folder with the teacher's vocabulary: the
      student's encoder (its head starts at random).
    config: a `BertConfig` or a preset name ("mini", ...): a random student
      of that shape (the teacher's vocabulary).
    **config_overrides: `BertConfig` fields that do not change shapes
      (`hidden_dropout_prob`).

  Returns:
    The student, of the teacher's class, labels and task settings.

  Raises:
    ValueError: not exactly one starting point, a quantized teacher, a
      block out of range, or a checkpoint with another vocabulary.

  Example:
    >>> from keras_bert_lab.models import BertClassifier
    >>> teacher = BertClassifier(BertEncoder.from_vocab(num_layers=4),
    ...                          labels=["neg", "pos"])
    >>> student = build_student(teacher, layers=[1, 3])
    >>> student.encoder.config.num_layers, student.labels
    (2, ['neg', 'pos'])
  """
  given = [name for name, value in (("--student_layers", layers),
                                    ("--student_init", init_checkpoint),
                                    ("--student_config", config))
           if value is not None]
  if len(given) != 1:
    raise ValueError("Give exactly one way to start the student: "
                     "--student_layers, --student_init or --student_config "
                     f"(got {', '.join(given) or 'none'}).")
  if quantized_layers(teacher):
    raise ValueError("The teacher is quantized; distil from the float model "
                     "(quantize the student afterwards).")
  base = teacher.encoder.config
  if layers is not None:
    layers = check_layers(layers, base.num_layers)
    encoder = BertEncoder(
        dataclasses.replace(base.select_layers(layers), **config_overrides),
        vocab=teacher.vocab, lower_case=teacher.lower_case)
    student = with_encoder(teacher, encoder)
    source, target = teacher.encoder, student.encoder
    target.embeddings.set_weights(source.embeddings.get_weights())
    for i, j in enumerate(layers):
      target.transformer_layers[i].set_weights(
          source.transformer_layers[j].get_weights())
    target.pooler.set_weights(source.pooler.get_weights())
    student.head.set_weights(teacher.head.get_weights())
    return student
  if init_checkpoint is not None:
    encoder = BertEncoder.from_pretrained(init_checkpoint, **config_overrides)
    _check_vocab(teacher, encoder, init_checkpoint)
    return with_encoder(teacher, encoder)
  if isinstance(config, str):
    config = BertConfig.preset(config, vocab_size=len(teacher.vocab))
  config = dataclasses.replace(config, vocab_size=len(teacher.vocab),
                               **config_overrides)
  return with_encoder(teacher, BertEncoder(
      config, vocab=teacher.vocab, lower_case=teacher.lower_case))


def _check_layer_map(layer_map, teacher_encoder, student_encoder):
  layer_map = check_layers(layer_map, teacher_encoder.config.num_layers,
                           "--layer_map")
  if len(layer_map) != student_encoder.config.num_layers:
    raise ValueError(
        f"--layer_map={','.join(map(str, layer_map))} names "
        f"{len(layer_map)} teacher blocks for a student of "
        f"{student_encoder.config.num_layers}; give one per student block.")
  return layer_map


def _check_heads(teacher_encoder, student_encoder, pairs, flag):
  for m, n in pairs:
    student_heads = student_encoder.config.layer_heads(m)
    teacher_heads = teacher_encoder.config.layer_heads(n)
    if student_heads != teacher_heads:
      raise ValueError(
          f"{flag} compares attention maps head by head, but student block "
          f"{m} has {student_heads} heads and teacher block {n} has "
          f"{teacher_heads}; set {flag}=0 for this student, or give it the "
          "teacher's heads.")


def _keep(input_mask, seq):
  """The padding mask `[batch, seq]` (float32, 1 for tokens); multiple
  choice's `[batch, choices, seq]` is flattened as its encoder sees it."""
  return ops.reshape(ops.cast(input_mask, "float32"), (-1, seq))


class _EncoderDistillation(keras.distillation.DistillationLoss):
  """A loss on the two encoders' output dicts (the `Distiller` extracts
  the layers named `teacher_layer_name` and `student_layer_name`);
  subclasses write `_loss(teacher_outputs, student_outputs, keep)`."""

  def _set_encoders(self, teacher_encoder, student_encoder):
    self.teacher_layer_name = teacher_encoder.name
    self.student_layer_name = student_encoder.name

  def validate_outputs(self, teacher_outputs, student_outputs):
    # The encoders' outputs differ in depth (fewer student blocks).
    pass

  def compute_loss(self, teacher_outputs, student_outputs, input_mask=None,
                   **kwargs):
    """The loss between the two encoders' outputs.

    Args:
      teacher_outputs, student_outputs: the encoders' output dicts.
      input_mask: the features' padding mask (None: no padding).
      **kwargs: unused.

    Returns:
      A scalar.
    """
    keep = None if input_mask is None else _keep(
        input_mask, ops.shape(teacher_outputs["sequence_output"])[1])
    return self._loss(teacher_outputs, student_outputs, keep)


class HiddenStateDistillation(keras.layers.Layer, _EncoderDistillation):
  """MSE between student blocks' outputs and their teacher blocks' (TinyBERT).

  A `keras.distillation.DistillationLoss` that is also a layer, so the
  projection it learns when the widths differ (TinyBERT's `W_h`) trains
  with the student.

  Args:
    teacher_encoder, student_encoder: the two `BertEncoder`s (their names
      are the layers the `Distiller` extracts).
    layer_map: teacher block index for each student block.
    **kwargs: `keras.layers.Layer` arguments.

  Example:
    >>> teacher = BertEncoder.from_vocab(num_layers=4)
    >>> student = BertEncoder.from_vocab(num_layers=2, hidden_size=64,
    ...                                  num_heads=2)
    >>> loss = HiddenStateDistillation(teacher, student, [1, 3])
    >>> tuple(loss.projection.kernel.shape)
    (64, 128)
  """

  def __init__(self, teacher_encoder, student_encoder, layer_map, **kwargs):
    super().__init__(**kwargs)
    self.layer_map = _check_layer_map(layer_map, teacher_encoder,
                                      student_encoder)
    self._set_encoders(teacher_encoder, student_encoder)
    width = student_encoder.config.hidden_size
    self.projection = None
    if width != teacher_encoder.config.hidden_size:
      self.projection = keras.layers.Dense(
          teacher_encoder.config.hidden_size, name="projection",
          dtype="float32")
      self.projection.build((None, None, width))
    self.built = True

  def _loss(self, teacher_outputs, student_outputs, keep):
    """The mean over mapped blocks of the mean squared difference."""
    losses = []
    for m, n in enumerate(self.layer_map):
      hidden = ops.cast(student_outputs["encoder_outputs"][m], "float32")
      if self.projection is not None:
        hidden = self.projection(hidden)
      target = ops.cast(teacher_outputs["encoder_outputs"][n], "float32")
      losses.append(ops.mean(ops.square(hidden - target)))
    return ops.mean(ops.stack(losses))


class AttentionScoreDistillation(_EncoderDistillation):
  """MSE between student and teacher attention scores (TinyBERT's L_attn).

  For each student block m and its teacher block n, the mean over heads
  and positions of `(S_m - T_n)^2`, where S and T are the unnormalised
  scores `q k^T / sqrt(d)` and entries at padded keys count as 0, as in
  TinyBERT's code (which zeroes the masked scores); the mean over blocks.
  Mapped blocks must have the same number of heads.

  Args:
    teacher_encoder, student_encoder: the two `BertEncoder`s.
    layer_map: teacher block index for each student block.

  Example:
    >>> teacher = BertEncoder.from_vocab(num_layers=4)
    >>> student = BertEncoder.from_vocab(num_layers=2)
    >>> AttentionScoreDistillation(teacher, student, [1, 3]).layer_map
    [1, 3]
  """

  def __init__(self, teacher_encoder, student_encoder, layer_map):
    self.layer_map = _check_layer_map(layer_map, teacher_encoder,
                                      student_encoder)
    _check_heads(teacher_encoder, student_encoder, enumerate(self.layer_map),
                 "--attention_weight")
    self._set_encoders(teacher_encoder, student_encoder)

  def _loss(self, teacher_outputs, student_outputs, keep):
    """The mean over mapped blocks of the masked score MSE."""
    losses = []
    for m, n in enumerate(self.layer_map):
      difference = (student_outputs["attention_scores"][m]
                    - teacher_outputs["attention_scores"][n])
      if keep is not None:
        difference = difference * keep[:, None, None, :]
      losses.append(ops.mean(ops.square(difference)))
    return ops.mean(ops.stack(losses))


def _relation_kl(teacher_logits, student_logits, keep):
  """Mean over heads and real query rows of KL(softmax(t) || softmax(s)),
  padded keys masked out; logits `[batch, heads, seq, seq]`."""
  if keep is None:
    keep = ops.ones_like(teacher_logits[:, 0, 0, :])
  pad = (1.0 - keep[:, None, None, :]) * -1e9
  log_p = ops.log_softmax(teacher_logits + pad, axis=-1)
  log_q = ops.log_softmax(student_logits + pad, axis=-1)
  kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)   # [b, h, seq]
  rows = keep[:, None, :] * ops.ones_like(kl)
  return ops.sum(kl * rows) / ops.maximum(ops.sum(rows), 1.0)   # 0 when empty


class MiniLMDistillation(_EncoderDistillation):
  """MiniLM's deep self-attention distillation (Wang et al. 2020).

  On the last block of each model: the KL from the teacher's attention
  distributions to the student's (L_AT), plus the KL between their value
  relations `softmax(V V^T / sqrt(d))` (L_VR), each averaged over heads
  and real tokens. The value relation is seq x seq whatever the widths, so
  the student may be narrower than the teacher; it must have as many
  heads in its last block.

  Args:
    teacher_encoder, student_encoder: the two `BertEncoder`s.

  Example:
    >>> teacher = BertEncoder.from_vocab(num_layers=4)
    >>> student = BertEncoder.from_vocab(num_layers=2, hidden_size=64)
    >>> MiniLMDistillation(teacher, student).student_layer_name
    'bert_encoder'
  """

  def __init__(self, teacher_encoder, student_encoder):
    _check_heads(teacher_encoder, student_encoder,
                 [(student_encoder.config.num_layers - 1,
                   teacher_encoder.config.num_layers - 1)], "--minilm_weight")
    self._set_encoders(teacher_encoder, student_encoder)

  def _loss(self, teacher_outputs, student_outputs, keep):
    """L_AT + L_VR on the last blocks."""
    def value_relation(values):
      values = ops.cast(values, "float32")
      return ops.matmul(values, ops.transpose(values, (0, 1, 3, 2))) / (
          float(values.shape[-1]) ** 0.5)

    attention = _relation_kl(teacher_outputs["attention_scores"][-1],
                             student_outputs["attention_scores"][-1], keep)
    values = _relation_kl(
        value_relation(teacher_outputs["attention_values"][-1]),
        value_relation(student_outputs["attention_values"][-1]), keep)
    return attention + values


class BertDistiller(keras.distillation.Distiller):
  """Trains a student task model on its task loss and a teacher's outputs.

  `fit` trains the student (`distiller.student`); evaluate and save the
  student itself. The loss is `DistillConfig`'s mix; the logs show it as
  `loss`, with `student_loss` (hard labels) and `distillation_loss`.

  Args:
    teacher: the fine-tuned task model (frozen here).
    student: a task model of the same task and outputs (`build_student`).
    config: a `DistillConfig`.
    **kwargs: `keras.Model` arguments.

  Call args:
    The task's features.

  Returns:
    `{"final_output": the student's outputs}`, plus the student encoder's
    outputs under its name when a loss needs them.

  Example:
    >>> from keras_bert_lab.models import BertClassifier
    >>> teacher = BertClassifier(BertEncoder.from_vocab(num_layers=4),
    ...                          labels=["neg", "pos"])
    >>> distiller = BertDistiller(teacher, build_student(teacher, [1, 3]),
    ...                           DistillConfig(hidden_weight=1.0))
    >>> distiller.compile()
    >>> ids = ops.ones([2, 8], "int32")
    >>> features = {"input_word_ids": ids, "input_mask": ids,
    ...             "input_type_ids": ids * 0}
    >>> loss = distiller.compute_loss(features, ops.array([0, 1]))
    >>> float(loss) > 0
    True
  """

  def __init__(self, teacher, student, config=None, **kwargs):
    config = config or DistillConfig()
    if (teacher.task, teacher.num_outputs) != (student.task,
                                               student.num_outputs):
      raise ValueError(
          f"The student ({student.task}, {student.num_outputs} outputs) does "
          f"not match the teacher ({teacher.task}, {teacher.num_outputs}).")
    losses, weights = [], []
    if config.logits_weight:
      if teacher.task == "regression":
        losses.append(keras.distillation.FeatureDistillation(loss="mse"))
        weights.append(config.logits_weight)
      else:
        # An instance: the name "kl_divergence" resolves to Keras' plain
        # function, which LogitsDistillation applies to the logits
        # themselves, not to the softmax at T.
        kl = keras.tree.map_structure(lambda _: keras.losses.KLDivergence(),
                                      teacher.output)
        losses.append(keras.distillation.LogitsDistillation(
            config.temperature, loss=kl))
        # A mean over outputs (SQuAD's start and end), as the task loss.
        weights.append(config.logits_weight
                       / len(keras.tree.flatten(teacher.output)))
    layer_map = config.layer_map or uniform_layer_map(
        student.encoder.config.num_layers, teacher.encoder.config.num_layers)
    if config.hidden_weight:
      losses.append(HiddenStateDistillation(teacher.encoder, student.encoder,
                                            layer_map, name="hidden_states"))
      weights.append(config.hidden_weight)
    if config.attention_weight:
      losses.append(AttentionScoreDistillation(teacher.encoder,
                                               student.encoder, layer_map))
      weights.append(config.attention_weight)
    if config.minilm_weight:
      losses.append(MiniLMDistillation(teacher.encoder, student.encoder))
      weights.append(config.minilm_weight)
    kwargs.setdefault("name", "bert_distiller")
    super().__init__(teacher, student, losses or
                     [keras.distillation.FeatureDistillation(loss="mse")],
                     distillation_loss_weights=weights or [0.0],
                     student_loss_weight=float(config.alpha), **kwargs)
    self.distill_config = config
    self.built = True   # the teacher, student and projection are

  def compile(self, optimizer="auto", **kwargs):
    """Compiles the student with its task loss and this model for `fit`.

    Args:
      optimizer: the student's optimizer; `"auto"`: BERT's AdamW at 5e-5.
      **kwargs: `keras.Model.compile` arguments (`jit_compile`,
        `steps_per_execution`); the loss is the distiller's own.
    """
    if optimizer == "auto":
      optimizer = default_optimizer(5e-5)
    self.student.compile(optimizer=optimizer)   # the hard-label loss
    keras.Model.compile(self, optimizer=optimizer, **kwargs)

  def _create_feature_extractor(self, model, layer_names):
    # Keras takes `layer.output`, the output of a layer's first call; a
    # nested model's (the encoder's) is its own inner graph, so the
    # extractor would hold two sets of inputs. Its call in `model` is its
    # last node.
    if not layer_names:
      return None
    outputs = {"final_output": model.output}
    for name in layer_names:
      layer = model.get_layer(name)
      outputs[name] = keras.tree.pack_sequence_as(
          layer.output, layer._inbound_nodes[-1].output_tensors)
    return keras.Model(model.inputs, outputs, name=f"{model.name}_features")

  def call(self, inputs, training=None):
    if self._student_feature_extractor is None:
      return {"final_output": self.student(inputs, training=training)}
    return self._student_feature_extractor(inputs, training=training)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    if y_pred is None:
      y_pred = self(x, training=training)
    hard = 0.0
    if self.student_loss_weight > 0 and y is not None:
      hard = self.student.compute_loss(
          x=x, y=y, y_pred=y_pred["final_output"],
          sample_weight=sample_weight, training=training)
    soft = 0.0
    if self.student_loss_weight < 1:
      teacher = self._extract_all_teacher_features(x)
      for loss, weight in zip(self.distillation_losses,
                              self.distillation_loss_weights):
        if not weight:
          continue
        value = loss.compute_loss(
            teacher[getattr(loss, "teacher_layer_name", None)
                    or "final_output"],
            y_pred[getattr(loss, "student_layer_name", None)
                   or "final_output"], input_mask=x["input_mask"])
        soft = ops.add(soft, ops.multiply(weight, value))
    alpha = self.student_loss_weight
    total = ops.add(ops.multiply(alpha, hard),
                    ops.multiply(1.0 - alpha, soft))
    self.student_loss_tracker.update_state(hard)
    self.distillation_loss_tracker.update_state(soft)
    self.total_loss_tracker.update_state(total)
    return total


def teacher_task(folder, data, flag, task_settings):
  """The task of a fine-tuned folder, set up for new data.

  Args:
    folder: the fine-tuned task folder.
    data: a `tasks.DataConfig`; it gets the folder's labels.
    flag: the flag that named the folder, for messages.
    task_settings: task config fields to change for this data (column
      names); the preprocessing stays the folder's.

  Returns:
    `(task, data)`.

  Raises:
    ValueError: the folder is not a task model, or an unknown setting.

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertClassifier
    >>> folder = os.path.join(tempfile.mkdtemp(), "reviews")
    >>> tasks.ClassificationTask(tasks.ClassificationConfig(
    ...     labels=["neg", "pos"])).save(BertClassifier(
    ...         BertEncoder.from_vocab(num_layers=1), labels=["neg", "pos"]),
    ...     folder)
    >>> task, data = teacher_task(folder, tasks.DataConfig(), "--teacher",
    ...                           {"text_column": "review"})
    >>> task.config.text_column, data.labels
    ('review', ['neg', 'pos'])
  """
  from keras_bert_lab import tasks
  task_config = tasks.read_config(folder)
  if task_config is None:
    raise ValueError(f"{flag}={folder} is not a fine-tuned task model (no "
                     "task.json or HF task head); give a finetune "
                     "model_dir.")
  try:
    task_config = dataclasses.replace(task_config, **task_settings)
  except TypeError as e:
    raise ValueError(f"{type(task_config).__name__}: {e}") from None
  labels = getattr(task_config, "labels", None)
  if labels and task_config.task != "regression":
    data = dataclasses.replace(data, labels=list(labels))
  return tasks.task_for_config(task_config), data


def distill(teacher_dir, data, model_dir, train=None, layers=None,
            init_checkpoint=None, student_config=None, config=None,
            **task_settings):
  """Distils the task model in `teacher_dir` into a student in `model_dir`.

  Reads the teacher's `task.json` (task, labels, preprocessing), reads and
  checks `data` with it, builds the student (`build_student`), trains it
  with `BertDistiller` under `tasks.finetune`'s schedule, runtime and
  resume (rerun the same call to resume), and writes what `finetune`
  writes; `eval_results.json` also holds the teacher's metrics on the
  same evaluation data (`"teacher"`).

  Args:
    teacher_dir: a fine-tuned task folder (`finetune`'s model_dir, or an HF
      `BertFor...` folder).
    data: a `tasks.DataConfig` (its labels are the teacher's).
    model_dir: the student's folder.
    train: a `tasks.TrainConfig`.
    layers, init_checkpoint, student_config: `build_student`'s start.
    config: a `DistillConfig`.
    **task_settings: task config fields to change for this data (e.g.
      `text_column="review"`); the preprocessing stays the teacher's.

  Returns:
    `tasks.finetune`'s `(results, written)`.

  Raises:
    ValueError: a folder that is not a task model, a bad student or data
      (naming the flag and the fix), before training starts.

  Example:
    >>> from keras_bert_lab import tasks
    >>> results, _ = distill(
    ...     "runs/reviews", tasks.DataConfig(train_file="reviews.tsv"),
    ...     "runs/reviews-3l", layers=[0, 2, 4])   # doctest: +SKIP
  """
  from keras_bert_lab import tasks
  from keras_bert_lab.models.task_models import load_task_model
  task, data = teacher_task(teacher_dir, data, "--teacher", task_settings)
  config = config or DistillConfig()
  if config.layer_map is None and layers is not None:
    config = dataclasses.replace(config, layer_map=list(layers))

  def build(overrides):
    teacher, _ = load_task_model(teacher_dir)
    student = build_student(teacher, layers, init_checkpoint, student_config,
                            **overrides)
    logger.info("Distilling %s (%d blocks, %d parameters) into a student of "
                "%d blocks, %d parameters.", teacher_dir,
                teacher.encoder.config.num_layers, teacher.count_params(),
                student.encoder.config.num_layers, student.count_params())
    return student, BertDistiller(teacher, student, config), {
        "teacher": teacher}

  return tasks.finetune(task, data, teacher_dir, model_dir, train,
                        build=build, settings=dict(
                            distill=dataclasses.asdict(config), layers=layers,
                            init_checkpoint=init_checkpoint,
                            student_config=student_config))
