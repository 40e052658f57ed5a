"""SQuAD v1.1 / v2.0 as Google's `run_squad.py`, with the windowing in the graph.

Three stages:

  1. **Reading** (host, `squad_json`): `read_squad_json` and
     `read_squad_tfds` give a `SquadExamples` whose `.dataset()` is a
     `tf.data.Dataset` of `{example_index, id, question, context,
     answer_text, answer_start, is_impossible}`.
  2. **Featurisation** (graph; TensorFlow and tensorflow-text ops only, so it
     goes into SavedModels): `squad_features` turns a batch of (question,
     context[, answer]) into `[CLS] query [SEP] doc_window [SEP]` windows with
     the original's rules: query cut to `max_query_length`, windows of
     `max_seq_length - len(query) - 3` doc tokens moved by
     `min(window, doc_stride)`, the answer mapped from characters to
     wordpieces through the original's whitespace words and narrowed by
     `_improve_answer_span`, start/end positions 0 when the answer is not
     inside the window or there is none, and `token_is_max_context` by the
     original's score `min(left, right) + 0.01 * window_length` (first window
     wins ties). `squad_windows` applies it to a dataset (one example, several
     windows: `unbatch`).
  3. **Post-processing** (graph): `squad_postprocess` does the original's
     `write_predictions` on logits: the `n_best_size` best start and end
     indices per window, invalid pairs dropped (outside the context, start not
     in its max-context window, end before start, longer than
     `max_answer_length`), candidates of all windows of an example sorted by
     `start_logit + end_logit`, de-duplicated by text, the n-best list with
     softmax probabilities, and for v2.0 the null score (`[CLS]`, minimum over
     windows) against `null_score_diff_threshold`. `squad_json.prediction_json`
     turns the result into the original's three JSON files.

Why by hand: Model Garden (`squad_lib.py`) and Hugging Face
(`squad_convert_examples_to_features`, `postprocess_qa_predictions`) do all of
this in Python on the host, so none of it can be exported; tensorflow-text has
no windowing or span post-processing op. What is composed here: tensorflow-text
splitting and packing (`regex_split_with_offsets`, `combine_segments`,
`pad_model_inputs`), `tf.ragged.range` for windows, segment reductions for the
max-context rule and per-example n-best, `tf.unique` for de-duplication.

Differences from the original, all deliberate:
  * The final text is `context[char_start:char_end]` of the first and last
    predicted wordpiece, not `get_final_text`'s re-alignment of the
    detokenized pieces with the whitespace words. On ordinary text the two are
    equal (tested on every short span of the fixtures). They differ where
    `get_final_text` is itself off: whitespace runs or newlines inside the
    answer (the original joins words with one space; we keep the context's),
    a prediction whose characters occur earlier in the same words (it takes the
    first `find`), and spans whose lower-casing changes length (it falls back
    to whole words).
  * Offsets are characters (Python `str` indices) of the context; invalid
    UTF-8 bytes count as one character each and come out as U+FFFD in the
    answer text.
  * An example with no valid candidate predicts "" with empty n-best (the
    original writes "empty" in v1.1 and crashes in v2.0); an empty context
    has no windows (as the original) and predicts "".
  * The original's whole-context tokenization is the concatenation of its
    per-word tokenizations, so the context is tokenized once here.
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_lab.data.preprocessor import Preprocessor
from keras_bert_lab.data.squad_json import SquadExamples

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
N_BEST_SIZE = 20
MAX_ANSWER_LENGTH = 30
NULL_SCORE_DIFF_THRESHOLD = 0.0

# `read_squad_examples`' whitespace (space, tab, CR, LF and U+202F; also
# `squad_json`'s), as a regex.
_WHITESPACE_RE = r"[ \t\r\n\x{202F}]+"

WINDOW_KEYS = ("input_word_ids", "input_mask", "input_type_ids",
               "example_index", "window_index", "token_char_start",
               "token_char_end", "token_is_max_context")
MODEL_INPUT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")

# ----------------------------------------------------------- featurisation --


def _row_starts(ragged):
  return ragged.row_splits[:-1]


def _counts_le(ragged_sorted, values, strict):
  """Per row, how many entries of `ragged_sorted` are <= (or <) `values`."""
  cmp = tf.less if strict else tf.less_equal
  hits = tf.cast(cmp(ragged_sorted, tf.expand_dims(values, 1)), tf.int64)
  return tf.reduce_sum(hits, axis=1)


def _char_offsets(contexts):
  """Byte start of every character, and each row's length in bytes.

  Returns:
    `(char_starts, byte_lengths)`: ragged int64 [batch, (chars)] and int64
    [batch]. Invalid UTF-8 bytes count as one character each.
  """
  _, char_starts = tf.strings.unicode_split_with_offsets(
      contexts, "UTF-8", errors="replace")
  return char_starts, tf.cast(tf.strings.length(contexts), tf.int64)


def _bytes_to_chars(char_starts, byte_lengths, row, starts, ends):
  """Byte offsets [start, end) in row `row` to character offsets."""
  # Rows laid end to end give one increasing array for searchsorted.
  row_bytes = tf.cumsum(byte_lengths, exclusive=True)
  flat = (char_starts + tf.expand_dims(row_bytes, 1)).flat_values
  base = tf.gather(_row_starts(char_starts), row)
  offset = tf.gather(row_bytes, row)
  first = tf.searchsorted(flat, starts + offset, side="right",
                          out_type=tf.int64) - 1 - base
  last = tf.searchsorted(flat, ends + offset, side="left",
                         out_type=tf.int64) - base
  return first, last


def _chars_to_bytes(char_starts, byte_lengths, chars):
  """Character offsets [batch] (0..num_chars) to byte offsets [batch]."""
  with_end = tf.concat([char_starts, tf.expand_dims(byte_lengths, 1)], axis=1)
  num = with_end.row_lengths()
  chars = tf.clip_by_value(tf.cast(chars, tf.int64), 0, num - 1)
  return tf.gather(with_end.flat_values, _row_starts(with_end) + chars)


def _answer_token_span(tokenizer, contexts, doc_ids, doc_starts, answer_texts,
                       answer_starts, has_answer, char_starts, byte_lengths):
  """The answer's first and last doc wordpiece, as the original computes them.

  Characters -> whitespace words (`char_to_word_offset`) -> the first piece
  of the first word and the last piece of the last word -> narrowed by
  `_improve_answer_span`.

  Returns:
    `(tok_start, tok_end)`, int64 [batch] indices into the doc tokens.
  """
  answer_starts = tf.cast(answer_starts, tf.int64)
  answer_chars = tf.cast(
      tf.strings.length(answer_texts, unit="UTF8_CHAR"), tf.int64)
  start_byte = _chars_to_bytes(char_starts, byte_lengths, answer_starts)
  last_byte = _chars_to_bytes(char_starts, byte_lengths,
                              answer_starts + answer_chars - 1)
  _, word_starts, word_ends = tf_text.regex_split_with_offsets(
      contexts, _WHITESPACE_RE)
  word_starts = tf.cast(word_starts, tf.int64)
  word_ends = tf.cast(word_ends, tf.int64)
  num_words = word_starts.row_lengths()
  # The word holding (or, for whitespace, preceding) the character.
  first_word = tf.maximum(_counts_le(word_starts, start_byte, False) - 1, 0)
  last_word = tf.maximum(_counts_le(word_starts, last_byte, False) - 1, 0)
  safe = tf.maximum(num_words, 1) - 1
  first_word = tf.minimum(first_word, safe)
  last_word = tf.minimum(last_word, safe)
  word_base = _row_starts(word_starts)
  padded_starts = tf.concat([word_starts.flat_values, [0]], 0)
  padded_ends = tf.concat([word_ends.flat_values, [0]], 0)
  first_word_start = tf.gather(padded_starts, word_base + first_word)
  last_word_end = tf.gather(padded_ends, word_base + last_word)
  doc_starts = tf.cast(doc_starts, tf.int64)
  # orig_to_tok_index[w]: the number of pieces before word w.
  tok_start = _counts_le(doc_starts, first_word_start, True)
  tok_end = _counts_le(doc_starts, last_word_end, True) - 1

  # _improve_answer_span: the first (start ascending, end descending) sub-span
  # of [tok_start, tok_end] whose pieces are the answer's pieces. Spans of
  # another length cannot match, so only starts are searched.
  answer_ids = tokenizer(answer_texts)
  num_answer = tf.cast(answer_ids.row_lengths(), tf.int64)
  searchable = has_answer & (num_answer > 0)
  limit = tf.where(searchable, tf.maximum(tok_end - num_answer + 2, tok_start),
                   tok_start)
  candidates = tf.ragged.range(tok_start, limit)
  cand_row = candidates.value_rowids()
  cand = candidates.flat_values
  cand_len = tf.gather(num_answer, cand_row)
  doc_pos = tf.ragged.range(tf.gather(_row_starts(doc_ids), cand_row) + cand,
                            tf.gather(_row_starts(doc_ids), cand_row) + cand +
                            cand_len)
  ans_pos = tf.ragged.range(tf.gather(_row_starts(answer_ids), cand_row),
                            tf.gather(_row_starts(answer_ids), cand_row) +
                            cand_len)
  same = tf.equal(tf.gather(doc_ids.flat_values, doc_pos.flat_values),
                  tf.gather(answer_ids.flat_values, ans_pos.flat_values))
  match = tf.reduce_all(doc_pos.with_flat_values(same), axis=1)
  big = tf.constant(np.iinfo(np.int64).max, tf.int64)
  best = tf.math.unsorted_segment_min(
      tf.where(match, cand, big), cand_row, tf.size(tok_start, tf.int64))
  found = best < big
  new_start = tf.where(found, best, tok_start)
  new_end = tf.where(found, best + num_answer - 1, tok_end)
  return new_start, new_end


def squad_features(tokenizer, questions, contexts, answer_texts=None,
                   answer_starts=None, is_impossible=None, example_index=None,
                   *, max_seq_length=MAX_SEQ_LENGTH, doc_stride=DOC_STRIDE,
                   max_query_length=MAX_QUERY_LENGTH):
  """Featurises a batch of SQuAD questions into doc-stride windows, in-graph.

  Each example gives `ceil((num_doc_tokens - window) / step) + 1` windows
  (one when the context fits, none for an empty context), where `window =
  max_seq_length - len(query) - 3` and `step = min(window, doc_stride)`.

  Args:
    tokenizer: `keras_bert_lab.text.BertTokenizer`.
    questions, contexts: `tf.string` [batch].
    answer_texts, answer_starts, is_impossible: [batch] answer text, its start
      in characters of the context, and v2.0's flag; give them for training
      (positions are computed only then). The answer must be where it is said
      to be (`read_squad_*(is_training=True)` checks that).
    example_index: int [batch] reported per window; default `range(batch)`.
    max_seq_length, doc_stride, max_query_length: the original's flags.

  Returns:
    A dict of tensors with one row per window, `num_windows` rows in all:
      * `input_word_ids`, `input_mask`, `input_type_ids`: int32
        [num_windows, max_seq_length];
      * `start_positions`, `end_positions`: int32 [num_windows] (only with
        answers): the answer's first/last token in the window, 0 (`[CLS]`)
        when it is not wholly inside the window or there is none;
      * `example_index`: int64 [num_windows], the window's example (windows
        come grouped by example, in order; `tf.RaggedTensor.from_value_rowids(
        windows, example_index, nrows=batch)` groups them);
      * `window_index`: int32 [num_windows], position among its example's;
      * `token_char_start`, `token_char_end`: int32 [num_windows,
        max_seq_length], each context token's characters `[start, end)` in
        its context, -1 for `[CLS]`, query, `[SEP]` and padding;
      * `token_is_max_context`: bool [num_windows, max_seq_length], True at
        context tokens scored in this window.

  Raises:
    ValueError: `max_seq_length <= max_query_length + 3` (as the original).

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> w = squad_features(tok, tf.constant(["Who?"]),
    ...                    tf.constant(["Elinor smiled."]))
    >>> w["input_word_ids"].shape, w["token_char_start"][0, :6].numpy()
    (TensorShape([1, 384]), array([-1, -1, -1, -1,  0,  7], dtype=int32))
  """
  if max_seq_length <= max_query_length + 3:
    raise ValueError(
        f"The max_seq_length ({max_seq_length}) must be greater than "
        f"max_query_length ({max_query_length}) + 3, to leave room for the "
        "context; raise --max_seq_length or lower --max_query_length.")
  if doc_stride < 1:
    raise ValueError(f"doc_stride={doc_stride} must be at least 1.")
  questions = tf.convert_to_tensor(questions, tf.string)
  contexts = tf.convert_to_tensor(contexts, tf.string)
  batch = tf.size(contexts, out_type=tf.int64)
  with_answers = answer_texts is not None

  query_ids = tokenizer(questions)[:, :max_query_length]
  doc_ids, doc_starts, doc_ends = tokenizer.tokenize_with_offsets(contexts)
  char_starts, byte_lengths = _char_offsets(contexts)
  doc_row = doc_ids.value_rowids()
  doc_char_start, doc_char_end = _bytes_to_chars(
      char_starts, byte_lengths, doc_row,
      tf.cast(doc_starts.flat_values, tf.int64),
      tf.cast(doc_ends.flat_values, tf.int64))

  num_doc = tf.cast(doc_ids.row_lengths(), tf.int64)
  num_query = tf.cast(query_ids.row_lengths(), tf.int64)
  span = max_seq_length - num_query - 3
  step = tf.minimum(span, doc_stride)
  num_windows = tf.where(
      num_doc == 0, tf.zeros_like(num_doc),
      tf.where(num_doc <= span, tf.ones_like(num_doc),
               (num_doc - span + step - 1) // step + 1))
  windows = tf.ragged.range(num_windows)
  win_ex = windows.value_rowids()
  win_k = windows.flat_values
  win_start = win_k * tf.gather(step, win_ex)
  win_len = tf.minimum(tf.gather(num_doc, win_ex) - win_start,
                       tf.gather(span, win_ex))
  win_query = tf.gather(num_query, win_ex)
  doc_base = tf.gather(_row_starts(doc_ids), win_ex) + win_start

  doc_index = tf.ragged.range(doc_base, doc_base + win_len)
  query_index = tf.ragged.range(
      tf.gather(_row_starts(query_ids), win_ex),
      tf.gather(_row_starts(query_ids), win_ex) + win_query)
  segments = [
      query_index.with_flat_values(
          tf.gather(query_ids.flat_values, query_index.flat_values)),
      doc_index.with_flat_values(
          tf.gather(doc_ids.flat_values, doc_index.flat_values)),
  ]
  ids, type_ids = tf_text.combine_segments(
      segments, start_of_sequence_id=tokenizer.cls_id,
      end_of_segment_id=tokenizer.sep_id)
  input_word_ids, input_mask = tf_text.pad_model_inputs(
      ids, max_seq_length, pad_value=tokenizer.pad_id)
  input_type_ids, _ = tf_text.pad_model_inputs(type_ids, max_seq_length,
                                               pad_value=0)

  # Position of every window slot in the doc, and whether it is a doc token.
  slot = tf.range(max_seq_length, dtype=tf.int64)[tf.newaxis]
  doc_j = slot - tf.expand_dims(win_query + 2, 1)
  in_doc = (doc_j >= 0) & (doc_j < tf.expand_dims(win_len, 1))
  global_doc = tf.where(in_doc, tf.expand_dims(doc_base, 1) + doc_j, 0)
  padded_start = tf.concat([doc_char_start, [-1]], 0)
  padded_end = tf.concat([doc_char_end, [-1]], 0)
  minus_one = tf.constant(-1, tf.int64)
  token_char_start = tf.where(in_doc, tf.gather(padded_start, global_doc),
                              minus_one)
  token_char_end = tf.where(in_doc, tf.gather(padded_end, global_doc),
                            minus_one)

  # _check_is_max_context, over all windows of each doc token at once.
  left = doc_j
  right = tf.expand_dims(win_len, 1) - 1 - doc_j
  score = tf.cast(tf.minimum(left, right), tf.float64) + 0.01 * tf.cast(
      tf.expand_dims(win_len, 1), tf.float64)
  num_doc_total = tf.size(doc_ids.flat_values, out_type=tf.int64)
  keys = tf.boolean_mask(global_doc, in_doc)
  best = tf.math.unsorted_segment_max(tf.boolean_mask(score, in_doc), keys,
                                      num_doc_total)
  is_best = in_doc & tf.equal(score, tf.gather(
      tf.concat([best, [0.0]], 0), tf.where(in_doc, global_doc, num_doc_total)))
  window_id = tf.broadcast_to(
      tf.range(tf.size(win_k, out_type=tf.int64))[:, tf.newaxis],
      tf.shape(global_doc, out_type=tf.int64))
  first_best = tf.math.unsorted_segment_min(
      tf.boolean_mask(window_id, is_best), tf.boolean_mask(global_doc, is_best),
      num_doc_total)
  token_is_max_context = is_best & tf.equal(
      window_id, tf.gather(tf.concat([first_best, [-1]], 0),
                           tf.where(in_doc, global_doc, num_doc_total)))

  if example_index is None:
    example_index = tf.range(batch)
  example_index = tf.cast(tf.convert_to_tensor(example_index), tf.int64)
  int32 = lambda t: tf.ensure_shape(tf.cast(t, tf.int32), [None,
                                                           max_seq_length])
  out = {
      "input_word_ids": int32(input_word_ids),
      "input_mask": int32(input_mask),
      "input_type_ids": int32(input_type_ids),
      "example_index": tf.gather(example_index, win_ex),
      "window_index": tf.cast(win_k, tf.int32),
      "token_char_start": int32(token_char_start),
      "token_char_end": int32(token_char_end),
      "token_is_max_context": tf.ensure_shape(token_is_max_context,
                                              [None, max_seq_length]),
  }
  if with_answers:
    answer_texts = tf.convert_to_tensor(answer_texts, tf.string)
    if is_impossible is None:
      is_impossible = tf.zeros_like(contexts, tf.bool)
    has_answer = ~tf.cast(is_impossible, tf.bool)
    if answer_starts is None:
      raise ValueError("answer_starts is required with answer_texts.")
    has_answer &= tf.cast(answer_starts, tf.int64) >= 0
    tok_start, tok_end = _answer_token_span(
        tokenizer, contexts, doc_ids, doc_starts, answer_texts, answer_starts,
        has_answer, char_starts, byte_lengths)
    ws, we = tf.gather(tok_start, win_ex), tf.gather(tok_end, win_ex)
    inside = (tf.gather(has_answer, win_ex) & (ws >= win_start) &
              (we <= win_start + win_len - 1))
    offset = win_query + 2 - win_start
    out["start_positions"] = tf.cast(tf.where(inside, ws + offset, 0), tf.int32)
    out["end_positions"] = tf.cast(tf.where(inside, we + offset, 0), tf.int32)
  return out


class SquadPreprocessor(Preprocessor):
  """(question, context) strings to doc-stride windows (`squad_features`).

  The one windowing of SQuAD, called by `squad_windows`' `tf.data` map
  (training, evaluation) and by the exported serving signature
  (`answer_questions`).

  Args:
    tokenizer: a `keras_bert_lab.text.BertTokenizer`.
    seq_length: window length (`max_seq_length`).
    doc_stride: stride between windows.
    max_query_length: question tokens kept.
    **kwargs: passed to `Preprocessor` (Keras layer arguments).

  Call args:
    questions, contexts: `tf.string` [batch]; other keyword arguments
    (answers, `example_index`) as `squad_features`.

  Returns:
    `squad_features`' dict of windows.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> pre = SquadPreprocessor(tok, 32, 8, 8)
    >>> windows = pre(tf.constant(["who came?"]),
    ...               tf.constant(["ann came. " * 10]))
    >>> windows["input_word_ids"].shape
    TensorShape([3, 32])
  """

  settings = ("seq_length", "doc_stride", "max_query_length")

  def __init__(self, tokenizer, seq_length=MAX_SEQ_LENGTH,
               doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH,
               **kwargs):
    super().__init__(tokenizer, dict(
        seq_length=int(seq_length), doc_stride=int(doc_stride),
        max_query_length=int(max_query_length)), **kwargs)

  def call(self, questions, contexts, **answers):
    return squad_features(
        self.tokenizer, questions, contexts, max_seq_length=self.seq_length,
        doc_stride=self.doc_stride, max_query_length=self.max_query_length,
        **answers)


def squad_windows(examples, tokenizer, *, max_seq_length=MAX_SEQ_LENGTH,
                  doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH,
                  with_answers=True, batch_size=64):
  """Maps a dataset of questions to a dataset of windows (`squad_features`).

  Args:
    examples: `SquadExamples` or a dataset like `SquadExamples.dataset()`.
    tokenizer: `keras_bert_lab.text.BertTokenizer`, or a `SquadPreprocessor`
      (then the three window settings are its own).
    max_seq_length, doc_stride, max_query_length: as `squad_features`.
    with_answers: compute `start_positions`/`end_positions` (training).
    batch_size: questions featurised per map call (speed only).

  Returns:
    Unbatched `tf.data.Dataset` of window dicts (see `squad_features`), in
    example order. Use `fit_inputs` / `model_inputs` to feed a model.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> examples = tf.data.Dataset.from_tensor_slices({  # or SquadExamples
    ...     "example_index": tf.constant([0], tf.int64),
    ...     "question": ["who came?"], "context": ["Elinor came. " * 10],
    ...     "answer_text": ["Elinor"], "answer_start": [0],
    ...     "is_impossible": [False]})
    >>> ds = squad_windows(examples, tok, max_seq_length=32, doc_stride=8,
    ...                    max_query_length=8)
    >>> ds = ds.map(fit_inputs).batch(8)   # for model.fit(ds)
    >>> ds.element_spec[0]["input_word_ids"]
    TensorSpec(shape=(None, 32), dtype=tf.int32, name=None)
  """
  ds = examples.dataset() if isinstance(examples, SquadExamples) else examples
  preprocessor = SquadPreprocessor.of(tokenizer, max_seq_length, doc_stride,
                                      max_query_length)

  def featurise(batch):
    kwargs = {}
    if with_answers:
      kwargs = dict(answer_texts=batch["answer_text"],
                    answer_starts=batch["answer_start"],
                    is_impossible=batch["is_impossible"])
    return preprocessor(batch["question"], batch["context"],
                        example_index=batch["example_index"], **kwargs)

  # No tensor-dependent Python control flow: autograph would only cost time.
  featurise = tf.autograph.experimental.do_not_convert(featurise)
  return ds.batch(batch_size).map(featurise).unbatch()


def model_inputs(window):
  """The three model features of a window dict."""
  return {k: window[k] for k in MODEL_INPUT_KEYS}


def fit_inputs(window):
  """`(features, labels)` for `model.fit`: the 3 features and
  `{"start_positions", "end_positions"}`."""
  return model_inputs(window), {"start_positions": window["start_positions"],
                                "end_positions": window["end_positions"]}


# ---------------------------------------------------------- post-process --


def squad_postprocess(start_logits, end_logits, windows, contexts, *,
                      n_best_size=N_BEST_SIZE,
                      max_answer_length=MAX_ANSWER_LENGTH,
                      version_2_with_negative=False,
                      null_score_diff_threshold=NULL_SCORE_DIFF_THRESHOLD):
  """The original `write_predictions` on logits, in the graph.

  Args:
    start_logits, end_logits: float [num_windows, seq] (`BertSpanLabeler`).
    windows: dict with `example_index`, `token_char_start`, `token_char_end`,
      `token_is_max_context` of the same windows (`squad_features`), in the
      order `squad_features` made them (ties keep it).
    contexts: `tf.string` [num_examples]; `example_index` indexes it.
    n_best_size, max_answer_length, version_2_with_negative,
      null_score_diff_threshold: the original's flags.

  Memory grows with `num_windows * n_best_size**2` candidates (about 400 B
  each): post-process a large dev set in chunks of a few thousand examples
  (all windows of an example in the same chunk, `example_index` re-based).

  Returns:
    A dict, per example (`num_examples` rows):
      * `answer`: string; "" for no answer (v2.0) or no valid span;
      * `answer_start`, `answer_end`: int32 characters `[start, end)` of the
        answer in its context (-1 for "");
      * `score`: float32 start + end logit of the answer (the null score for
        a v2.0 "");
      * `null_score_diff`: float32, null score minus the best non-null score
        (v2.0; +inf without a non-null candidate; 0 in v1.1);
      * `nbest_text`, `nbest_start`, `nbest_end`, `nbest_start_logit`,
        `nbest_end_logit`, `nbest_probability`: ragged [num_examples,
        (<= n_best_size + 1)], the n-best list, best first, as the original's
        `nbest_predictions.json` (char offsets -1 for the null entry).

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> contexts = tf.constant(["Elinor came."])
    >>> w = squad_features(tok, tf.constant(["who came?"]), contexts,
    ...                    max_seq_length=16, max_query_length=8)
    >>> logits = tf.one_hot([5], 16) * 9.0  # [CLS] who came ? [SEP] elinor
    >>> squad_postprocess(logits, logits, w, contexts)["answer"]
    <tf.Tensor: shape=(1,), dtype=string,
        numpy=array([b'Elinor'], dtype=object)>
  """
  start_logits = tf.convert_to_tensor(start_logits)
  end_logits = tf.convert_to_tensor(end_logits)
  contexts = tf.convert_to_tensor(contexts, tf.string)
  num_examples = tf.size(contexts, out_type=tf.int64)
  example = tf.cast(windows["example_index"], tf.int64)
  char_start = tf.cast(windows["token_char_start"], tf.int64)
  char_end = tf.cast(windows["token_char_end"], tf.int64)
  max_context = tf.cast(windows["token_is_max_context"], tf.bool)
  seq = start_logits.shape[-1]
  k = min(int(n_best_size), int(seq)) if seq is not None else int(n_best_size)
  start_val, start_idx = tf.math.top_k(start_logits, k=k)
  end_val, end_idx = tf.math.top_k(end_logits, k=k)
  num_windows = tf.shape(start_idx, out_type=tf.int64)[0]

  # All (start, end) pairs in the original's order: window, start, end.
  s_idx = tf.broadcast_to(start_idx[:, :, None], [num_windows, k, k])
  e_idx = tf.broadcast_to(end_idx[:, None, :], [num_windows, k, k])
  s_char = tf.gather(char_start, s_idx, batch_dims=1)
  e_char = tf.gather(char_end, e_idx, batch_dims=1)
  valid = ((s_char >= 0) & (e_char >= 0) &
           tf.gather(max_context, s_idx, batch_dims=1) & (e_idx >= s_idx) &
           (e_idx - s_idx + 1 <= max_answer_length))
  f64 = lambda t: tf.cast(t, tf.float64)
  s_logit = tf.broadcast_to(f64(start_val)[:, :, None], [num_windows, k, k])
  e_logit = tf.broadcast_to(f64(end_val)[:, None, :], [num_windows, k, k])
  cand_ex = tf.boolean_mask(
      tf.broadcast_to(example[:, None, None], [num_windows, k, k]), valid)
  cand_sl = tf.boolean_mask(s_logit, valid)
  cand_el = tf.boolean_mask(e_logit, valid)
  cand_cs = tf.boolean_mask(s_char, valid)
  cand_ce = tf.boolean_mask(e_char, valid)
  cand_null = tf.zeros_like(cand_ex, tf.bool)

  # v2.0: the smallest [CLS] score over an example's windows (first on ties).
  null_sum = f64(start_logits[:, 0]) + f64(end_logits[:, 0])
  score_null = tf.math.unsorted_segment_min(null_sum, example, num_examples)
  has_windows = tf.math.unsorted_segment_sum(
      tf.ones_like(example), example, num_examples) > 0
  big = tf.constant(np.iinfo(np.int64).max, tf.int64)
  null_window = tf.math.unsorted_segment_min(
      tf.where(tf.equal(null_sum, tf.gather(score_null, example)),
               tf.range(num_windows), big), example, num_examples)
  null_window = tf.where(has_windows, null_window, 0)
  if version_2_with_negative:
    null_ex = tf.boolean_mask(tf.range(num_examples), has_windows)
    null_win = tf.boolean_mask(null_window, has_windows)
    take = lambda t: tf.gather(f64(t[:, 0]), null_win)
    cand_ex = tf.concat([cand_ex, null_ex], 0)
    cand_sl = tf.concat([cand_sl, take(start_logits)], 0)
    cand_el = tf.concat([cand_el, take(end_logits)], 0)
    minus = -tf.ones_like(null_ex)
    cand_cs = tf.concat([cand_cs, minus], 0)
    cand_ce = tf.concat([cand_ce, minus], 0)
    cand_null = tf.concat([cand_null, tf.ones_like(null_ex, tf.bool)], 0)

  # Sort by example, then score (descending), then the original's order.
  score = cand_sl + cand_el
  order = tf.argsort(score, direction="DESCENDING", stable=True)
  order = tf.gather(order, tf.argsort(tf.gather(cand_ex, order), stable=True))
  cand_ex, cand_sl, cand_el, cand_cs, cand_ce, cand_null, score = (
      tf.gather(t, order) for t in (cand_ex, cand_sl, cand_el, cand_cs,
                                    cand_ce, cand_null, score))

  # Texts, straight from the context's characters.
  char_starts, byte_lengths = _char_offsets(contexts)
  ctx_chars = tf.gather(char_starts, cand_ex)
  ctx_lengths = tf.gather(byte_lengths, cand_ex)
  b0 = _chars_to_bytes(ctx_chars, ctx_lengths, tf.maximum(cand_cs, 0))
  b1 = _chars_to_bytes(ctx_chars, ctx_lengths, tf.maximum(cand_ce, 0))
  text = tf.where(cand_null, "",
                  tf.strings.substr(tf.gather(contexts, cand_ex), b0, b1 - b0))

  # The first candidate of each text, then the first n_best_size of those.
  keys = tf.strings.join([tf.strings.as_string(cand_ex), text], "\x00")
  _, key_id = tf.unique(keys, out_idx=tf.int64)
  pos = tf.range(tf.size(keys, out_type=tf.int64))
  first = tf.math.unsorted_segment_min(pos, key_id, tf.size(pos, tf.int64))
  is_first = tf.equal(tf.gather(first, key_id), pos)
  firsts = tf.cast(is_first, tf.int64)
  before = tf.cumsum(firsts, exclusive=True)
  ex_base = tf.math.unsorted_segment_min(before, cand_ex, num_examples)
  rank = before - tf.gather(ex_base, cand_ex)
  # A null that did not make the cut is appended after the n-best.
  keep = is_first & ((rank < n_best_size) | cand_null)

  nb = lambda t: tf.RaggedTensor.from_value_rowids(
      tf.boolean_mask(t, keep), tf.boolean_mask(cand_ex, keep),
      nrows=num_examples)
  # Invalid UTF-8 bytes (one character each in the offsets) become U+FFFD.
  nb_text = nb(tf.strings.unicode_transcode(
      text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD))
  nb_ex = tf.boolean_mask(cand_ex, keep)
  nb_score = tf.boolean_mask(score, keep)
  nb_null = tf.boolean_mask(cand_null, keep)
  top = tf.math.unsorted_segment_max(nb_score, nb_ex, num_examples)
  exp = tf.exp(nb_score - tf.gather(top, nb_ex))
  prob = exp / tf.gather(
      tf.math.unsorted_segment_sum(exp, nb_ex, num_examples), nb_ex)

  nb_pos = tf.range(tf.size(nb_ex, out_type=tf.int64))
  best = tf.math.unsorted_segment_min(tf.where(nb_null, big, nb_pos), nb_ex,
                                      num_examples)
  has_best = best < big
  best = tf.where(has_best, best, 0)
  pick = lambda t, default: tf.where(
      has_best, tf.gather(tf.concat([t, [default]], 0),
                          tf.minimum(best, tf.size(t, out_type=tf.int64))),
      default)
  best_text = pick(nb_text.flat_values, "")
  best_score = pick(nb_score, tf.constant(0.0, tf.float64))
  best_start = pick(tf.boolean_mask(cand_cs, keep), tf.constant(-1, tf.int64))
  best_end = pick(tf.boolean_mask(cand_ce, keep), tf.constant(-1, tf.int64))
  if version_2_with_negative:
    inf = tf.constant(np.inf, tf.float64)
    diff = tf.where(has_best, score_null - best_score, inf)
    null = (diff > null_score_diff_threshold) | ~has_best
    answer = tf.where(null, "", best_text)
    answer_start = tf.where(null, tf.constant(-1, tf.int64), best_start)
    answer_end = tf.where(null, tf.constant(-1, tf.int64), best_end)
    answer_score = tf.where(null & has_windows, score_null, best_score)
  else:
    diff = tf.zeros_like(best_score)
    answer, answer_start, answer_end = best_text, best_start, best_end
    answer_score = best_score
  return {
      "answer": answer,
      "answer_start": tf.cast(answer_start, tf.int32),
      "answer_end": tf.cast(answer_end, tf.int32),
      "score": tf.cast(answer_score, tf.float32),
      "null_score_diff": tf.cast(diff, tf.float32),
      "nbest_text": nb_text,
      "nbest_start": tf.cast(nb(cand_cs), tf.int32),
      "nbest_end": tf.cast(nb(cand_ce), tf.int32),
      "nbest_start_logit": nb(cand_sl),
      "nbest_end_logit": nb(cand_el),
      "nbest_probability": tf.RaggedTensor.from_value_rowids(
          prob, nb_ex, nrows=num_examples),
  }


def answer_questions(span_labeler, preprocessor, questions, contexts, *,
                     n_best_size=N_BEST_SIZE,
                     max_answer_length=MAX_ANSWER_LENGTH,
                     version_2_with_negative=False,
                     null_score_diff_threshold=NULL_SCORE_DIFF_THRESHOLD):
  """Raw (question, context) strings to answers: windows, model, n-best.

  The one graph function of SQuAD answering, in evaluation (`finetune`, a
  batch of questions at a time) and in the exported signature alike:
  `preprocessor` (the windows), `span_labeler` on every window at once,
  `squad_postprocess`.

  Args:
    span_labeler: callable on the 3-feature dict returning `{"start_logits",
      "end_logits"}` [num_windows, seq] (`keras_bert_lab.models.
      BertSpanLabeler`).
    preprocessor: a `SquadPreprocessor`.
    questions, contexts: `tf.string` [batch].
    Other args: as `squad_postprocess`.

  Returns:
    `squad_postprocess`' dict, one row per question.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> from keras_bert_lab import BertConfig
    >>> from keras_bert_lab.models import BertEncoder, BertSpanLabeler
    >>> qa = BertSpanLabeler(BertEncoder(BertConfig(
    ...     vocab_size=tok.vocab_size, hidden_size=32, num_layers=1,
    ...     num_heads=2, intermediate_size=64, max_position_embeddings=64)))
    >>> out = answer_questions(qa, SquadPreprocessor(tok, 32, 8, 8),
    ...                        ["Who smiled?"], ["Elinor smiled."])
    >>> out["answer"].shape   # untrained: some span of the context
    TensorShape([1])
  """
  contexts = tf.convert_to_tensor(contexts, tf.string)
  windows = preprocessor(tf.convert_to_tensor(questions, tf.string), contexts)
  logits = span_labeler(model_inputs(windows))
  return squad_postprocess(
      logits["start_logits"], logits["end_logits"], windows, contexts,
      n_best_size=n_best_size, max_answer_length=max_answer_length,
      version_2_with_negative=version_2_with_negative,
      null_score_diff_threshold=null_score_diff_threshold)
