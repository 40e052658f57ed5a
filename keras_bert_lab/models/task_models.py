"""Fine-tuning models: BERT encoder + a task head, saved with their labels.

`BertClassifier` (sentence / pair classification and regression),
`BertTokenClassifier` (a tag per wordpiece), `BertSpanLabeler` (SQuAD start
and end logits) and `BertMultipleChoice` (one score per choice, SWAG). Each is
a functional `keras.Model` over the three Model Garden features, with its
logits in float32 so it trains under mixed precision and compiles with XLA.

Heads keep Google's names and `[num_outputs, H]` layout (run_classifier.py's
`output_weights`/`output_bias`, run_squad.py's `cls/squad/output_*`), which are
also Hugging Face's `classifier.*` / `qa_outputs.*` tensors, so a
`save_pretrained` folder loads into `transformers.BertFor...` classes and HF's
fine-tuned folders load here. keras-hub's `BertTextClassifier` has no token,
span or multiple-choice model, puts its own names on the head and computes it
in the compute dtype, and Model Garden's task models need tf-models-official;
neither reads HF task folders, so the heads and their loading are written here.

A folder written by `save_pretrained` holds `config.json` (with `id2label`,
`label2id`, `problem_type` and `architectures` as HF writes them),
`model.safetensors`, `vocab.txt`, `tokenizer_config.json`,
`keras_bert_lab.json`, and `task.json`: the task, the label list, the case and
whatever preprocessing settings the trainer passed (`max_seq_length`, text
columns, SQuAD's stride, ...), so that `load_task_model` and the export need
nothing else.
"""

import logging
import os
import re

import keras
from keras import ops

from keras_bert_lab.checkpoints import own
from keras_bert_lab.config import read_json
from keras_bert_lab.checkpoints.names import (CLASSIFIER_BIAS,
                                              CLASSIFIER_WEIGHTS, SQUAD_BIAS,
                                              SQUAD_WEIGHTS)
from keras_bert_lab.models.encoder import (FEATURES, EncoderAttributes,
                                          default_optimizer,
                                          encoder_for_checkpoint)

logger = logging.getLogger("keras_bert_lab")

TASK_FILE = own.TASK_FILE
# The task.json format (`keras_bert_lab.tasks.config` reads it typed).
TASK_FORMAT_VERSION = 2

# HF architectures -> our task (classification may turn into regression).
_HF_TASKS = {
    "BertForSequenceClassification": "classification",
    "BertForTokenClassification": "tagging",
    "BertForQuestionAnswering": "squad",
    "BertForMultipleChoice": "multiple_choice",
}
# task.json keys the model owns; callers' task_info may not set them.
MODEL_KEYS = ("format_version", "task", "model_class", "num_outputs",
              "labels", "lower_case")


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class OutputLogits(keras.layers.Layer):
  """Dense logits with BERT's `output_weights [num_outputs, H]` layout, in float32.

  The layout of Google's run_classifier.py / run_squad.py heads and of HF's
  `nn.Linear` weight, so checkpoints of both load without transposing.

  Args:
    num_outputs: number of logits per input vector.
    initializer_range: stddev of the truncated-normal initializer.
    **kwargs: `keras.layers.Layer` arguments (`name`).

  Call args:
    x: `[..., H]` in any float dtype.

  Returns:
    float32 `[..., num_outputs]`.

  Example:
    >>> OutputLogits(3, 0.02)(ops.ones([2, 16])).shape
    TensorShape([2, 3])
  """

  def __init__(self, num_outputs, initializer_range=0.02, **kwargs):
    kwargs["dtype"] = "float32"
    super().__init__(**kwargs)
    self.num_outputs = int(num_outputs)
    self.initializer_range = initializer_range

  def build(self, input_shape):
    hidden = input_shape[-1]
    self.output_weights = self.add_weight(
        name="output_weights", shape=(self.num_outputs, hidden),
        initializer=keras.initializers.TruncatedNormal(
            stddev=self.initializer_range))
    self.output_bias = self.add_weight(
        name="output_bias", shape=(self.num_outputs,), initializer="zeros")
    self.built = True

  def call(self, x):
    x = ops.cast(x, "float32")
    return ops.matmul(x, ops.transpose(self.output_weights)) + self.output_bias

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.num_outputs,)

  def get_config(self):
    config = super().get_config()
    config.update(num_outputs=self.num_outputs,
                  initializer_range=self.initializer_range)
    config.pop("dtype", None)
    return config


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class FlattenChoices(keras.layers.Layer):
  """`[batch, K, seq]` features -> `[batch * K, seq]` (for the shared encoder).

  Example:
    >>> FlattenChoices()({"input_word_ids": ops.ones([2, 4, 8], "int32")})[
    ...     "input_word_ids"].shape
    TensorShape([8, 8])
  """

  def call(self, features):
    return {name: ops.reshape(x, (-1, ops.shape(x)[-1]))
            for name, x in features.items()}

  def compute_output_shape(self, features_shape):
    return {name: (None, shape[-1]) for name, shape in features_shape.items()}


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class UnflattenChoices(keras.layers.Layer):
  """`[batch * K, 1]` scores -> `[batch, K]`, K read from `[batch, K, seq]` ids.

  Example:
    >>> UnflattenChoices()(ops.ones([8, 1]), ops.ones([2, 4, 8], "int32")).shape
    TensorShape([2, 4])
  """

  def __init__(self, **kwargs):
    kwargs["dtype"] = "float32"
    super().__init__(**kwargs)

  def call(self, scores, choice_ids):
    return ops.reshape(ops.cast(scores, "float32"),
                       (-1, ops.shape(choice_ids)[1]))

  def compute_output_shape(self, scores_shape, choice_ids_shape):
    return (choice_ids_shape[0], choice_ids_shape[1])

  def get_config(self):
    config = super().get_config()
    config.pop("dtype", None)
    return config


