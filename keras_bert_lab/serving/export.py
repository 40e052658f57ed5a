"""SavedModels that take raw text, for TF Serving, `saved_model_cli` and TF Hub.

One small builder per task wraps the fine-tuned Keras model in a `tf.Module`
whose `tf.function`s (fixed `input_signature`, batch dimension `None`) run
the whole path in the graph: tokenization (`BertTokenizer`), packing
(`BertPacker`, `multiple_choice.pack_choices`, `tagging.align_words`,
`squad.squad_features` with its doc-stride windows), the Keras model, and
post-processing (softmax and label names, word-level tags,
`squad.squad_postprocess`). Only TensorFlow and tensorflow-text ops end up in
the graph, so the SavedModel loads with `tensorflow` + `tensorflow_text`
alone (no keras, no keras_bert_lab), and in TF Serving, which links
tensorflow-text's ops.

Why by hand: `keras.Model.export` / `keras.export.ExportArchive` export the
model's own inputs (token ids) and keras-hub's exported classifiers leave the
preprocessor out; Model Garden's serving modules take token ids (QA,
tagging) and need tf-models-official. None post-processes QA spans or
tagging words in the graph. `tf.saved_model.save` cannot set a signature's
method name, so `serve_examples` gets TF Serving's classify/regress method
name by editing the written `saved_model.pb` (`_set_method_name`).

Layout: `export(model_dir, export_dir)` writes `export_dir/<version>/`
(TF Serving's versioned layout) for a fine-tuned model, and
`export_dir/preprocess/<version>/` + `export_dir/encoder/<version>/` for a
pre-trained encoder (TF-Hub style pair). Each is written to a hidden
temporary folder beside it and renamed into place, so a killed export leaves
no half-written version folder.
"""

import logging
import os
import shutil
import time

import tensorflow as tf

logger = logging.getLogger("keras_bert_lab")

TASK_KINDS = ("classification", "regression", "tagging", "squad",
              "multiple_choice")
DEFAULT_PRETRAIN_SEQ_LENGTH = 128
_STRING_BATCH = tf.TensorSpec([None], tf.string)
# Rows per length-sorted micro-batch (`_Serving._run_sorted`).
MICRO_BATCH = 8
# With `--jit_compile`, lengths round up to this (fewer XLA compilations).
XLA_LENGTH_MULTIPLE = 16
# Feature keys of the tf.Examples `serve_examples` parses.
EXAMPLE_TEXT_KEY = "text"
EXAMPLE_TEXT_B_KEY = "text_b"
_MLM_BIAS = "cls/predictions/output_bias"
_NSP_WEIGHTS = "cls/seq_relationship/output_weights"


def _tf_variables(*models):
  """The `tf.Variable`s behind Keras variables, to track on the module.

  Tracked through the Keras model alone, the variables are saved but not
  restored by TF1-style loaders (`saved_model_cli run`, TF Serving's
  session bundle): "Could not find variable ...". Tracking the underlying
  `tf.Variable`s directly puts them in the SavedModel's own saver.
  """
  seen, result = set(), []
  for model in models:
    if model is None:
      continue
    for variable in model.variables:
      value = getattr(variable, "value", variable)
      if id(value) not in seen:
        seen.add(id(value))
        result.append(value)
  return result


def _row_lengths(mask):
  """Tokens per example of an int mask [batch, ..., seq] -> int32 [batch]."""
  tokens = tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)
  return tf.reduce_max(tf.reshape(tokens, [tf.shape(mask)[0], -1]), axis=1)


def _features(word_ids, mask, type_ids):
  return {"input_word_ids": word_ids, "input_mask": mask,
          "input_type_ids": type_ids}


