"""`BertPretrainer`: encoder + masked-LM head (tied) + next-sentence head.

keras-hub's `BertMaskedLM` has no NSP head, uses its own feature names and
computes logits in the compute dtype, so BERT's pre-training model
(`cls/predictions`, `cls/seq_relationship`) is assembled here from
`keras_bert_lab.layers` heads. As keras-hub's task models do, it compiles
with its task's loss and metrics by default, so `fit` trains it on
`keras_bert_lab.data.pretraining_dataset` batches as they come (one dict of
features; the targets are read from it).
"""


import keras

from keras_bert_lab.layers.heads import MaskedLMHead, NextSentenceHead
from keras_bert_lab.models.encoder import (FEATURES, EncoderAttributes,
                                          default_optimizer,
                                          encoder_for_checkpoint)

# The model's inputs; a batch of pre-training features holds these and the
# targets (`masked_lm_ids`, `masked_lm_weights`, `next_sentence_labels`).
PRETRAINER_INPUTS = FEATURES + ("masked_lm_positions",)


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertPretrainer(EncoderAttributes, keras.Model):
  """BERT's pre-training model, trainable with `model.fit`.

  Args:
    encoder: a `BertEncoder`; its word embeddings are tied to the MLM output.
    next_sentence: whether to add the NSP head (`next_sentence_logits`).
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    A dict of int32 `[batch, seq]` tensors `input_word_ids`, `input_mask`,
    `input_type_ids`, plus `masked_lm_positions` int32 `[batch, P]`; other
    keys (a batch's targets) are ignored.

  Returns:
    `{"masked_lm_logits": float32 [batch, P, V]}` and, with next_sentence,
    `"next_sentence_logits": float32 [batch, 2]`.

  Example:
    >>> from keras_bert_lab import data, text
    >>> from keras_bert_lab.models import BertEncoder
    >>> pre = BertPretrainer(BertEncoder.from_vocab(num_layers=1))
    >>> pre.compile()   # BERT's pre-training loss, AdamW
    >>> train = data.pretraining_dataset(
    ...     data.read_documents(str(text.BUNDLED_CORPUS)),
    ...     text.BertTokenizer(text.BUNDLED_VOCAB), 4, max_seq_length=32)
    >>> history = pre.fit(train, steps_per_epoch=2, epochs=1, verbose=0)
    >>> sorted(history.history)[:2]
    ['loss', 'masked_lm_logits_accuracy']
  """

  def __init__(self, encoder, next_sentence=True, **kwargs):
    if isinstance(encoder, dict):
      encoder = keras.saving.deserialize_keras_object(encoder)
    kwargs.setdefault("name", "bert_pretrainer")
    config = encoder.config
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in PRETRAINER_INPUTS}
    encoded = encoder({name: inputs[name] for name in FEATURES})
    masked_lm = MaskedLMHead(
        encoder.embeddings.word_embeddings, config.hidden_size,
        config.hidden_act, config.initializer_range, config.layer_norm_eps,
        name="predictions")
    outputs = {"masked_lm_logits": masked_lm(encoded["sequence_output"],
                                             inputs["masked_lm_positions"])}
    nsp = None
    if next_sentence:
      nsp = NextSentenceHead(config.hidden_size, config.initializer_range,
                             name="seq_relationship")
      outputs["next_sentence_logits"] = nsp(encoded["pooled_output"])
    super().__init__(inputs=inputs, outputs=outputs, **kwargs)
    self.encoder = encoder
    self.masked_lm = masked_lm
    self.next_sentence = nsp

  def call(self, inputs, training=None, mask=None):
    if isinstance(inputs, dict):   # a batch of features, targets included
      inputs = {name: inputs[name] for name in PRETRAINER_INPUTS}
    return super().call(inputs, training=training, mask=mask)

  def compile(self, optimizer="auto", loss="auto", *,
              weighted_metrics="auto", **kwargs):
    """`keras.Model.compile`, by default with BERT's pre-training loss.

    With `loss="auto"` the loss is BERT's: the masked-LM cross-entropy
    averaged over the real predictions (weighted by `masked_lm_weights`)
    plus, with the NSP head, the mean NSP cross-entropy (on one replica
    exactly `training.pretraining_loss`; with several, Keras averages the
    replicas' means). `fit`, `evaluate` take batches of
    `pretraining_dataset` features as they are; targets given explicitly
    (`(features, targets, sample_weights)`) are used instead.

    Args:
      optimizer: a Keras optimizer (BERT's: `training.create_optimizer`);
        `"auto"`: AdamW at a constant 1e-4 with BERT's weight decay (0.01,
        not on LayerNorm or biases), epsilon and gradient clipping.
      loss: `"auto"`, or Keras losses keyed by output name.
      weighted_metrics: `"auto"`: the masked-LM accuracy over the real
        predictions and the NSP accuracy (logged as
        `masked_lm_logits_accuracy`, `next_sentence_logits_accuracy`).
      **kwargs: other `keras.Model.compile` arguments
        (`steps_per_execution`, `jit_compile`, `metrics`).

    Example:
      >>> from keras_bert_lab.models import BertEncoder
      >>> from keras_bert_lab.training import create_optimizer
      >>> pre = BertPretrainer(BertEncoder.from_vocab(num_layers=1))
      >>> pre.compile(create_optimizer("lamb", 1e-3, 10000, 100),
      ...             steps_per_execution=100)
      >>> type(pre.optimizer).__name__
      'Lamb'
    """
    outputs = ["masked_lm_logits"] + (
        ["next_sentence_logits"] if self.next_sentence is not None else [])
    if optimizer == "auto":
      optimizer = default_optimizer(1e-4)
    if loss == "auto":
      # Weighted by masked_lm_weights, divided by their sum (padding out).
      loss = {name: keras.losses.SparseCategoricalCrossentropy(
          from_logits=True, reduction="mean_with_sample_weight")
              for name in outputs}
    if weighted_metrics == "auto":
      weighted_metrics = {name: [keras.metrics.SparseCategoricalAccuracy(
          "accuracy")] for name in outputs}
    super().compile(optimizer=optimizer, loss=loss,
                    weighted_metrics=weighted_metrics, **kwargs)

  def _targets(self, x, y, sample_weight):
    """`(y, sample_weight)`: given ones, or read from a features batch."""
    if y is not None or not isinstance(x, dict) or "masked_lm_ids" not in x:
      return y, sample_weight
    y = {"masked_lm_logits": x["masked_lm_ids"]}
    sample_weight = {"masked_lm_logits": x["masked_lm_weights"]}
    if self.next_sentence is not None:
      labels = keras.ops.reshape(x["next_sentence_labels"], [-1])
      y["next_sentence_logits"] = labels
      sample_weight["next_sentence_logits"] = keras.ops.ones_like(
          labels, "float32")
    return y, sample_weight

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    y, sample_weight = self._targets(x, y, sample_weight)
    return super().compute_loss(x, y, y_pred, sample_weight, training)

  def compute_metrics(self, x, y, y_pred, sample_weight=None):
    y, sample_weight = self._targets(x, y, sample_weight)
    return super().compute_metrics(x, y, y_pred, sample_weight)

  def get_config(self):
    return {"encoder": keras.saving.serialize_keras_object(self.encoder),
            "next_sentence": self.next_sentence is not None,
            "name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  @classmethod
  def from_pretrained(cls, source, next_sentence=True, **config_overrides):
    """Builds a pretrainer from a checkpoint, heads included where present.

    Args:
      source: any layout `BertEncoder.from_pretrained` accepts. Heads missing
        from the checkpoint (e.g. an HF `BertModel`) keep their random
        initial values and are listed in a log line.
      next_sentence: whether to build (and load) the NSP head.
      **config_overrides: `BertConfig` fields that do not change shapes.

    Returns:
      A `BertPretrainer`.

    Example (a Google folder such as `uncased_L-12_H-768_A-12/`, HF's,
    keras-hub's or ours):
      >>> import tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> BertPretrainer(BertEncoder.from_vocab(num_layers=1)).save_pretrained(
      ...     folder)
      >>> BertPretrainer.from_pretrained(folder).config.num_layers
      1
    """
    from keras_bert_lab.checkpoints import set_weights
    encoder, ckpt = encoder_for_checkpoint(source, **config_overrides)
    model = cls(encoder, next_sentence=next_sentence)
    set_weights(model, ckpt.weights, ckpt.source)
    return model

  def save_pretrained(self, path):
    """Writes config, weights with heads, vocab and case to `path`.

    Args:
      path: a folder; readable by `from_pretrained` and by
        `transformers.BertForPreTraining.from_pretrained`.

    Example:
      >>> import os, tempfile
      >>> from keras_bert_lab.models import BertEncoder
      >>> folder = tempfile.mkdtemp()
      >>> BertPretrainer(BertEncoder.from_vocab(num_layers=1)).save_pretrained(
      ...     folder)
      >>> "model.safetensors" in os.listdir(folder)
      True
    """
    from keras_bert_lab.checkpoints import save_pretrained
    save_pretrained(self, path)