def _feature_inputs(shape=(None,)):
  return {name: keras.Input(shape=shape, dtype="int32", name=name)
          for name in FEATURES}


def _deserialize_encoder(encoder):
  if isinstance(encoder, dict):
    return keras.saving.deserialize_keras_object(encoder)
  return encoder


class BertTaskModel(EncoderAttributes, keras.Model):
  """Shared behaviour of the task models: config, labels, save and load.

  Not built directly; see `BertClassifier`, `BertTokenClassifier`,
  `BertSpanLabeler`, `BertMultipleChoice`.

  Attributes:
    encoder: the `BertEncoder`.
    head: the `OutputLogits` layer.
    labels: list of label strings (index = class id) or None.
    task_info: dict of preprocessing settings kept for `task.json`.
  """

  hf_architecture = None
  head_names = (CLASSIFIER_WEIGHTS, CLASSIFIER_BIAS)

  def _set_task_attributes(self, encoder, head, labels, task_info):
    self.encoder = encoder
    self.head = head
    self.labels = list(labels) if labels is not None else None
    self.task_info = dict(task_info or {})

  @property
  def num_outputs(self):
    """Rows of the head's `output_weights`."""
    return self.head.num_outputs

  @property
  def task(self):
    """The task name written to `task.json` (a key of `TASK_MODELS`)."""
    raise NotImplementedError

  def default_loss(self):
    """The task's loss on its logits (`compile` uses it when none is given).

    Returns:
      A Keras loss, or a dict of them per output.
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def default_metrics(self):
    """`(metrics, weighted_metrics)` that `compile` adds by default.

    Returns:
      A pair of lists of Keras metric names or objects (or None).
    """
    return ["sparse_categorical_accuracy"], None

  def compile(self, optimizer="auto", loss="auto", metrics="auto",
              weighted_metrics="auto", **kwargs):
    """`keras.Model.compile` with the task's loss and metrics by default.

    As keras-hub's tasks: `model.compile()` then `model.fit(dataset)` trains
    with the right loss (`default_loss`) and metrics (`default_metrics`),
    and `optimizer="auto"` is BERT's AdamW at 5e-5 (`default_optimizer`). Pass any of them to override.

    Args:
      optimizer, loss, metrics, weighted_metrics: as `keras.Model.compile`;
        `"auto"` takes the default.
      **kwargs: the other `keras.Model.compile` arguments.

    Example:
      >>> from keras_bert_lab import BertConfig
      >>> from keras_bert_lab.models import BertEncoder
      >>> clf = BertClassifier(BertEncoder(BertConfig.preset(
      ...     "tiny", vocab_size=100)), labels=["neg", "pos"])
      >>> clf.compile()
      >>> clf.loss.name
      'sparse_categorical_crossentropy'
    """
    if optimizer == "auto":
      optimizer = default_optimizer(5e-5)
    if loss == "auto":
      loss = self.default_loss()
    plain, weighted = self.default_metrics()
    if metrics == "auto":
      metrics = plain
    if weighted_metrics == "auto":
      weighted_metrics = weighted
    super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                    weighted_metrics=weighted_metrics, **kwargs)

  def head_variables(self):
    """`{canonical name: variable}` of the head (used by `checkpoints`)."""
    weights, bias = self.head_names
    return {weights: self.head.output_weights, bias: self.head.output_bias}

  def _hf_extra_config(self):
    return {}

  def _base_config(self):
    return {"encoder": keras.saving.serialize_keras_object(self.encoder),
            "labels": self.labels, "task_info": self.task_info,
            "name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  def save_pretrained(self, path, **task_info):
    """Writes the model, head, labels and preprocessing settings to `path`.

    Args:
      path: a folder (created if needed). transformers' matching
        `BertFor...` class reads it; so do this class's `from_pretrained`
        and `load_task_model`.
      **task_info: JSON values for `task.json`, merged over `self.task_info`,
        that rebuild preprocessing, e.g. `max_seq_length=128`,
        `text_column="sentence"`, `text_b_column=None`, `truncation=...`,
        and for SQuAD `doc_stride`, `max_query_length`,
        `max_answer_length`, `n_best_size`, `version_2_with_negative`,
        `null_score_diff_threshold`.

    Raises:
      ValueError: `task_info` sets a key the model owns (`labels`, `task`,
        ...).

    Example:
      >>> import os, tempfile
      >>> from keras_bert_lab import BertConfig
      >>> from keras_bert_lab.models import BertEncoder
      >>> model = BertClassifier(BertEncoder(BertConfig.preset(
      ...     "tiny", vocab_size=100)), labels=["neg", "pos"])
      >>> folder = os.path.join(tempfile.mkdtemp(), "sst2")
      >>> model.save_pretrained(folder, max_seq_length=128,
      ...                       text_column="sentence")
      >>> sorted(os.listdir(folder))
      ['config.json', 'keras_bert_lab.json', 'model.safetensors', 'task.json',
       'tokenizer_config.json']
    """
    clash = sorted(set(task_info) & set(MODEL_KEYS))
    if clash:
      raise ValueError(
          f"save_pretrained(**task_info) may not set {clash}: the model owns "
          "them (pass labels= when building the model).")
    from keras_bert_lab.checkpoints import save_pretrained
    values = {"format_version": TASK_FORMAT_VERSION, "task": self.task,
              "model_class": type(self).__name__,
              "num_outputs": self.num_outputs, "labels": self.labels,
              "lower_case": self.lower_case}
    values.update(self.task_info)
    values.update(task_info)
    save_pretrained(self, path, architecture=self.hf_architecture,
                    extra_config=self._hf_extra_config(),
                    extra_json={TASK_FILE: values})


def _id2label_config(labels, num_outputs):
  names = labels or [f"LABEL_{i}" for i in range(num_outputs)]
  return {"id2label": {str(i): name for i, name in enumerate(names)},
          "label2id": {name: i for i, name in enumerate(names)}}


class _DropoutHeadModel(BertTaskModel):
  """`encoder[head_input] -> dropout -> OutputLogits(n)`, as one model.

  The layout of run_classifier.py's and HF's classification heads, on the
  pooled output (`BertClassifier`) or every token (`BertTokenClassifier`);
  `outputs_arg` names the constructor's output count.
  """

  outputs_arg = None
  head_input = None

  def __init__(self, encoder, num_outputs, dropout, labels, task_info,
               **kwargs):
    # BertClassifier -> bert_classifier, as HF and keras-hub name them.
    kwargs.setdefault("name", re.sub(r"(?<!^)(?=[A-Z])", "_",
                                     type(self).__name__).lower())
    encoder = _deserialize_encoder(encoder)
    num_outputs = _num_outputs(type(self).__name__, self.outputs_arg,
                               num_outputs, labels)
    dropout = encoder.config.hidden_dropout_prob if dropout is None else dropout
    inputs = _feature_inputs()
    features = keras.layers.Dropout(dropout, name="dropout")(
        encoder(inputs)[self.head_input])
    head = OutputLogits(num_outputs, encoder.config.initializer_range,
                        name="classifier")
    # keras.Model's functional constructor (Functional's, once Keras has
    # injected it into the class hierarchy).
    super(BertTaskModel, self).__init__(inputs=inputs,
                                        outputs=head(features), **kwargs)
    self._set_task_attributes(encoder, head, labels, task_info)
    self.dropout_rate = dropout

  def get_config(self):
    return {**self._base_config(), self.outputs_arg: self.num_outputs,
            "dropout": self.dropout_rate}

  @classmethod
  def _from_checkpoint(cls, source, num_outputs, dropout, labels,
                       config_overrides):
    return _from_pretrained(
        cls, source, cls.outputs_arg, num_outputs, labels, config_overrides,
        lambda enc, n, names, info: cls(enc, n, dropout=dropout,
                                        labels=names, task_info=info))


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertClassifier(_DropoutHeadModel):
  """Sentence (or pair) classification or regression on the pooled `[CLS]`.

  pooled output -> dropout -> `OutputLogits(num_classes)`, as in Google's
  run_classifier.py and HF's `BertForSequenceClassification`.

  Args:
    encoder: a `BertEncoder`.
    num_classes: number of classes; 1 means regression (a score). May be
      None when `labels` is given (then `len(labels)`).
    dropout: rate before the head; default `encoder.config.hidden_dropout_prob`.
    labels: optional list of label names, index = class id.
    task_info: optional dict of preprocessing settings for `task.json`.
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    A dict of int32 `[batch, seq]` tensors `input_word_ids`, `input_mask`,
    `input_type_ids`.

  Returns:
    float32 logits `[batch, num_classes]` (regression: `[batch, 1]`).

  Example:
    >>> from keras_bert_lab.models import BertEncoder
    >>> clf = BertClassifier(BertEncoder.from_vocab(), labels=["neg", "pos"])
    >>> clf.compile()   # BERT's AdamW, cross-entropy and accuracy
    >>> ids = ops.ones([4, 8], "int32")
    >>> logits = clf({"input_word_ids": ids, "input_mask": ids,
    ...               "input_type_ids": ids * 0})
    >>> logits.shape, clf.task
    (TensorShape([4, 2]), 'classification')
  """

  hf_architecture = "BertForSequenceClassification"
  outputs_arg = "num_classes"
  head_input = "pooled_output"

  def __init__(self, encoder, num_classes=None, dropout=None, labels=None,
               task_info=None, **kwargs):
    super().__init__(encoder, num_classes, dropout, labels, task_info, **kwargs)

  @property
  def task(self):
    return "regression" if self.num_outputs == 1 else "classification"

  def default_loss(self):
    if self.num_outputs == 1:
      return keras.losses.MeanSquaredError()
    return super().default_loss()

  def default_metrics(self):
    if self.num_outputs == 1:
      return None, None
    return super().default_metrics()

  def _hf_extra_config(self):
    values = _id2label_config(self.labels, self.num_outputs)
    values["problem_type"] = ("regression" if self.num_outputs == 1
                              else "single_label_classification")
    return values

  @classmethod
  def from_pretrained(cls, source, num_classes=None, dropout=None,
                      labels=None, **config_overrides):
    """Builds a classifier from a checkpoint, its head included when present.

    Args:
      source: any layout `BertEncoder.from_pretrained` accepts; fine-tuned
        folders of ours, HF's `BertForSequenceClassification` and Google
        run_classifier.py checkpoints carry a head.
      num_classes: None takes it from the checkpoint's head (or labels);
        a number must match the head if there is one.
      dropout: rate before the head (default: the config's hidden dropout).
      labels: label names; default the checkpoint's (task.json / id2label).
      **config_overrides: `BertConfig` fields that do not change shapes.

    Returns:
      A `BertClassifier`. A missing head starts random and is listed in a
      log line with everything else that was missing.

    Raises:
      ValueError: the head does not fit `num_classes`/`labels`, or there is
        neither a head nor a `num_classes`.

    Example:
      >>> import tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> BertEncoder.from_vocab().save_pretrained(folder)   # no head
      >>> clf = BertClassifier.from_pretrained(folder, num_classes=2)
      >>> clf.num_outputs, clf.labels
      (2, None)
    """
    return cls._from_checkpoint(source, num_classes, dropout, labels,
                                config_overrides)


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertTokenClassifier(_DropoutHeadModel):
  """A label per wordpiece (NER / tagging), as HF's `BertForTokenClassification`.

  sequence output -> dropout -> `OutputLogits(num_labels)`. Train with the
  tag at each word's first wordpiece and `sample_weight` 0 elsewhere. The
  encoder's pooler is unused (Keras' optimizer says it gets no gradient);
  it is left trainable since the encoder may be shared with other heads.

  Args:
    encoder: a `BertEncoder`.
    num_labels: number of tags (None: `len(labels)`).
    dropout: rate before the head; default `encoder.config.hidden_dropout_prob`.
    labels: optional list of tag names (e.g. `["O", "B-PER", "I-PER"]`).
    task_info: optional dict of preprocessing settings for `task.json`.
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    The three int32 `[batch, seq]` features.

  Returns:
    float32 logits `[batch, seq, num_labels]`.

  Example:
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
    >>> tagger = BertTokenClassifier(enc, labels=["O", "B-LOC", "I-LOC"])
    >>> ids = ops.ones([4, 8], "int32")
    >>> tagger({"input_word_ids": ids, "input_mask": ids,
    ...         "input_type_ids": ids * 0}).shape
    TensorShape([4, 8, 3])
  """

  hf_architecture = "BertForTokenClassification"
  outputs_arg = "num_labels"
  head_input = "sequence_output"
  task = "tagging"

  def __init__(self, encoder, num_labels=None, dropout=None, labels=None,
               task_info=None, **kwargs):
    super().__init__(encoder, num_labels, dropout, labels, task_info, **kwargs)

  def default_loss(self):
    # Mean over the words' first wordpieces (sample_weight 1), not over
    # every position.
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")

  def default_metrics(self):
    return None, ["sparse_categorical_accuracy"]

  def _hf_extra_config(self):
    return _id2label_config(self.labels, self.num_outputs)

  @classmethod
  def from_pretrained(cls, source, num_labels=None, dropout=None, labels=None,
                      **config_overrides):
    """Builds a token classifier from a checkpoint, head included when present.

    Args:
      source: any layout `BertEncoder.from_pretrained` accepts (HF
        `BertForTokenClassification` folders and ours carry the head).
      num_labels: None takes it from the head (or labels); a number must
        match the head if there is one.
      dropout: rate before the head.
      labels: tag names; default the checkpoint's.
      **config_overrides: `BertConfig` fields that do not change shapes.

    Returns:
      A `BertTokenClassifier`, with the checkpoint's tags unless `labels` are
      given.

    Example:
      >>> import tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> tags = ["O", "B-LOC", "I-LOC"]
      >>> BertTokenClassifier(BertEncoder.from_vocab(),
      ...                     labels=tags).save_pretrained(folder)
      >>> tagger = BertTokenClassifier.from_pretrained(folder)  # head, labels
      >>> tagger.labels
      ['O', 'B-LOC', 'I-LOC']
    """
    return cls._from_checkpoint(source, num_labels, dropout, labels,
                                config_overrides)


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertSpanLabeler(BertTaskModel):
  """Start and end logits per token (SQuAD), as run_squad.py and HF's QA model.

  sequence output -> `OutputLogits(2)` (`cls/squad/output_weights`, no
  dropout, as in both references); output 0 is the start, 1 the end. The
  encoder's pooler is unused (see `BertTokenClassifier`).

  Args:
    encoder: a `BertEncoder`.
    task_info: optional dict of preprocessing settings for `task.json`.
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    The three int32 `[batch, seq]` features.

  Returns:
    `{"start_logits": float32 [batch, seq], "end_logits": float32 [batch, seq]}`.
    For `fit`/`evaluate`, labels may be keyed by the output names or as
    `{"start_positions", "end_positions"}` (int32 `[batch]`).

  Example:
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> qa = BertSpanLabeler(BertEncoder(BertConfig.preset("tiny",
    ...                                                    vocab_size=100)))
    >>> sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> qa.compile("adam", loss={"start_logits": sce, "end_logits": sce})
    >>> ids = ops.ones([4, 8], "int32")
    >>> out = qa({"input_word_ids": ids, "input_mask": ids,
    ...           "input_type_ids": ids * 0})
    >>> out["start_logits"].shape, out["end_logits"].shape
    (TensorShape([4, 8]), TensorShape([4, 8]))
  """

  hf_architecture = "BertForQuestionAnswering"
  task = "squad"
  head_names = (SQUAD_WEIGHTS, SQUAD_BIAS)

  def __init__(self, encoder, task_info=None, labels=None, **kwargs):
    encoder = _deserialize_encoder(encoder)
    kwargs.setdefault("name", "bert_span_labeler")
    inputs = _feature_inputs()
    sequence = encoder(inputs)["sequence_output"]
    head = OutputLogits(2, encoder.config.initializer_range, name="squad")
    logits = head(sequence)
    super().__init__(inputs=inputs, outputs={
        "start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1]},
                     **kwargs)
    self._set_task_attributes(encoder, head, None, task_info)


  def default_loss(self):
    # run_squad.py: the mean of the start and end losses (`compile` weighs
    # each 0.5).
    sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return {"start_logits": sce, "end_logits": sce}

  def default_metrics(self):
    return None, None

  def compile(self, optimizer="auto", loss="auto", metrics="auto",
              weighted_metrics="auto", **kwargs):
    if loss == "auto":
      kwargs.setdefault("loss_weights", {"start_logits": 0.5,
                                         "end_logits": 0.5})
    super().compile(optimizer, loss, metrics, weighted_metrics, **kwargs)

  # Labels arrive as {"start_positions", "end_positions"} (the agreed dataset
  # format, HF's argument names); Keras matches label keys to output names.
  _LABEL_KEYS = {"start_positions": "start_logits",
                 "end_positions": "end_logits"}

  def _rename_labels(self, y):
    if isinstance(y, dict) and set(y) & set(self._LABEL_KEYS):
      return {self._LABEL_KEYS.get(k, k): v for k, v in y.items()}
    return y

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    return super().compute_loss(x=x, y=self._rename_labels(y), y_pred=y_pred,
                                sample_weight=sample_weight, training=training)

  def compute_metrics(self, x, y, y_pred, sample_weight=None):
    return super().compute_metrics(x, self._rename_labels(y), y_pred,
                                   sample_weight)

  def get_config(self):
    return self._base_config()

  @classmethod
  def from_pretrained(cls, source, **config_overrides):
    """Builds a span labeler from a checkpoint, head included when present.

    Args:
      source: any layout `BertEncoder.from_pretrained` accepts (HF
        `BertForQuestionAnswering` folders, run_squad.py checkpoints and ours
        carry the head).
      **config_overrides: `BertConfig` fields that do not change shapes.

    Returns:
      A `BertSpanLabeler`; the start/end head is the checkpoint's when it has
      one.

    Example:
      >>> import tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> BertSpanLabeler(BertEncoder.from_vocab()).save_pretrained(
      ...     folder, doc_stride=64)
      >>> qa = BertSpanLabeler.from_pretrained(folder)
      >>> qa.task, qa.task_info
      ('squad', {'doc_stride': 64})
    """
    return _from_pretrained(
        cls, source, None, 2, None, config_overrides,
        lambda enc, n, names, info: cls(enc, task_info=info))


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertMultipleChoice(BertTaskModel):
  """One score per choice (SWAG), as HF's `BertForMultipleChoice`.

  The `[batch, K, seq]` features are reshaped to `[batch * K, seq]`, run
  through the one shared encoder, pooled output -> dropout ->
  `OutputLogits(1)`, and reshaped back to `[batch, K]`; softmax over K is
  the loss's job (`from_logits=True`).

  Args:
    encoder: a `BertEncoder`.
    num_choices: K, or None to accept any K.
    dropout: rate before the head; default `encoder.config.hidden_dropout_prob`.
    task_info: optional dict of preprocessing settings for `task.json`.
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    The three int32 features, each `[batch, K, seq]`.

  Returns:
    float32 logits `[batch, K]`.

  Example:
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
    >>> mc = BertMultipleChoice(enc, num_choices=4)
    >>> ids = ops.ones([2, 4, 8], "int32")   # [batch, K, seq]
    >>> mc({"input_word_ids": ids, "input_mask": ids,
    ...     "input_type_ids": ids * 0}).shape
    TensorShape([2, 4])
  """

  hf_architecture = "BertForMultipleChoice"
  task = "multiple_choice"

  def __init__(self, encoder, num_choices=None, dropout=None, task_info=None,
               labels=None, **kwargs):
    encoder = _deserialize_encoder(encoder)
    dropout = encoder.config.hidden_dropout_prob if dropout is None else dropout
    kwargs.setdefault("name", "bert_multiple_choice")
    inputs = _feature_inputs(shape=(num_choices, None))
    flat = FlattenChoices(name="flatten_choices")(inputs)
    pooled = encoder(flat)["pooled_output"]
    pooled = keras.layers.Dropout(dropout, name="dropout")(pooled)
    head = OutputLogits(1, encoder.config.initializer_range, name="classifier")
    logits = UnflattenChoices(name="unflatten_choices")(
        head(pooled), inputs["input_word_ids"])
    super().__init__(inputs=inputs, outputs=logits, **kwargs)
    self._set_task_attributes(encoder, head, None, task_info)
    self.num_choices = num_choices
    self.dropout_rate = dropout


  def get_config(self):
    return {**self._base_config(), "num_choices": self.num_choices,
            "dropout": self.dropout_rate}

  @classmethod
  def from_pretrained(cls, source, num_choices=None, dropout=None,
                      **config_overrides):
    """Builds a multiple-choice model from a checkpoint, head when present.

    Args:
      source: any layout `BertEncoder.from_pretrained` accepts (HF
        `BertForMultipleChoice` folders and ours carry the head).
      num_choices: K, or None for any.
      dropout: rate before the head.
      **config_overrides: `BertConfig` fields that do not change shapes.

    Returns:
      A `BertMultipleChoice` for `num_choices` choices (any number if None).

    Example:
      >>> import tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> model = BertMultipleChoice(BertEncoder.from_vocab(), num_choices=4)
      >>> model.save_pretrained(folder)
      >>> mc = BertMultipleChoice.from_pretrained(folder, num_choices=4)
      >>> mc.task, mc.num_choices
      ('multiple_choice', 4)
    """
    return _from_pretrained(
        cls, source, None, 1, None, config_overrides,
        lambda enc, n, names, info: cls(enc, num_choices, dropout=dropout,
                                        task_info=info))


TASK_MODELS = {
    "classification": BertClassifier,
    "regression": BertClassifier,
    "tagging": BertTokenClassifier,
    "squad": BertSpanLabeler,
    "multiple_choice": BertMultipleChoice,
}


def _num_outputs(model, arg, value, labels):
  if value is None:
    if labels is None:
      raise ValueError(f"{model} needs {arg} or labels.")
    return len(labels)
  if labels is not None and len(labels) != value:
    raise ValueError(
        f"{model}: {arg}={value} but {len(labels)} labels were given "
        f"({list(labels)}); pass one or make them agree.")
  if int(value) < 1:
    raise ValueError(f"{model}: {arg}={value} must be a positive integer.")
  return int(value)


def read_task_metadata(folder):
  """What a checkpoint folder says about its task, or `{}`.

  Args:
    folder: a checkpoint folder (ours, HF, Google).

  Returns:
    Our `task.json` as a dict if present; else, for an HF folder whose
    `architectures` names a task class, `{"task", "labels"}` from its
    `config.json` (`labels` None when HF's default `LABEL_i` names are all
    it has); else `{}`.

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> folder = os.path.join(tempfile.mkdtemp(), "sst2_model")
    >>> BertClassifier(BertEncoder(BertConfig.preset("tiny", vocab_size=100)),
    ...                labels=["negative", "positive"]).save_pretrained(folder)
    >>> read_task_metadata(folder)["labels"]
    ['negative', 'positive']
  """
  if not isinstance(folder, (str, os.PathLike)) or not os.path.isdir(folder):
    return {}
  task_file = os.path.join(folder, TASK_FILE)
  if os.path.exists(task_file):
    values = read_json(task_file)
    if not isinstance(values, dict):
      raise ValueError(
          f"{task_file}: holds a JSON {type(values).__name__}, not an "
          "object of task settings. The file is written by save_pretrained; "
          "rewrite it or remove it.")
    if values.get("task") not in TASK_MODELS:
      raise ValueError(
          f"{task_file}: task={values.get('task')!r} is not one of "
          f"{tuple(TASK_MODELS)}. "
          "The file is written by save_pretrained; rewrite it or remove it.")
    return values
  config_file = os.path.join(folder, "config.json")
  if not os.path.exists(config_file):
    return {}
  config = read_json(config_file)
  architectures = [a for a in config.get("architectures") or []
                   if a in _HF_TASKS]
  if not architectures:
    return {}
  task = _HF_TASKS[architectures[0]]
  labels = None
  id2label = config.get("id2label") or {}
  if task in ("classification", "tagging") and id2label:
    labels = [id2label[str(i)] for i in range(len(id2label))]
    if task == "classification" and (config.get("problem_type") == "regression"
                                     or len(labels) == 1):
      task, labels = "regression", None
    elif all(re.fullmatch(f"LABEL_{i}", name) for i, name in enumerate(labels)):
      labels = None
  return {"task": task, "labels": labels}


def _head_file(ckpt, name):
  """`(file, key)` of a canonical head weight in the checkpoint's own terms."""
  from keras_bert_lab.checkpoints.hf import canonical_to_hf
  if ckpt.layout in ("hf", "keras_bert_lab"):
    return (os.path.join(ckpt.source, "model.safetensors"),
            canonical_to_hf(name)[0])
  if ckpt.layout == "google":
    from keras_bert_lab.checkpoints.google import find_checkpoint_prefix
    return find_checkpoint_prefix(ckpt.source), name
  return ckpt.source, name