class _Serving(tf.Module):
  """Base: holds the Keras model (its variables are saved with the module)."""

  def __init__(self, model, tokenizer, seq_length, name=None):
    super().__init__(name=name)
    self.model = model
    self.tf_variables = _tf_variables(model)
    self.tokenizer = tokenizer
    self.seq_length = int(seq_length)
    self._xla_model = None

  def use_xla(self):
    """Compiles the model call with XLA (call before `signatures()`).

    Lengths are then rounded up to a multiple of `XLA_LENGTH_MULTIPLE`, so
    at most `seq_length / XLA_LENGTH_MULTIPLE` shapes per batch size
    compile. TF Serving runs XLA:CPU only with
    `--xla_cpu_compilation_enabled=true` (experimental there).
    """
    model = self.model
    self._xla_model = tf.function(
        lambda features: model(features, training=False), jit_compile=True,
        autograph=False)

  def _run(self, features):
    if self._xla_model is not None:
      return self._xla_model(features)
    return self.model(features, training=False)

  def _cut(self, features, length):
    """Features cut to `length` tokens (rounded up to XLA's multiple)."""
    if self._xla_model is not None:
      length = tf.minimum(-(-length // XLA_LENGTH_MULTIPLE)
                          * XLA_LENGTH_MULTIPLE, self.seq_length)
    return {k: v[..., :length] for k, v in features.items()}

  def _run_trimmed(self, features):
    """The model on features cut to the batch's longest row.

    Attention masks the padding, so the outputs of real tokens do not
    change (to float rounding); sequence outputs come back padded with 0
    to `seq_length`.
    """
    features = self._cut(features,
                         tf.reduce_max(_row_lengths(features["input_mask"])))
    outputs = self._run(features)
    pad = [[0, 0], [0, self.seq_length - tf.shape(outputs)[1]], [0, 0]]
    return tf.pad(outputs, pad[:len(outputs.shape)])

  def _run_sorted(self, features, width):
    """Per-example outputs from length-sorted micro-batches.

    Rows are sorted by length and run `MICRO_BATCH` at a time, each
    micro-batch cut to its own longest row, then put back in input order.
    A batch-1 call runs at the text's own length; a batch of 32 reviews
    (median 69 of 128 tokens) needs ~1.7x less compute than padding all
    rows to 128.

    Args:
      features: the model's int32 inputs, [batch, ..., seq_length].
      width: the model's outputs per example (its output is [batch, width]).

    Returns:
      float32 [batch, width].
    """
    lengths = _row_lengths(features["input_mask"])
    order = tf.argsort(lengths, stable=True)
    features = {k: tf.gather(v, order) for k, v in features.items()}
    lengths = tf.gather(lengths, order)
    batch = tf.size(lengths)
    steps = (batch + MICRO_BATCH - 1) // MICRO_BATCH
    results = tf.TensorArray(tf.float32, size=steps, infer_shape=False,
                             element_shape=[None, None])

    def step(i, results):
      rows = slice(i * MICRO_BATCH, tf.minimum((i + 1) * MICRO_BATCH, batch))
      outputs = self._run(self._cut({k: v[rows] for k, v in features.items()},
                                    tf.reduce_max(lengths[rows])))
      return i + 1, results.write(i, tf.cast(outputs, tf.float32))

    _, results = tf.while_loop(lambda i, _: i < steps, step, [0, results])
    sorted_outputs = tf.cond(   # concat() of no elements has no shape
        steps > 0, lambda: tf.reshape(results.concat(), [batch, width]),
        lambda: tf.zeros([0, width]))
    return tf.gather(sorted_outputs, tf.argsort(order))

  def signatures(self):
    """`{signature name: concrete function}` to save."""
    raise NotImplementedError


class ClassifierServing(_Serving):
  """Sentence / pair classification and regression on raw strings.

  Signatures:
    * `serving_default(text[, text_b])` -> `probabilities` float32 [None, C]
      and `label` string [None]; regression -> `score` float32 [None]. Pair
      models take `text_b` too; an empty `text_b` packs as a single text, as
      in training (`classification_dataset`).
    * `serve_examples(inputs)`: serialized `tf.Example`s with bytes
      features `text` (and `text_b`); TF Serving's classify API (`classes`
      string [None, C], `scores` float32 [None, C]) or regress API
      (`outputs` float32 [None]).

  Args:
    model: a `BertClassifier`.
    tokenizer: the model's `BertTokenizer`.
    seq_length: packed length.
    labels: label names (classification), index = class id.
    pair: whether the model was trained on text pairs.
    regression: whether the model outputs one score.
    truncation: `BertPacker` truncation for pairs (training's).

  Example:
    >>> module = ClassifierServing(clf, tok, 128, ["neg", "pos"])
    >>> module.serve(tf.constant(["great"]))["label"]
  """

  def __init__(self, model, tokenizer, seq_length, labels=None, pair=False,
               regression=False, truncation="longest_first"):
    super().__init__(model, tokenizer, seq_length)
    from keras_bert_lab.text import BertPacker
    self.regression = bool(regression)
    self.pair = bool(pair)
    if not self.regression:
      labels = list(labels) if labels else [
          f"LABEL_{i}" for i in range(model.num_outputs)]
      if len(labels) != model.num_outputs:
        raise ValueError(
            f"{len(labels)} labels ({labels}) for a head of "
            f"{model.num_outputs} classes; fix `labels` in task.json.")
    self.labels = labels
    # One segment: waterfall keeps the head (classification_dataset's rule).
    self._single_packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                                   truncation="waterfall")
    self._pair_packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                                 truncation=truncation)
    if self.pair:
      self.serve = tf.function(self._serve_pair,
                               input_signature=[_STRING_BATCH, _STRING_BATCH])
    else:
      self.serve = tf.function(self._serve_single,
                               input_signature=[_STRING_BATCH])
    self.serve_examples = tf.function(self._serve_examples,
                                      input_signature=[_STRING_BATCH])

  def _pack(self, text, text_b):
    segments = [self.tokenizer(text)]
    features = self._single_packer(segments)
    if text_b is not None:
      single = tf.equal(text_b, "")
      paired = self._pair_packer(segments + [self.tokenizer(text_b)])
      features = {k: tf.where(single[:, tf.newaxis], v, paired[k])
                  for k, v in features.items()}
    return features

  def _outputs(self, text, text_b):
    logits = self._run_sorted(self._pack(text, text_b),
                              self.model.num_outputs)
    if self.regression:
      return {"score": logits[:, 0]}
    probabilities = tf.nn.softmax(logits, axis=-1)
    label = tf.gather(tf.constant(self.labels),
                      tf.argmax(logits, axis=-1, output_type=tf.int32))
    return {"probabilities": probabilities, "label": label}

  def _serve_single(self, text):
    return self._outputs(text, None)

  def _serve_pair(self, text, text_b):
    return self._outputs(text, text_b)

  def _serve_examples(self, inputs):
    spec = {EXAMPLE_TEXT_KEY: tf.io.FixedLenFeature([], tf.string,
                                                    default_value="")}
    if self.pair:
      spec[EXAMPLE_TEXT_B_KEY] = tf.io.FixedLenFeature([], tf.string,
                                                       default_value="")
    parsed = tf.io.parse_example(inputs, spec)
    out = self._outputs(parsed[EXAMPLE_TEXT_KEY],
                        parsed.get(EXAMPLE_TEXT_B_KEY))
    if self.regression:
      return {"outputs": out["score"]}
    batch = tf.shape(inputs)[0]
    classes = tf.tile(tf.constant(self.labels)[tf.newaxis], [batch, 1])
    return {"classes": classes, "scores": out["probabilities"]}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function(),
            "serve_examples": self.serve_examples.get_concrete_function()}

  def method_names(self):
    """TF Serving API method per signature (besides predict)."""
    method = ("tensorflow/serving/regress" if self.regression else
              "tensorflow/serving/classify")
    return {"serve_examples": method}


