"""Token tagging (NER) data in tf.data: CoNLL/BIO files, tfds conll2003.

Sentences are dicts of `"words"` and `"tags"` (`tf.string` [num_words]),
`"source"` (`tf.string`, e.g. `"train.bio line"`) and `"line"` (`tf.int64`,
the line of the sentence's first word), used by error messages.

Featurization labels each word at its **first wordpiece**; the other pieces,
`[CLS]`, `[SEP]` and padding get label 0 and sample weight 0 (as Hugging
Face's `word_ids()` rule and the BERT paper's NER setup). A word that
tokenizes to nothing (only characters BERT's cleaning removes, such as a
zero-width space or a control character) becomes one `[UNK]` by default, so
that every word keeps a prediction and word-level outputs line up with the
input words (Hugging Face drops such words: `empty_words="drop"`).
Sentences longer than `seq_length - 2` wordpieces are cut; the words past
the cut get no prediction (`word_level` returns fewer words).

What the libraries could not do, written here: tfds reads CoNLL files only
inside its builders, and tf.data has no "group lines into blank-separated
paragraphs" op; each file is read with `tf.io.read_file` and split into
sentences with vectorized string and ragged ops (a tagging file is held in
memory while it is read; split very large ones into several files). The
word-to-wordpiece alignment is ragged arithmetic around
`keras_bert_lab.text.BertTokenizer`, which tokenizes a flat list of words.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_lab.data.preprocessor import Preprocessor
from keras_bert_lab.data.shuffling import shuffle_passes
from keras_bert_lab.data.labels import checked, label_table, unknown_message
from keras_bert_lab.data.static_shapes import featurized
from keras_bert_lab.text.packing import BertPacker

EMPTY_WORDS = ("unk", "drop")
WORD_UNITS = ("characters", "whitespace", "basic")
# BIO (IOB2) and IOBES tags: O, or a prefix and a type.
TAG_PATTERN = r"O|[BIES]-\S+"


def _read_sentences(path, token_column, tag_column, source):
  """Parses one CoNLL/BIO file (a scalar path tensor) into sentences."""
  lines = tf.strings.split(tf.io.read_file(path), "\n")
  lines = tf.strings.regex_replace(lines, "\r$", "")
  numbers = tf.range(1, tf.size(lines, tf.int64) + 1, dtype=tf.int64)
  stripped = tf.strings.strip(lines)
  boundary = (stripped == "") | tf.strings.regex_full_match(
      stripped, r"-DOCSTART-(\s.*)?")
  sentence = tf.cumsum(tf.cast(boundary, tf.int64))
  keep = ~boundary
  lines, numbers, sentence = (tf.boolean_mask(t, keep)
                              for t in (lines, numbers, sentence))
  # Tab-separated lines split on tabs only (a token may be a space);
  # others on runs of spaces.
  tabbed = tf.strings.regex_full_match(lines, ".*\t.*")
  by_tab = tf.strings.split(lines, "\t")
  by_space = tf.strings.split(tf.strings.strip(lines))
  columns = tf.where(tabbed, by_tab.row_lengths(), by_space.row_lengths())

  def column(index):
    def pick(parts):
      lengths = parts.row_lengths()
      i = index if index >= 0 else lengths + index
      i = tf.clip_by_value(tf.cast(i, tf.int64) + parts.row_splits[:-1],
                           0, tf.maximum(tf.size(parts.flat_values,
                                                 tf.int64) - 1, 0))
      return tf.gather(parts.flat_values, i)
    return tf.where(tabbed, pick(by_tab), pick(by_space))

  need = max([2] + [i + 1 if i >= 0 else -i
                    for i in (token_column, tag_column)])
  words = column(token_column)
  tags = tf.strings.strip(column(tag_column))
  short = columns < need
  valid = tf.strings.regex_full_match(tags, TAG_PATTERN) & ~short
  bad = tf.where(~valid)[:1, 0]
  message = tf.strings.join([
      source, " ", tf.strings.reduce_join(tf.strings.as_string(
          tf.gather(numbers, bad))), ": `",
      tf.strings.reduce_join(tf.gather(lines, bad)),
      "` is not a token and a BIO/IOBES tag (O, B-X, I-X, E-X, S-X) ",
      f"separated by a tab or spaces (token column {token_column}, tag "
      f"column {tag_column})."])
  check = tf.debugging.Assert(tf.reduce_all(valid), [message])
  with tf.control_dependencies([check]):
    words = tf.identity(words)
  # Sentences: runs of kept lines with the same boundary count.
  starts = tf.concat([[True], sentence[1:] != sentence[:-1]], 0)
  rowids = tf.cumsum(tf.cast(starts, tf.int64)) - 1
  words = tf.RaggedTensor.from_value_rowids(words, rowids)
  tags = tf.RaggedTensor.from_value_rowids(tags, rowids)
  first_lines = tf.boolean_mask(numbers, starts)
  return {"words": words, "tags": tags,
          "source": tf.fill(tf.shape(first_lines), source),
          "line": first_lines}


def read_tagging_file(paths, token_column=0, tag_column=-1):
  """Reads sentences from CoNLL / BIO files.

  One token per line with its tag; columns separated by a tab (then only
  tabs separate, so a token may hold spaces) or by spaces. A blank line ends
  a sentence; `-DOCSTART-` lines are skipped. CoNLL-2003's four columns
  (token POS chunk NER) are read with the defaults (first and last).

  Args:
    paths: a file path or a list of them (read in order).
    token_column: column of the token.
    tag_column: column of the tag (negative counts from the end).

  Returns:
    `tf.data.Dataset` of dicts `words`, `tags` (`tf.string` [num_words]),
    `source`, `line`. A line with too few columns or a tag that is not O or
    B-/I-/E-/S-TYPE stops the iteration with an `InvalidArgumentError`
    naming the file and line.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.bio")
    >>> with open(path, "w") as f:
    ...   _ = f.write("Elinor B-PER\\nDashwood I-PER\\nsmiled O\\n\\nin O\\n"
    ...               "London B-LOC\\n")
    >>> next(iter(read_tagging_file(path)))["tags"]
    <tf.Tensor: shape=(3,), dtype=string,
        numpy=array([b'B-PER', b'I-PER', b'O'], dtype=object)>
  """
  if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
    paths = [paths]
  paths = [str(p) for p in paths]
  for path in paths:
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(f"Tagging file {path} does not exist.")

  def sentences(path):
    source = tf.strings.join([path, " line"])
    return tf.data.Dataset.from_tensor_slices(
        _read_sentences(path, token_column, tag_column, source))

  return tf.data.Dataset.from_tensor_slices(paths).flat_map(sentences)


def tfds_tagging(name="conll2003", split="train", tokens_key="tokens",
                 tags_key="ner", data_dir=None, shuffle_files=False,
                 seed=None):
  """Reads a tfds tagging set (e.g. `conll2003`'s NER tags) as sentences.

  Args:
    name: tfds name.
    split: tfds split ("train", "dev", "test" for conll2003).
    tokens_key: the sequence-of-text feature.
    tags_key: the sequence-of-ClassLabel feature ("ner", "pos", "chunks").
    data_dir, shuffle_files, seed: passed to tfds.

  Returns:
    `(sentences, tags)`: the dataset of dicts as `read_tagging_file` gives
    (tags as names) and the tag names in tfds' order (index = class id).

  Example:
    >>> sentences, tags = tfds_tagging("conll2003")  # doctest: +SKIP
    >>> tags[:3]  # doctest: +SKIP
    ['O', 'B-PER', 'I-PER']
  """
  import tensorflow_datasets as tfds  # Heavy; only when tfds is asked for.
  builder = tfds.builder(name, data_dir=data_dir)
  features = builder.info.features
  feature = features[tags_key] if tags_key in features else None
  names = getattr(getattr(feature, "feature", None), "names", None)
  if tokens_key not in features or not names:
    raise ValueError(
        f"tfds dataset {name!r} has no token feature {tokens_key!r} and "
        f"class-label sequence {tags_key!r}; its features are "
        f"{sorted(features)}.")
  dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files,
                               read_config=tfds.ReadConfig(shuffle_seed=seed))
  source = f"{name}[{split}] example"

  def to_sentence(index, example):
    words, ids = example[tokens_key], example[tags_key]
    check = tf.debugging.Assert(
        tf.size(words) == tf.size(ids),
        [tf.strings.join([source, " ", tf.strings.as_string(index),
                          f" has a different number of {tokens_key} and "
                          f"{tags_key}."])])
    with tf.control_dependencies([check]):
      tags = tf.gather(tf.constant(list(names)), ids)
    return {"words": words, "tags": tags, "source": tf.constant(source),
            "line": index}

  return dataset.enumerate().map(to_sentence), list(names)


def learn_tags(sentences, batch_size=1024):
  """The tag list of `sentences`: "O" first, then by type and B, I, E, S.

  Args:
    sentences: dataset of dicts with `"tags"`.
    batch_size: sentences per step of the host pass.

  Returns:
    list of str.

  Example:
    >>> learn_tags(tf.data.Dataset.from_tensor_slices({"tags": tf.ragged.constant(
    ...     [["B-PER", "I-PER", "O"], ["O", "B-LOC"]])}))
    ['O', 'B-LOC', 'B-PER', 'I-PER']
  """
  tags = set()
  for batch in sentences.map(lambda s: s["tags"]).ragged_batch(batch_size):
    tags.update(t.decode("utf-8") for t in set(batch.flat_values.numpy()))
  if not tags:
    raise ValueError("No tags to learn: the sentences are empty.")
  tags.discard("O")
  return ["O"] + sorted(tags, key=lambda t: (t[2:], "BIES".index(t[0]), t))


def align_words(words, tokenizer, seq_length, empty_words="unk"):
  """Tokenizes pre-split words and packs them, marking first wordpieces.

  In the graph (also for export): `words` ragged [batch, (words)] strings.

  Args:
    words: `tf.RaggedTensor` of `tf.string`, [batch, (words)].
    tokenizer: `keras_bert_lab.text.BertTokenizer`.
    seq_length: packed length; at most `seq_length - 2` wordpieces are kept.
    empty_words: "unk" (a word without wordpieces becomes `[UNK]`) or
      "drop" (it gets no position, as in Hugging Face).

  Returns:
    `(features, word_index)`: the three int32 [batch, seq_length] features,
    and int32 [batch, seq_length] holding, at each word's first wordpiece,
    the word's index in its sentence, and -1 elsewhere.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> features, index = align_words(
    ...     tf.ragged.constant([["Elinor", "smiled", "unaffably"]]), tok, 8)
    >>> index.numpy().tolist()   # [CLS] elinor smiled u ##n ##a ##f [SEP]
    [[-1, 0, 1, 2, -1, -1, -1, -1]]
  """
  if empty_words not in EMPTY_WORDS:
    raise ValueError(f"empty_words={empty_words!r} is not one of "
                     f"{EMPTY_WORDS}.")
  words = tf.RaggedTensor.from_row_splits(
      tf.reshape(words.flat_values, [-1]), tf.cast(words.row_splits, tf.int64))
  pieces = tokenizer(words.flat_values)   # [num_words, (pieces)]
  pieces = tf.RaggedTensor.from_row_splits(
      pieces.flat_values, tf.cast(pieces.row_splits, tf.int64))
  if empty_words == "unk":
    empty = pieces.row_lengths() == 0
    unk = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(empty, tf.int32))],
                tf.constant(tokenizer.unk_id, pieces.dtype)),
        tf.cast(empty, tf.int64))
    pieces = tf.concat([pieces, unk], axis=1)
  piece_splits = pieces.row_splits
  num_pieces = piece_splits[-1]
  piece_word = tf.searchsorted(piece_splits[1:], tf.range(num_pieces),
                               side="right")
  is_first = tf.range(num_pieces) == tf.gather(piece_splits, piece_word)
  # Word index within its sentence, at first pieces.
  word_sentence = words.value_rowids()
  word_in_sentence = tf.range(tf.size(word_sentence, tf.int64)) - tf.gather(
      words.row_splits, word_sentence)
  index = tf.where(is_first, tf.gather(word_in_sentence, piece_word), -1)
  sentence_splits = tf.gather(piece_splits, words.row_splits)
  ids = tf.RaggedTensor.from_row_splits(pieces.flat_values, sentence_splits)
  index = tf.RaggedTensor.from_row_splits(tf.cast(index, tf.int32),
                                          sentence_splits)
  keep = seq_length - 2
  ids, index = ids[:, :keep], index[:, :keep]
  packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                    truncation="waterfall")
  features = packer([ids])
  index = index.to_tensor(default_value=-1, shape=[None, seq_length - 1])
  index = tf.pad(index, [[0, 0], [1, 0]], constant_values=-1)
  return features, index


class TaggingPreprocessor(Preprocessor):
  """Words to packed features, and raw text to the words training used.

  The one featurization of tagging: `tagging_dataset`'s `tf.data` map and
  the exported serving signatures both call it, so a SavedModel forms the
  same word units from raw text that the training file had:

    * `"characters"`: every non-space character is a word (character-level
      BIO files such as People's Daily: `１０` is two words, as in the file);
    * `"whitespace"`: words are the runs between Unicode whitespace
      (CoNLL-style files, one word per line);
    * `"basic"`: BERT's basic tokenization without lower-casing (whitespace,
      each punctuation character, each CJK ideograph), the rule of task
      folders written before the rule was recorded (task.json format 1).

  Args:
    tokenizer: a `keras_bert_lab.text.BertTokenizer`.
    seq_length: packed length.
    word_units: one of `WORD_UNITS`.
    empty_words: `align_words`' rule for words without wordpieces.
    **kwargs: passed to `Preprocessor` (Keras layer arguments).

  Call args:
    words: ragged [batch, (words)] `tf.string`.

  Returns:
    `(features, word_index)` of `align_words`.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> pre = TaggingPreprocessor(tok, 16, "characters")
    >>> words, starts, ends = pre.split(tf.constant(["Ann ６０"]))
    >>> words.to_list(), starts.to_list()
    ([[b'A', b'n', b'n', b'\xef\xbc\x96', b'\xef\xbc\x90']], [[0, 1, 2, 4, 5]])
  """

  settings = ("seq_length", "word_units", "empty_words")

  def __init__(self, tokenizer, seq_length, word_units="whitespace",
               empty_words="unk", **kwargs):
    if word_units not in WORD_UNITS:
      raise ValueError(f"word_units={word_units!r} is not one of "
                       f"{WORD_UNITS}.")
    if empty_words not in EMPTY_WORDS:
      raise ValueError(f"empty_words={empty_words!r} is not one of "
                       f"{EMPTY_WORDS}.")
    super().__init__(tokenizer, dict(
        seq_length=int(seq_length), word_units=word_units,
        empty_words=empty_words), **kwargs)

  def split(self, text):
    """Raw text -> `(words, starts, ends)` by `word_units`.

    Args:
      text: `tf.string` [batch].

    Returns:
      Ragged [batch, (words)]: the words (`tf.string`, as written: the
      tokenizer cleans and lower-cases each one as in training) and their
      `[start, end)` **character** offsets (int32) into `text` (into the
      cleaned text for `"basic"`).
    """
    from keras_bert_lab.text.tokenizer import normalize, split_words
    text = tf.convert_to_tensor(text, tf.string)
    if self.word_units == "basic":
      text = normalize(text, lower_case=False)
      words, starts, ends = split_words(text)
    elif self.word_units == "whitespace":
      words, starts, ends = tf_text.WhitespaceTokenizer().tokenize_with_offsets(
          text)
    else:   # each character's index is its offset already
      chars = tf.strings.unicode_split(text, "UTF-8")
      starts = tf.ragged.range(tf.cast(chars.row_lengths(), tf.int32))
      keep = ~tf.strings.regex_full_match(chars, r"[\s\p{Z}]")
      words, starts = (tf.ragged.boolean_mask(x, keep)
                       for x in (chars, starts))
      return words, starts, starts + 1
    # Byte offsets -> character offsets: the characters that start before
    # each one, found by a binary search over every row's character starts
    # laid end to end (linear memory: copying each row per word was
    # quadratic, 6 GB for one 100 kB text of characters).
    _, char_starts = tf.strings.unicode_decode_with_offsets(
        text, "UTF-8", errors="replace")
    base = tf.cumsum(tf.cast(tf.strings.length(text), tf.int64),
                     exclusive=True)
    flat_starts = char_starts.flat_values + tf.gather(
        base, char_starts.value_rowids())

    def chars_before(byte_offsets):
      rows = byte_offsets.value_rowids()
      flat = (tf.cast(byte_offsets.flat_values, tf.int64)
              + tf.gather(base, rows))
      before = (tf.searchsorted(flat_starts, flat, side="left",
                                out_type=tf.int64)
                - tf.gather(char_starts.row_splits, rows))
      return byte_offsets.with_flat_values(tf.cast(before, tf.int32))

    return words, chars_before(starts), chars_before(ends)

  def call(self, words):
    return align_words(words, self.tokenizer, self.seq_length,
                       self.empty_words)


def word_units_of(sentences, batch_size=4096):
  """The raw-text rule that reproduces a tagging file's words.

  Args:
    sentences: dataset of sentence dicts (`read_tagging_file`).
    batch_size: sentences read per step.

  Returns:
    `"characters"` when every word is one character (character-level BIO
    such as People's Daily), else `"whitespace"`.

  Example:
    >>> word_units_of(tf.data.Dataset.from_tensors(
    ...     {"words": tf.constant(["中", "国"])}))
    'characters'
  """
  single = sentences.map(lambda s: tf.reduce_all(
      tf.strings.length(s["words"], unit="UTF8_CHAR") == 1))
  every = single.batch(batch_size).reduce(
      tf.constant(True), lambda all_so_far, b: all_so_far & tf.reduce_all(b))
  return "characters" if bool(every) else "whitespace"


def word_level(values, word_index):
  """Picks per-word values (e.g. predicted tag ids) at first wordpieces.

  Args:
    values: [batch, seq_length, ...] (numpy or tensor), e.g.
      `argmax(logits, -1)`.
    word_index: int [batch, seq_length] from `align_words` (or the
      `sample_weight` of `tagging_dataset`: positive at first wordpieces).

  Returns:
    `tf.RaggedTensor` [batch, (words)]: value of each word that fit, in order.
  """
  word_index = tf.convert_to_tensor(word_index)
  mask = (word_index >= 0) if word_index.dtype.is_integer else (
      word_index > 0)
  return tf.ragged.boolean_mask(tf.convert_to_tensor(values), mask)


def tagging_dataset(sentences, tokenizer, tags, seq_length=128,
                    batch_size=32, shuffle=False, seed=None,
                    drop_remainder=False, shuffle_buffer_size=10000,
                    empty_words="unk", passes=1):
  """Featurizes sentences into `(features, labels, sample_weight)` batches.

  Args:
    sentences: dataset of dicts (`read_tagging_file`, `tfds_tagging`); if
      they have no `"tags"`, batches are `(features, word_index)` for
      prediction (`word_level` maps predictions back to words).
    tokenizer: `keras_bert_lab.text.BertTokenizer`, or a
      `TaggingPreprocessor` (then `seq_length` and `empty_words` are its
      own).
    tags: the tag list (index i is `tags[i]`; "O" should be index 0).
    seq_length, batch_size: as usual.
    shuffle, seed, shuffle_buffer_size: shuffle sentences, each pass in a
      new order drawn from `seed` alone (`shuffle_passes`).
    drop_remainder: drop a last partial batch.
    empty_words: see `align_words`.
    passes: passes over the sentences (None: forever, for `fit` with
      `steps_per_epoch`). `fit(epochs=N)` on one pass sees the same order
      every epoch.

  Returns:
    `tf.data.Dataset` of `(features, labels, sample_weight)`: features the
    three int32 [batch, seq_length] inputs; labels int32 [batch, seq_length]
    (the tag index at each word's first wordpiece, 0 elsewhere);
    sample_weight float32 [batch, seq_length] (1.0 at first wordpieces).
    A tag outside `tags` stops the iteration with an error naming the file,
    the sentence's first line and the tag.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.bio")
    >>> with open(path, "w") as f:
    ...   _ = f.write("Elinor B-PER\\nDashwood I-PER\\nsmiled O\\n\\nin O\\n"
    ...               "London B-LOC\\n")
    >>> ds = tagging_dataset(read_tagging_file(path), tok,
    ...                      ["O", "B-LOC", "B-PER", "I-PER"], seq_length=8)
    >>> features, labels, weights = next(iter(ds))   # for model.fit(ds)
    >>> labels.numpy().tolist()
    [[0, 2, 3, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]]
  """
  preprocessor = TaggingPreprocessor.of(tokenizer, seq_length,
                                        empty_words=empty_words)
  has_tags = "tags" in sentences.element_spec
  if has_tags:
    table = label_table(tags, "tag")
    unknown = unknown_message(tags, "tag", "fix the data or give the full "
                              "list")
  sentences = shuffle_passes(sentences, shuffle_buffer_size if shuffle else 0,
                             seed, passes=passes)
  batches = sentences.ragged_batch(batch_size, drop_remainder=drop_remainder)

  def featurize(batch):
    features, index = preprocessor(batch["words"])
    if not has_tags:
      return features, index
    sentence = batch["tags"].value_rowids()
    tag_ids = table.lookup(batch["tags"].flat_values)
    tag_ids = checked(tag_ids, tag_ids >= 0, batch["tags"].flat_values,
                      tf.gather(batch["source"], sentence),
                      tf.gather(batch["line"], sentence), unknown,
                      what="Tag", place="in the sentence at")
    # Sentence-local word index -> global word position -> tag id.
    first = index >= 0
    offsets = tf.cast(batch["tags"].row_splits[:-1], tf.int32)[:, tf.newaxis]
    position = tf.where(first, index + offsets, 0)
    labels = tf.where(first, tf.gather(tag_ids, position), 0)
    return features, labels, tf.cast(first, tf.float32)

  return featurized(batches, featurize, batch_size, drop_remainder)
