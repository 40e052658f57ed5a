"""`BertEncoder`: BERT's transformer encoder as a functional `keras.Model`.

keras-hub's `BertBackbone` is the nearest library model, but it fixes the
tanh GELU, computes attention softmax in the compute dtype under mixed
precision, uses its own feature names (`token_ids`, `segment_ids`,
`padding_mask`) and variable layout, returns no per-layer outputs, and has
no reader for Google TF1 checkpoints or writer of HF safetensors. This model
uses Model Garden's feature names and BERT's variable layout.
"""

import dataclasses

import keras

from keras_bert_lab import checkpoints
from keras_bert_lab.config import BertConfig
from keras_bert_lab.layers.embeddings import BertEmbeddings
from keras_bert_lab.layers.transformer_block import BertTransformerBlock
from keras_bert_lab.text.packing import FEATURES  # Re-exported: models.FEATURES.


# Variables BERT's optimizers leave out of weight decay (LayerNorm's gamma and
# beta, and biases), matched in variable paths.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("gamma", "beta", "bias")


def default_optimizer(learning_rate):
  """BERT's AdamW at a constant `learning_rate`: `compile()`'s "auto".

  Weight decay 0.01 except LayerNorm and biases, epsilon 1e-6, global
  gradient clip-norm 1.0 (google-research/bert's `optimization.py`); for
  the warm-up and decay schedule use `training.create_optimizer`.

  Args:
    learning_rate: the learning rate.

  Returns:
    A `keras.optimizers.AdamW`.

  Example:
    >>> default_optimizer(5e-5).weight_decay
    0.01
  """
  optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=0.01,
                                     epsilon=1e-6, global_clipnorm=1.0)
  optimizer.exclude_from_weight_decay(
      var_names=list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
  return optimizer


class EncoderAttributes:
  """`config`, `vocab` and `lower_case` of a model built on `self.encoder`.

  Mixed into `BertPretrainer` and the task models.

  Example:
    >>> from keras_bert_lab.models import BertPretrainer
    >>> pre = BertPretrainer(BertEncoder(BertConfig.preset("tiny",
    ...                                                   vocab_size=100)))
    >>> pre.config.hidden_size, pre.lower_case
    (128, True)
  """

  @property
  def config(self):
    """The encoder's `BertConfig`."""
    return self.encoder.config

  @property
  def vocab(self):
    """The encoder's vocabulary (list of tokens) or None."""
    return self.encoder.vocab

  @property
  def lower_case(self):
    """Whether the vocabulary expects lower-cased text."""
    return self.encoder.lower_case


def check_vocab(vocab, config, source="vocab"):
  """Raises unless `vocab` (a token list or None) fits `config.vocab_size`.

  Args:
    vocab: a list of tokens, or None (always fits).
    config: the `BertConfig`.
    source: where the vocabulary came from, used in the message.

  Raises:
    ValueError: the vocabulary's length differs from `config.vocab_size`.

  Example:
    >>> check_vocab(["[PAD]", "a"], BertConfig(vocab_size=3), "my.txt")
    Traceback (most recent call last):
    ...
    ValueError: The vocabulary from my.txt has 2 tokens but the model's \
word-embedding table has vocab_size=3 rows. ...
  """
  if vocab is not None and len(vocab) != config.vocab_size:
    raise ValueError(
        f"The vocabulary from {source} has {len(vocab)} tokens but the "
        f"model's word-embedding table has vocab_size={config.vocab_size} "
        "rows. Use the vocab.txt that belongs to this checkpoint, or set "
        f"vocab_size={len(vocab)} in the config.")


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertEncoder(keras.Model):
  """BERT's encoder: embeddings, `num_layers` transformer blocks, pooler.

  Args:
    config: a `BertConfig` (or its `to_dict()`).
    vocab: optional list of tokens (id = index) that travels with the model
      to `save_pretrained`; its length must equal `config.vocab_size`.
    lower_case: whether the vocabulary expects lower-cased text.
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    A dict of int32 `[batch, seq]` tensors: `input_word_ids`, `input_mask`
    (1 for tokens, 0 for padding), `input_type_ids` (segment ids).

  Returns:
    A dict: `sequence_output` `[batch, seq, H]`, `pooled_output` `[batch, H]`
    (dense + tanh on `[CLS]`), `encoder_outputs` (list of each block's
    `[batch, seq, H]` output), and per block, for distillation,
    `attention_scores` (float32 `[batch, heads, seq, seq]`, `q k^T /
    sqrt(head_size)` before the padding mask and softmax) and
    `attention_values` (`[batch, heads, seq, head_size]`). The attention
    tensors are those the blocks compute anyway: returning them costs no
    compute, and a caller that does not read them (serving) drops them.

  Example:
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
    >>> ids = keras.ops.ones([2, 8], "int32")
    >>> out = enc({"input_word_ids": ids, "input_mask": ids,
    ...            "input_type_ids": ids * 0})
    >>> out["sequence_output"].shape, out["pooled_output"].shape
    (TensorShape([2, 8, 128]), TensorShape([2, 128]))
    >>> len(out["encoder_outputs"]), out["attention_scores"][0].shape
    (2, TensorShape([2, 2, 8, 8]))
  """

  def __init__(self, config, vocab=None, lower_case=True, **kwargs):
    if isinstance(config, dict):
      config = BertConfig.from_dict(config)
    check_vocab(vocab, config)
    kwargs.setdefault("name", "bert_encoder")
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in FEATURES}
    embeddings = BertEmbeddings(
        config.vocab_size, config.hidden_size, config.max_position_embeddings,
        config.type_vocab_size, config.initializer_range,
        config.layer_norm_eps, config.hidden_dropout_prob, name="embeddings")
    blocks = [
        BertTransformerBlock(
            config.hidden_size, config.layer_heads(i),
            config.layer_intermediate_size(i), config.hidden_act,
            config.initializer_range, config.layer_norm_eps,
            config.hidden_dropout_prob, config.attention_probs_dropout_prob,
            head_size=config.hidden_size // config.num_heads,
            name=f"layer_{i}")
        for i in range(config.num_layers)
    ]
    pooler = keras.layers.Dense(
        config.hidden_size, activation="tanh",
        kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=config.initializer_range), name="pooler")
    x = embeddings(inputs["input_word_ids"], inputs["input_type_ids"])
    encoder_outputs, scores, values = [], [], []
    for block in blocks:
      x, block_scores, block_values = block(x, inputs["input_mask"],
                                            return_attention=True)
      encoder_outputs.append(x)
      scores.append(block_scores)
      values.append(block_values)
    pooled = pooler(x[:, 0, :])
    super().__init__(inputs=inputs, outputs={
        "sequence_output": x,
        "pooled_output": pooled,
        "encoder_outputs": encoder_outputs,
        "attention_scores": scores,
        "attention_values": values,
    }, **kwargs)
    self.config = config
    self.vocab = list(vocab) if vocab is not None else None
    self.lower_case = lower_case
    self.embeddings = embeddings
    self.transformer_layers = blocks
    self.pooler = pooler

  def get_config(self):
    return {"config": self.config.to_dict(), "vocab": self.vocab,
            "lower_case": self.lower_case, "name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  @classmethod
  def from_vocab(cls, vocab=None, preset="tiny", lower_case=True,
                 **config_overrides):
    """A new, randomly initialised encoder of a preset size for `vocab`.

    What pre-training from scratch starts from (`pretrain --model_size`).

    Args:
      vocab: a `vocab.txt` path or a token list; default the bundled
        8,000-token vocabulary (`text.BUNDLED_VOCAB`).
      preset: a `BertConfig.preset` name (tiny, mini, small, medium, base,
        large).
      lower_case: whether the vocabulary expects lower-cased text.
      **config_overrides: other `BertConfig` fields.

    Returns:
      A `BertEncoder` carrying `vocab`.

    Example:
      >>> encoder = BertEncoder.from_vocab(num_layers=1)
      >>> encoder.config.vocab_size, encoder.config.num_layers
      (8000, 1)
    """
    from keras_bert_lab.text import BUNDLED_VOCAB, read_vocab
    if vocab is None or not isinstance(vocab, (list, tuple)):
      vocab = read_vocab(vocab or BUNDLED_VOCAB)
    return cls(BertConfig.preset(preset, vocab_size=len(vocab),
                                 **config_overrides),
               vocab=list(vocab), lower_case=lower_case)

  @classmethod
  def from_pretrained(cls, source, **config_overrides):
    """Builds an encoder from a checkpoint (heads in it are reported unused).

    Args:
      source: a Hugging Face folder (`config.json` + `model.safetensors`), a
        Google TF1 folder (`bert_config.json` + `bert_model.ckpt.*` +
        `vocab.txt`), a keras-hub `BertBackbone` or preset folder, or a
        `save_pretrained` folder.
      **config_overrides: `BertConfig` fields to change that do not affect
        weight shapes, e.g. `hidden_dropout_prob=0.0`.

    Returns:
      A `BertEncoder` with the checkpoint's weights, vocabulary and case.

    Example:
      >>> import os, tempfile
      >>> import numpy as np
      >>> folder = os.path.join(tempfile.mkdtemp(), "bert")
      >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
      >>> enc.save_pretrained(folder)
      >>> again = BertEncoder.from_pretrained(folder, hidden_dropout_prob=0.0)
      >>> again.config.hidden_dropout_prob, again.config.num_layers
      (0.0, 2)
      >>> all(np.array_equal(a, b) for a, b in zip(enc.get_weights(),
      ...                                          again.get_weights()))
      True
    """
    encoder, ckpt = encoder_for_checkpoint(source, **config_overrides)
    checkpoints.set_weights(encoder, ckpt.weights, ckpt.source)
    return encoder

  def save_pretrained(self, path):
    """Writes config, weights (safetensors, HF names), vocab and case to `path`.

    Args:
      path: a folder (created if needed); readable by `from_pretrained` and
        by `transformers.BertModel.from_pretrained`.

    Example:
      >>> import os, tempfile
      >>> folder = os.path.join(tempfile.mkdtemp(), "bert")
      >>> BertEncoder(BertConfig.preset("tiny", vocab_size=100)).save_pretrained(
      ...     folder)
      >>> sorted(os.listdir(folder))   # no vocab.txt: this encoder has none
      ['config.json', 'keras_bert_lab.json', 'model.safetensors',
       'tokenizer_config.json']
    """
    checkpoints.save_pretrained(self, path)


def encoder_for_checkpoint(source, **config_overrides):
  """Reads a checkpoint and builds an encoder of its config, vocab and case.

  The weights are not set yet: the caller sets them on the model it builds
  around the encoder (heads included), with `checkpoints.set_weights`.

  Args:
    source: any layout `BertEncoder.from_pretrained` accepts.
    **config_overrides: `BertConfig` fields that do not change shapes.

  Returns:
    `(encoder, checkpoint)`, the latter from `checkpoints.load_checkpoint`.

  Example:
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "bert")
    >>> BertEncoder(BertConfig.preset("tiny", vocab_size=100)).save_pretrained(
    ...     folder)
    >>> encoder, ckpt = encoder_for_checkpoint(folder)
    >>> encoder.config == ckpt.config, ckpt.layout, len(ckpt.weights)
    (True, 'keras_bert_lab', 39)
  """
  ckpt = checkpoints.load_checkpoint(source)
  config = dataclasses.replace(ckpt.config, **config_overrides)
  check_vocab(ckpt.vocab, config, ckpt.source)
  return BertEncoder(config, vocab=ckpt.vocab,
                     lower_case=ckpt.lower_case), ckpt