class TaggerServing(_Serving):
  """Word-level tags of raw text.

  The text is cleaned (the tokenizer's `normalize` without lower-casing) and
  split into words by BERT's basic tokenization: whitespace, each
  punctuation character, and each CJK ideograph (so Chinese words are
  characters). Words are then tokenized one by one and labelled at their
  first wordpiece, as in training (`tagging.align_words`).

  Signature `serving_default(text)` -> `words` string [None, W], `labels`
  string [None, W], both padded with "". Only words whose first wordpiece
  fits in `seq_length` are returned (W = the most that fit in the batch).

  Args:
    model: a `BertTokenClassifier`.
    tokenizer: its `BertTokenizer`.
    seq_length: packed length.
    labels: the tag list (index = tag id).
    empty_words: `align_words`' rule for words without wordpieces.

  Example:
    >>> TaggerServing(tagger, tok, 128, ["O", "B-PER", "I-PER"]).serve(
    ...     tf.constant(["Ann lives here"]))["labels"]
  """

  def __init__(self, model, tokenizer, seq_length, labels, empty_words="unk"):
    super().__init__(model, tokenizer, seq_length)
    labels = list(labels) if labels else [
        f"LABEL_{i}" for i in range(model.num_outputs)]
    if len(labels) != model.num_outputs:
      raise ValueError(f"{len(labels)} tags ({labels}) for a head of "
                       f"{model.num_outputs}; fix `labels` in task.json.")
    self.labels = labels
    self.empty_words = empty_words
    self.serve = tf.function(self._serve, input_signature=[_STRING_BATCH])

  def split(self, text):
    """Raw text -> ragged [batch, (words)] with the original's casing."""
    from keras_bert_lab.text.tokenizer import normalize, split_words
    return split_words(normalize(text, lower_case=False))[0]

  def _serve(self, text):
    from keras_bert_lab.data.tasks.tagging import align_words
    words = self.split(text)
    features, index = align_words(words, self.tokenizer, self.seq_length,
                                  self.empty_words)
    logits = self._run_trimmed(features)
    tag_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    word_tags = tf.ragged.boolean_mask(tag_ids, index >= 0)
    fitted = word_tags.row_lengths()
    position = tf.ragged.range(words.row_lengths())
    kept = tf.ragged.boolean_mask(words, position < fitted[:, tf.newaxis])
    labels = tf.gather(tf.constant(self.labels), word_tags)
    return {"words": kept.to_tensor(""), "labels": labels.to_tensor("")}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function()}


