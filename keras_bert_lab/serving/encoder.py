"""Serving a pre-trained encoder, TF-Hub style: a preprocessor and an encoder.

Why by hand: TF Hub's BERT preprocessors are SavedModels built by
tensorflow-models code, and keras-hub's exported backbones take token ids;
these two modules give the same pair (raw text -> features, features ->
outputs) from this package's tokenizer and encoder, plus masked-LM logits
and mean-pooled text embeddings (`models.features.MaskedMeanPooling`).
"""

import tensorflow as tf

from keras_bert_lab.models.features import MaskedMeanPooling
from keras_bert_lab.serving.limits import InputLimits
from keras_bert_lab.serving.savedmodel import (STRING_BATCH, hold_untracked,
                                              tf_variables)


def _features(word_ids, mask, type_ids):
  return {"input_word_ids": word_ids, "input_mask": mask,
          "input_type_ids": type_ids}


class PreprocessServing(tf.Module):
  """TF-Hub style BERT preprocessing: strings to the encoder's inputs.

  Signatures: `serving_default(text)` and `pair(text, text_b)` -> int32
  [None, seq_length] `input_word_ids`, `input_mask`, `input_type_ids`.
  Functions (callable after `tf.saved_model.load`, as TF Hub's BERT
  preprocessors): `tokenize(text)` -> ragged int32 [batch, (tokens)]
  (wordpieces, flat per text: TF Hub's has a words dimension too), and
  `bert_pack_inputs([segment, ...])` for one or two such ragged segments ->
  the three features (round-robin truncation, as TF Hub's).

  Args:
    tokenizer: a `BertTokenizer`.
    seq_length: packed length.
    limits: the `InputLimits` the signatures check (default
      `InputLimits()`).

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> pre = PreprocessServing(tok, 8)  # or tf.saved_model.load(its export)
    >>> f = pre.bert_pack_inputs([pre.tokenize(tf.constant(["the end"])),
    ...                           pre.tokenize(tf.constant(["the"]))])
    >>> [f[k].numpy().tolist() for k in ("input_word_ids", "input_type_ids")]
    [[[2, 57, 407, 3, 57, 3, 0, 0]], [[0, 0, 0, 0, 1, 1, 0, 0]]]
  """

  def __init__(self, tokenizer, seq_length, limits=None):
    super().__init__()
    from keras_bert_lab.text import BertPacker
    self.limits = limits or InputLimits()
    self.tokenizer = tokenizer
    self.seq_length = int(seq_length)
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation="round_robin")
    self.tokenize = tf.function(self._tokenize,
                                input_signature=[STRING_BATCH])
    self.bert_pack_inputs = tf.function(self._pack)
    self.serve = tf.function(self._serve, input_signature=[STRING_BATCH])
    self.serve_pair = tf.function(
        self._serve_pair, input_signature=[STRING_BATCH, STRING_BATCH])
    segment = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1,
                                  row_splits_dtype=tf.int64)
    for count in (1, 2):   # trace both, so the loaded function has them
      self.bert_pack_inputs.get_concrete_function([segment] * count)

  def _tokenize(self, text):
    ids = self.tokenizer(text)
    return tf.RaggedTensor.from_row_splits(
        tf.cast(ids.flat_values, tf.int32), tf.cast(ids.row_splits, tf.int64))

  def _pack(self, segments):
    return self._packer(list(segments))

  def _serve(self, text):
    (text,) = self.limits.check(text=text)
    return self._pack([self._tokenize(text)])

  def _serve_pair(self, text, text_b):
    text, text_b = self.limits.check(text=text, text_b=text_b)
    return self._pack([self._tokenize(text), self._tokenize(text_b)])

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function(),
            "pair": self.serve_pair.get_concrete_function()}


