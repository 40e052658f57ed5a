"""Pack token segments into BERT's inputs: `[CLS] A [SEP] B [SEP]`, padded.

Built on tensorflow-text's trimmers, `combine_segments` and
`pad_model_inputs`. The only glue written here is the choice of trimmer:
the original `run_classifier.py` rule ("longest_first": drop the last token
of the longer segment, B on a tie) is tensorflow-text's
`ShrinkLongestTrimmer` applied to the segments in reverse order, since that
trimmer breaks ties toward the first segment it is given. keras-hub's
`MultiSegmentPacker` offers only round-robin and waterfall and returns no
mask.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

TRUNCATIONS = ("round_robin", "waterfall", "longest_first")
# The packed inputs, in Model Garden's names: what `BertPacker` returns and
# every model (`keras_bert_lab.models`) and pipeline takes.
FEATURES = ("input_word_ids", "input_mask", "input_type_ids")


class BertPacker(keras.layers.Layer):
  """Turns one or more ragged segments of ids into BERT's packed inputs.

  `[CLS] A [SEP]` for one segment, `[CLS] A [SEP] B [SEP]` for two, and so on;
  segments are first trimmed so that everything fits in `seq_length`.

  Truncation strategies:
    * `"round_robin"`: segments take one token each in turn until the budget
      is spent (the fair share; tensorflow-text's `RoundRobinTrimmer`).
    * `"waterfall"`: the first segment keeps as much as fits, then the next.
    * `"longest_first"`: drop the last token of the longest segment until it
      fits; on a tie, of the later one (the original `run_classifier.py`'s
      `_truncate_seq_pair`, generalized to any number of segments).

  Args:
    seq_length: total length of the packed inputs, special tokens included.
    cls_id, sep_id, pad_id: ids of `[CLS]`, `[SEP]`, `[PAD]`.
    truncation: one of `TRUNCATIONS`.

  Call args:
    segments: a ragged [batch, (tokens)] int tensor, or a list/tuple of them.

  Returns:
    A dict of int32 [batch, seq_length] tensors, keyed by `FEATURES`:
    `input_word_ids`, `input_mask` (1 for real tokens), `input_type_ids` (0
    for `[CLS]`, the first segment and its `[SEP]`, 1 for the second, ...).

  Example:
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> packer = BertPacker.for_tokenizer(tok, seq_length=10)
    >>> packed = packer([tok(["Is it?"]), tok(["Yes."])])
    >>> for name in FEATURES:
    ...   print(name, packed[name].numpy().tolist())
    input_word_ids [[2, ..., 3, ..., 3, 0, 0]]
    input_mask [[1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]
    input_type_ids [[0, 0, 0, 0, 0, 1, 1, 1, 0, 0]]
  """

  def __init__(self, seq_length, cls_id, sep_id, pad_id,
               truncation="round_robin", **kwargs):
    kwargs.setdefault("dtype", "int32")
    kwargs.setdefault("trainable", False)
    super().__init__(**kwargs)
    self._convert_input_args = False
    self._allow_non_tensor_positional_args = True
    if truncation not in TRUNCATIONS:
      raise ValueError(f"truncation={truncation!r} is not one of {TRUNCATIONS}.")
    if int(seq_length) < 2:
      raise ValueError(
          f"seq_length={seq_length} leaves no room for [CLS] and [SEP]; use at "
          "least 2 (and more to hold any text).")
    self.seq_length = int(seq_length)
    self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)
    self.truncation = truncation
    self.built = True

  @classmethod
  def for_tokenizer(cls, tokenizer, seq_length, truncation="round_robin",
                    **kwargs):
    """A packer using `tokenizer`'s `[CLS]`, `[SEP]` and `[PAD]` ids.

    Args:
      tokenizer: a `BertTokenizer` (anything with `cls_id`, `sep_id`,
        `pad_id`).
      seq_length, truncation, **kwargs: as `BertPacker`.

    Returns:
      A `BertPacker`.

    Example:
      >>> from keras_bert_lab.text import BertTokenizer
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "a", "b"])
      >>> packer = BertPacker.for_tokenizer(tok, 6, truncation="longest_first")
      >>> packer([tok(["a a a"]), tok(["b b"])])["input_word_ids"].numpy()
      array([[2, 5, 5, 3, 6, 3]], dtype=int32)
    """
    return cls(seq_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
               truncation=truncation, **kwargs)

  def call(self, segments):
    if isinstance(segments, (list, tuple)):
      segments = list(segments)
    else:
      segments = [segments]
    segments = [tf.cast(s, tf.int32) for s in segments]
    budget = self.seq_length - len(segments) - 1
    if budget < 0:
      raise ValueError(
          f"seq_length={self.seq_length} cannot hold {len(segments)} segments "
          f"with their {len(segments) + 1} special tokens.")
    segments = self._trim(segments, budget)
    ids, type_ids = tf_text.combine_segments(
        segments, start_of_sequence_id=self.cls_id,
        end_of_segment_id=self.sep_id)
    input_word_ids, input_mask = tf_text.pad_model_inputs(
        ids, self.seq_length, pad_value=self.pad_id)
    input_type_ids, _ = tf_text.pad_model_inputs(
        type_ids, self.seq_length, pad_value=0)
    return dict(zip(FEATURES, (input_word_ids, tf.cast(input_mask, tf.int32),
                               tf.cast(input_type_ids, tf.int32))))

  def _trim(self, segments, budget):
    # One segment: every rule keeps its first `budget` tokens (and
    # ShrinkLongestTrimmer fails on one segment inside a tf.function).
    if self.truncation == "waterfall" or len(segments) == 1:
      return tf_text.WaterfallTrimmer(budget).trim(segments)
    if self.truncation == "round_robin":
      return tf_text.RoundRobinTrimmer(budget).trim(segments)
    return tf_text.ShrinkLongestTrimmer(budget).trim(segments[::-1])[::-1]

  def get_config(self):
    config = super().get_config()
    config.update(seq_length=self.seq_length, cls_id=self.cls_id,
                  sep_id=self.sep_id, pad_id=self.pad_id,
                  truncation=self.truncation)
    return config