class SquadServing(_Serving):
  """Extractive QA on raw (question, context) strings.

  Windows over long contexts (`squad.squad_features`, doc stride), the span
  model on every window, and the original `write_predictions`
  (`squad.squad_postprocess`: n-best, max context, null threshold), all in
  the graph.

  Signature `serving_default(question, context)` -> `answer` string [None],
  `answer_start`, `answer_end` int32 [None] (characters `[start, end)` of
  `context`; -1 for no answer), `score` float32 [None] (start + end logit;
  v2.0's null score for ""). v2.0 models answer "" when the null score wins;
  an empty context answers "".

  Args:
    model: a `BertSpanLabeler`.
    tokenizer: its `BertTokenizer`.
    seq_length: window length.
    settings: dict of `doc_stride`, `max_query_length`, `n_best_size`,
      `max_answer_length`, `version_2_with_negative`,
      `null_score_diff_threshold` (missing keys take the original's
      defaults).

  Example:
    >>> SquadServing(qa, tok, 384, {"doc_stride": 128}).serve(
    ...     tf.constant(["Who?"]), tf.constant(["Ann came."]))["answer"]
  """

  def __init__(self, model, tokenizer, seq_length, settings=None):
    super().__init__(model, tokenizer, seq_length)
    from keras_bert_lab.data.tasks import squad
    settings = dict(settings or {})
    self.doc_stride = int(settings.get("doc_stride") or squad.DOC_STRIDE)
    self.max_query_length = int(settings.get("max_query_length")
                                or squad.MAX_QUERY_LENGTH)
    if self.seq_length <= self.max_query_length + 3:
      # As squad_features, but name the export flag.
      self.max_query_length = max(1, self.seq_length // 2)
      logger.warning(
          "max_query_length lowered to %d to fit --max_seq_length=%d.",
          self.max_query_length, self.seq_length)
    self.post = dict(
        n_best_size=int(settings.get("n_best_size") or squad.N_BEST_SIZE),
        max_answer_length=int(settings.get("max_answer_length")
                              or squad.MAX_ANSWER_LENGTH),
        version_2_with_negative=bool(settings.get("version_2_with_negative")),
        null_score_diff_threshold=float(
            settings.get("null_score_diff_threshold")
            or squad.NULL_SCORE_DIFF_THRESHOLD))
    self.serve = tf.function(self._serve,
                             input_signature=[_STRING_BATCH, _STRING_BATCH])

  def _serve(self, question, context):
    from keras_bert_lab.data.tasks import squad
    windows = squad.squad_features(
        self.tokenizer, question, context, max_seq_length=self.seq_length,
        doc_stride=self.doc_stride, max_query_length=self.max_query_length)
    logits = self._run(squad.model_inputs(windows))
    out = squad.squad_postprocess(
        logits["start_logits"], logits["end_logits"], windows, context,
        **self.post)
    return {k: out[k] for k in ("answer", "answer_start", "answer_end",
                                "score")}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function()}


