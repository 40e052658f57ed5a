"""`BertPretrainer`: encoder + masked-LM head (tied) + next-sentence head.

keras-hub's `BertMaskedLM` has no NSP head, uses its own feature names and
computes logits in the compute dtype, so BERT's pre-training model
(`cls/predictions`, `cls/seq_relationship`) is assembled here from
`keras_bert_lab.layers` heads.
"""


import keras

from keras_bert_lab.layers.heads import MaskedLMHead, NextSentenceHead
from keras_bert_lab.models.encoder import FEATURES, encoder_for_checkpoint


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertPretrainer(keras.Model):
  """BERT's pre-training model, trainable with `model.fit`.

  Args:
    encoder: a `BertEncoder`; its word embeddings are tied to the MLM output.
    next_sentence: whether to add the NSP head (`next_sentence_logits`).
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    A dict of int32 `[batch, seq]` tensors `input_word_ids`, `input_mask`,
    `input_type_ids`, plus `masked_lm_positions` int32 `[batch, P]`.

  Returns:
    `{"masked_lm_logits": float32 [batch, P, V]}` and, with next_sentence,
    `"next_sentence_logits": float32 [batch, 2]`.

  Example:
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
    >>> pre = BertPretrainer(enc)
    >>> pre.compile("adam", loss={
    ...     "masked_lm_logits": keras.losses.SparseCategoricalCrossentropy(
    ...         from_logits=True),
    ...     "next_sentence_logits": keras.losses.SparseCategoricalCrossentropy(
    ...         from_logits=True)})
  """

  def __init__(self, encoder, next_sentence=True, **kwargs):
    if isinstance(encoder, dict):
      encoder = keras.saving.deserialize_keras_object(encoder)
    kwargs.setdefault("name", "bert_pretrainer")
    config = encoder.config
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in FEATURES + ("masked_lm_positions",)}
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

    Example:
      >>> pre = BertPretrainer.from_pretrained("uncased_L-12_H-768_A-12/")
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
      >>> pre.save_pretrained("/tmp/my_bert")
    """
    from keras_bert_lab.checkpoints import save_pretrained
    save_pretrained(self, path)