class EncoderServing(tf.Module):
  """TF-Hub style BERT encoder, plus masked-LM logits and text embeddings.

  Signatures:
    * `serving_default(input_word_ids, input_mask, input_type_ids)` int32
      [None, None] -> `pooled_output` [None, H], `sequence_output`
      [None, S, H], `encoder_outputs` [None, L, S, H] (every block's output,
      stacked after the batch dimension so that TF Serving's row format
      works); float32.
    * `mlm(...the three..., masked_lm_positions int32 [None, P])` ->
      `mlm_logits` float32 [None, P, V] (only when the model has the heads).
    * `embed(text)` -> `embedding` float32 [None, H]: the mask-weighted mean
      of the last layer (sentence-transformers' mean pooling, not
      L2-normalized) of `[CLS] text [SEP]` packed to `seq_length`.
  `__call__(features)` (TF Hub's reusable-SavedModel call) returns
  `encoder_outputs` as a list, like `BertEncoder`.

  Args:
    encoder: a `BertEncoder`.
    tokenizer: its `BertTokenizer`.
    seq_length: packed length for `embed`.
    pretrainer: optional `BertPretrainer` over `encoder` (adds `mlm`).
    limits: the `InputLimits` the signatures check (default
      `InputLimits()`).

  Example:
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertEncoder
    >>> encoder = BertEncoder.from_vocab()
    >>> module = EncoderServing(encoder, tasks.load_tokenizer(encoder), 16)
    >>> module.embed(tf.constant(["the end"]))["embedding"].shape
    TensorShape([1, 128])
  """

  def __init__(self, encoder, tokenizer, seq_length, pretrainer=None,
               limits=None):
    super().__init__()
    from keras_bert_lab.text import BertPacker
    self.limits = limits or InputLimits()
    hold_untracked(self, model=encoder, pretrainer=pretrainer)
    self.tf_variables = tf_variables(encoder, pretrainer)
    self.tokenizer = tokenizer
    self.seq_length = int(seq_length)
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation="round_robin")
    self._mean = MaskedMeanPooling()   # BertFeatureExtractor's "mean"
    ids = tf.TensorSpec([None, None], tf.int32)
    self.serve = tf.function(self._serve, input_signature=[ids, ids, ids])
    self.embed = tf.function(self._embed, input_signature=[STRING_BATCH])
    self.__call__ = tf.function(self._call, input_signature=[{
        "input_word_ids": ids, "input_mask": ids, "input_type_ids": ids}])
    if pretrainer is not None:
      self.mlm = tf.function(self._mlm, input_signature=[ids, ids, ids, ids])

  def _call(self, features):
    out = self.model(features, training=False)
    return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
            "sequence_output": tf.cast(out["sequence_output"], tf.float32),
            "encoder_outputs": [tf.cast(x, tf.float32)
                                for x in out["encoder_outputs"]]}

  def _serve(self, input_word_ids, input_mask, input_type_ids):
    input_word_ids, input_mask, input_type_ids = self.limits.check(
        input_word_ids=input_word_ids, input_mask=input_mask,
        input_type_ids=input_type_ids)
    out = self._call(_features(input_word_ids, input_mask, input_type_ids))
    out["encoder_outputs"] = tf.stack(out["encoder_outputs"], axis=1)
    return out

  def _mlm(self, input_word_ids, input_mask, input_type_ids,
           masked_lm_positions):
    input_word_ids, input_mask, input_type_ids = self.limits.check(
        input_word_ids=input_word_ids, input_mask=input_mask,
        input_type_ids=input_type_ids)
    features = _features(input_word_ids, input_mask, input_type_ids)
    features["masked_lm_positions"] = masked_lm_positions
    out = self.pretrainer(features, training=False)
    return {"mlm_logits": tf.cast(out["masked_lm_logits"], tf.float32)}

  def _embed(self, text):
    (text,) = self.limits.check(text=text)
    features = self._packer([self.tokenizer(text)])
    sequence = self.model(features, training=False)["sequence_output"]
    return {"embedding": self._mean(sequence, features["input_mask"])}

  def signatures(self):
    result = {"serving_default": self.serve.get_concrete_function(),
              "embed": self.embed.get_concrete_function()}
    if self.pretrainer is not None:
      result["mlm"] = self.mlm.get_concrete_function()
    return result