class MultipleChoiceServing(_Serving):
  """Multiple choice (SWAG) on raw strings.

  Signature `serving_default(context: string [None], choices: string
  [None, K])` -> `probabilities` float32 [None, K] (softmax over the
  choices), `choice` int32 [None] (the best choice's index). Each choice is
  packed `[CLS] context [SEP] choice [SEP]` (`multiple_choice.pack_choices`,
  longest-first truncation as in training).

  Args:
    model: a `BertMultipleChoice`.
    tokenizer: its `BertTokenizer`.
    seq_length: packed length of each choice.
    truncation: the packer's truncation (training's).

  Example:
    >>> MultipleChoiceServing(mc, tok, 128).serve(
    ...     tf.constant(["He opens the door."]),
    ...     tf.constant([["He walks in.", "He sings."]]))["choice"]
  """

  def __init__(self, model, tokenizer, seq_length,
               truncation="longest_first"):
    super().__init__(model, tokenizer, seq_length)
    from keras_bert_lab.text import BertPacker
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation=truncation)
    self.serve = tf.function(self._serve, input_signature=[
        _STRING_BATCH, tf.TensorSpec([None, None], tf.string)])

  def _serve(self, context, choices):
    from keras_bert_lab.data.tasks.multiple_choice import pack_choices
    features = pack_choices(self.tokenizer, self._packer, context, choices)
    logits = self._run_sorted(features,
                              tf.shape(features["input_word_ids"])[1])
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "choice": tf.argmax(logits, axis=-1, output_type=tf.int32)}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function()}


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

  Example:
    >>> pre = tf.saved_model.load("export/preprocess/1")
    >>> pre.bert_pack_inputs([pre.tokenize(q), pre.tokenize(a)])
  """

  def __init__(self, tokenizer, seq_length):
    super().__init__()
    from keras_bert_lab.text import BertPacker
    self.tokenizer = tokenizer
    self.seq_length = int(seq_length)
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation="round_robin")
    self.tokenize = tf.function(self._tokenize,
                                input_signature=[_STRING_BATCH])
    self.bert_pack_inputs = tf.function(self._pack)
    self.serve = tf.function(self._serve, input_signature=[_STRING_BATCH])
    self.serve_pair = tf.function(
        self._serve_pair, input_signature=[_STRING_BATCH, _STRING_BATCH])
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
    return self._pack([self._tokenize(text)])

  def _serve_pair(self, text, text_b):
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

  Example:
    >>> enc = tf.saved_model.load("export/encoder/1")
    >>> enc.signatures["embed"](text=tf.constant(["hello"]))["embedding"]
  """

  def __init__(self, encoder, tokenizer, seq_length, pretrainer=None):
    super().__init__()
    from keras_bert_lab.text import BertPacker
    self.model = encoder
    self.pretrainer = pretrainer
    self.tf_variables = _tf_variables(encoder, pretrainer)
    self.tokenizer = tokenizer
    self.seq_length = int(seq_length)
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation="round_robin")
    ids = tf.TensorSpec([None, None], tf.int32)
    self.serve = tf.function(self._serve, input_signature=[ids, ids, ids])
    self.embed = tf.function(self._embed, input_signature=[_STRING_BATCH])
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
    out = self._call(_features(input_word_ids, input_mask, input_type_ids))
    out["encoder_outputs"] = tf.stack(out["encoder_outputs"], axis=1)
    return out

  def _mlm(self, input_word_ids, input_mask, input_type_ids,
           masked_lm_positions):
    features = _features(input_word_ids, input_mask, input_type_ids)
    features["masked_lm_positions"] = masked_lm_positions
    out = self.pretrainer(features, training=False)
    return {"mlm_logits": tf.cast(out["masked_lm_logits"], tf.float32)}

  def _embed(self, text):
    features = self._packer([self.tokenizer(text)])
    sequence = tf.cast(self.model(features, training=False)["sequence_output"],
                       tf.float32)
    mask = tf.cast(features["input_mask"], tf.float32)[:, :, tf.newaxis]
    total = tf.reduce_sum(sequence * mask, axis=1)
    return {"embedding": total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)}

  def signatures(self):
    result = {"serving_default": self.serve.get_concrete_function(),
              "embed": self.embed.get_concrete_function()}
    if self.pretrainer is not None:
      result["mlm"] = self.mlm.get_concrete_function()
    return result