def _from_pretrained(cls, source, arg, num_outputs, labels, config_overrides,
                     build):
  from keras_bert_lab.checkpoints import set_weights
  encoder, ckpt = encoder_for_checkpoint(source, **config_overrides)
  meta = read_task_metadata(source)
  weights = dict(ckpt.weights)
  weight_name, bias_name = cls.head_names
  saved_task = meta.get("task")
  if (saved_task is not None and TASK_MODELS[saved_task] is not cls
      and weight_name in weights):
    logger.warning(
        "%s holds a %s head, which %s does not use; its head starts from "
        "random values.", ckpt.source, saved_task, cls.__name__)
    weights.pop(weight_name)
    weights.pop(bias_name, None)
    meta = {}
  saved_labels = meta.get("labels")
  head = weights.get(weight_name)
  found = None if head is None else int(head.shape[0])
  if arg is not None:  # classification / tagging: the count may vary.
    requested = num_outputs
    if requested is None and labels is not None:
      requested = len(labels)
    if requested is None:
      requested = found if found is not None else (
          len(saved_labels) if saved_labels else None)
    if requested is None:
      raise ValueError(
          f"{ckpt.source} has no {cls.__name__} head ({weight_name}) to take "
          f"the number of outputs from; pass {arg}= or labels=.")
    num_outputs = requested
  if found is not None and found != num_outputs:
    file, key = _head_file(ckpt, weight_name)
    fix = (f"pass {arg}={found} (or {arg}=None) to use this head, or build "
           f"{cls.__name__}(BertEncoder.from_pretrained(...), {arg}="
           f"{num_outputs}) to start a new one" if arg else
           "this checkpoint's head does not belong to this task")
    raise ValueError(
        f"The {cls.__name__} head in {file} does not fit: {key} has shape "
        f"{tuple(head.shape)} but the model asks for "
        f"({num_outputs}, {head.shape[-1]}) ({arg or 'outputs'}="
        f"{num_outputs}). Fix: {fix}.")
  if arg is not None:
    if labels is None:
      labels = saved_labels if saved_labels and len(
          saved_labels) == num_outputs else None
    elif found is not None and saved_labels and list(labels) != list(
        saved_labels):
      file = os.path.join(ckpt.source, TASK_FILE)
      raise ValueError(
          f"labels={list(labels)} differ from the labels the head in "
          f"{ckpt.source} was trained with ({list(saved_labels)}, from "
          f"{file if os.path.exists(file) else 'config.json id2label'}); "
          "output i means saved label i. Pass labels=None to keep them, or "
          f"build {cls.__name__}(BertEncoder.from_pretrained(...), "
          "labels=...) for a new head.")
  info = {k: v for k, v in meta.items() if k not in MODEL_KEYS}
  model = build(encoder, num_outputs, labels, info)
  set_weights(model, weights, ckpt.source)
  return model


def load_task_model(path, **config_overrides):
  """Loads a fine-tuned model and its task metadata from a folder.

  Args:
    path: a `save_pretrained` folder of a task model (with `task.json`), or
      an HF folder saved from `BertForSequenceClassification`,
      `BertForTokenClassification`, `BertForQuestionAnswering` or
      `BertForMultipleChoice`.
    **config_overrides: `BertConfig` fields that do not change shapes (e.g.
      `hidden_dropout_prob=0.0`).

  Returns:
    `(model, info)`: the task model and a dict with at least `task`,
    `labels`, `lower_case`, `num_outputs`, `model_class` and whatever
    preprocessing settings were saved (`max_seq_length`, ...). The
    vocabulary is `model.vocab` (also `path/vocab.txt`).

  Raises:
    ValueError: the folder says nothing about a task; the message lists the
      files found.

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> folder = os.path.join(tempfile.mkdtemp(), "sst2")   # as finetune
    >>> BertClassifier(BertEncoder(BertConfig.preset("tiny", vocab_size=100)),
    ...                labels=["negative", "positive"]).save_pretrained(
    ...     folder, max_seq_length=128)
    >>> model, info = load_task_model(folder)
    >>> info["task"], info["labels"], info["max_seq_length"]
    ('classification', ['negative', 'positive'], 128)
  """
  meta = read_task_metadata(path)
  if not meta:
    found = (", ".join(sorted(os.listdir(path))) if os.path.isdir(path)
             else "no such folder")
    raise ValueError(
        f"{path!r} holds no fine-tuned task model: no {TASK_FILE} and no "
        "config.json whose architectures name an HF BertFor... task class "
        f"(found: {found}). Write it with a task model's save_pretrained, "
        "or load an encoder with BertEncoder.from_pretrained.")
  cls = TASK_MODELS[meta["task"]]
  model = cls.from_pretrained(path, **config_overrides)
  info = dict(meta)
  info.update(task=model.task, model_class=type(model).__name__,
              num_outputs=model.num_outputs, labels=model.labels,
              lower_case=model.lower_case)
  info.setdefault("format_version", TASK_FORMAT_VERSION)
  return model, info