# ------------------------------------------------------------- loading --

def _vocab_file(folder, model):
  path = os.path.join(folder, "vocab.txt")
  if os.path.exists(path):
    return path
  raise ValueError(
      f"{folder} has no vocab.txt; the export tokenizes in the graph and "
      "needs the model's WordPiece vocabulary there (save_pretrained writes "
      "it).")


def resolve_model_dir(model_dir):
  """The folder that holds the model: `model_dir`, or its `pretrained/`.

  Args:
    model_dir: a fine-tuning `model_dir`, a pre-training `model_dir` (its
      `pretrained/` folder is used) or any checkpoint folder.

  Returns:
    The folder path.

  Raises:
    ValueError: no such folder.
  """
  model_dir = os.fspath(model_dir)
  if not os.path.isdir(model_dir):
    raise ValueError(f"--model_dir={model_dir} is not a folder; pass a "
                     "finetune or pretrain model_dir (or a save_pretrained "
                     "folder).")
  # A pretrain model_dir also holds bert_config.json and training
  # checkpoints (TF2 object checkpoints, not a model); its model is
  # `pretrained/`.
  nested = os.path.join(model_dir, "pretrained")
  if (os.path.isdir(nested)
      and not os.path.exists(os.path.join(model_dir, "config.json"))
      and not os.path.exists(os.path.join(model_dir, "task.json"))):
    return nested
  return model_dir


def build_serving(model_dir, max_seq_length=None, jit_compile=False):
  """Loads a model folder and wraps it in its serving module(s).

  Args:
    model_dir: see `resolve_model_dir`. A folder with `task.json` (or an HF
      `BertFor...` task folder) is a fine-tuned model; anything else
      `BertEncoder.from_pretrained` reads is a pre-trained encoder.
    max_seq_length: packed length; default `task.json`'s
      `max_seq_length`, or 128 for an encoder.
    jit_compile: compile a task model's call with XLA
      (`_Serving.use_xla`); task models only.

  Returns:
    `{relative folder: module}`: `{"": task module}` for a task model,
    `{"preprocess": ..., "encoder": ...}` for an encoder.

  Raises:
    ValueError: a folder that is not a model, a missing vocab.txt, or a
      `max_seq_length` above the model's position table.
  """
  from keras_bert_lab.models.tasks import load_task_model, read_task_metadata
  from keras_bert_lab.text import BertTokenizer
  folder = resolve_model_dir(model_dir)
  meta = read_task_metadata(folder)
  if meta:
    model, info = load_task_model(folder)
    seq_length = int(max_seq_length or info.get("max_seq_length") or 128)
    _check_length(seq_length, model.config, folder)
    tokenizer = BertTokenizer(_vocab_file(folder, model),
                              lower_case=model.lower_case)
    task = info["task"]
    labels = info.get("labels")
    if task in ("classification", "regression"):
      pair = info.get("pair")
      if pair is None:
        pair = bool(info.get("text_b_column"))
      module = ClassifierServing(
          model, tokenizer, seq_length, labels, pair=pair,
          regression=(task == "regression"),
          truncation=info.get("truncation") or "longest_first")
    elif task == "tagging":
      module = TaggerServing(model, tokenizer, seq_length, labels,
                             empty_words=info.get("empty_words") or "unk")
    elif task == "squad":
      module = SquadServing(model, tokenizer, seq_length, info)
    else:
      module = MultipleChoiceServing(
          model, tokenizer, seq_length,
          truncation=info.get("truncation") or "longest_first")
    if jit_compile:
      module.use_xla()
    return {"": module}
  if jit_compile:
    raise ValueError(f"--jit_compile applies to fine-tuned task models; "
                     f"{folder} is a pre-trained encoder. Drop the flag.")
  from keras_bert_lab.checkpoints import set_weights
  from keras_bert_lab.models.encoder import encoder_for_checkpoint
  from keras_bert_lab.models.pretrainer import BertPretrainer
  encoder, ckpt = encoder_for_checkpoint(folder)
  seq_length = int(max_seq_length or min(DEFAULT_PRETRAIN_SEQ_LENGTH,
                                         encoder.config.max_position_embeddings))
  _check_length(seq_length, encoder.config, folder)
  pretrainer = None
  if _MLM_BIAS in ckpt.weights:
    pretrainer = BertPretrainer(encoder,
                                next_sentence=_NSP_WEIGHTS in ckpt.weights)
    set_weights(pretrainer, ckpt.weights, ckpt.source)
  else:
    set_weights(encoder, ckpt.weights, ckpt.source)
  tokenizer = BertTokenizer(_vocab_file(folder, encoder),
                            lower_case=encoder.lower_case)
  return {"preprocess": PreprocessServing(tokenizer, seq_length),
          "encoder": EncoderServing(encoder, tokenizer, seq_length,
                                    pretrainer)}


def _check_length(seq_length, config, folder):
  if seq_length < 8:
    raise ValueError(f"--max_seq_length={seq_length} is too short; use at "
                     "least 8.")
  if seq_length > config.max_position_embeddings:
    raise ValueError(
        f"--max_seq_length={seq_length} exceeds the model's "
        f"max_position_embeddings={config.max_position_embeddings} "
        f"({folder}/config.json); use at most that.")


# -------------------------------------------------------------- saving --

def _set_method_name(path, method_names):
  """Sets TF Serving method names on signatures (the classify/regress APIs).

  Args:
    path: a SavedModel folder.
    method_names: `{signature: method_name}`.
  """
  from tensorflow.core.protobuf import saved_model_pb2
  pb = os.path.join(path, "saved_model.pb")
  proto = saved_model_pb2.SavedModel()
  with open(pb, "rb") as f:
    proto.ParseFromString(f.read())
  for meta_graph in proto.meta_graphs:
    for name, method in method_names.items():
      meta_graph.signature_def[name].method_name = method
  with open(pb, "wb") as f:
    f.write(proto.SerializeToString())


def save_module(module, path):
  """Writes `module` as a SavedModel at `path`, atomically.

  Writes to a hidden temporary folder beside `path`, then renames it; a
  killed export leaves only the hidden folder (TF Serving ignores folders
  whose name is not a number), never a partial `path`.

  Args:
    module: one of this module's serving classes.
    path: the final folder; must not exist.

  Raises:
    FileExistsError: `path` exists.
  """
  path = os.fspath(path)
  if os.path.exists(path):
    raise FileExistsError(
        f"{path} exists; pass another --version (or remove it).")
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}")
  if os.path.exists(tmp):
    shutil.rmtree(tmp)
  try:
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    if hasattr(module, "method_names"):
      _set_method_name(tmp, module.method_names())
    os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def export(model_dir, export_dir, version=None, max_seq_length=None,
           jit_compile=False):
  """Exports a fine-tuned or pre-trained model as raw-text SavedModels.

  Args:
    model_dir: a finetune `model_dir` (save_pretrained layout + task.json),
      a pretrain `model_dir` (its `pretrained/`), or a checkpoint folder.
    export_dir: the base folder (TF Serving's model base path).
    version: a non-negative integer (TF Serving's version folder name);
      default the current Unix time.
    max_seq_length: packed length; default task.json's (128 for encoders).
    jit_compile: XLA for a task model's call (see `build_serving`).

  Returns:
    List of the SavedModel folders written: `[export_dir/<version>]`, or
    `[export_dir/preprocess/<version>, export_dir/encoder/<version>]`.

  Raises:
    ValueError: a bad `version` or model folder.
    FileExistsError: the version folder exists.

  Example:
    >>> export("runs/sst2", "exported/sst2", version=1)
    ['exported/sst2/1']
  """
  if version is None:
    version = int(time.time())
  version = str(version)
  if not version.isdigit():
    raise ValueError(f"--version={version!r}: TF Serving loads only numeric "
                     "version folders; pass a non-negative integer.")
  from keras_bert_lab.models.tasks import read_task_metadata
  subs = ([""] if read_task_metadata(resolve_model_dir(model_dir))
          else ["preprocess", "encoder"])
  paths = [os.path.join(export_dir, sub, version) if sub
           else os.path.join(export_dir, version) for sub in subs]
  clash = [p for p in paths if os.path.exists(p)]
  if clash:   # before any loading: fail fast
    raise FileExistsError(f"{clash[0]} exists; pass another --version.")
  modules = build_serving(model_dir, max_seq_length, jit_compile)
  for module, path in zip(modules.values(), paths):
    save_module(module, path)
    logger.info("Exported %s", path)
  return paths
