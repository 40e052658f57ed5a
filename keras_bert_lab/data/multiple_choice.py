"""Multiple-choice data (SWAG) in tf.data: read, pack K choices, batch.

Each example is a context and K candidate continuations; each choice becomes
one BERT input `[CLS] context [SEP] choice_i [SEP]`, so the features are
[batch, K, seq] and the label is the index of the right choice.

SWAG's CSV as published (`train.csv`, `val.csv`, `test.csv` of the SWAG
repository) has a leading unnamed index column, then `video-id, fold-ind,
startphrase, sent1, sent2, gold-source, ending0..ending3, label` (`test.csv`
has no `label`). As in the SWAG BERT baseline and Hugging Face's `run_swag`,
the context is `sent1` and choice i is `sent2 + " " + ending_i`.

Built on `tf.data.experimental.CsvDataset` (RFC 4180 quoting, in the graph)
and this package's `BertTokenizer`/`BertPacker` (`longest_first` truncation
= the original `_truncate_seq_pair`). Written here: the header check (by
name, so column order does not matter, with an error listing the columns
found) and the reshaping of K packed choices into [batch, K, seq].

TensorFlow Datasets has no `swag` builder (checked with tfds 4.9.10); its
`hellaswag` (features `context`, `endings`, `label`) is read by
`tfds_multiple_choice`, with `context` as the context and each ending as a
choice. For SWAG itself, pass the CSV files.
"""

import csv

import tensorflow as tf

from keras_bert_lab.data.corpus import expand_input_files
from keras_bert_lab.data.preprocessor import Preprocessor
from keras_bert_lab.data.static_shapes import featurized

SWAG_NUM_CHOICES = 4
SWAG_CONTEXT_COLUMN = "sent1"
SWAG_START_COLUMN = "sent2"
SWAG_LABEL_COLUMN = "label"


def swag_columns(num_choices=SWAG_NUM_CHOICES):
  """The SWAG CSV columns this reader uses (label excluded)."""
  return ([SWAG_CONTEXT_COLUMN, SWAG_START_COLUMN] +
          [f"ending{i}" for i in range(num_choices)])


def _read_header(path):
  with tf.io.gfile.GFile(path, "r") as f:
    line = f.readline()
  if not line.strip():
    raise ValueError(f"SWAG file {path} is empty: it needs a header line "
                     f"with the columns {swag_columns()} (and 'label').")
  return next(csv.reader([line]))


def _column_indices(path, num_choices, with_labels):
  header = _read_header(path)
  wanted = swag_columns(num_choices)
  missing = [c for c in wanted if c not in header]
  if with_labels is None:
    with_labels = SWAG_LABEL_COLUMN in header
  elif with_labels and SWAG_LABEL_COLUMN not in header:
    missing.append(SWAG_LABEL_COLUMN)
  if missing:
    raise ValueError(
        f"SWAG file {path} lacks the column(s) {missing}; its header has "
        f"{header}. The reader expects SWAG's published CSV (train.csv / "
        f"val.csv / test.csv: ',video-id,fold-ind,startphrase,sent1,sent2,"
        f"gold-source,ending0,...,ending{num_choices - 1},label'), not the "
        "'_full' files.")
  columns = wanted + ([SWAG_LABEL_COLUMN] if with_labels else [])
  return header, [header.index(c) for c in columns], with_labels


def read_swag_csv(input_files, num_choices=SWAG_NUM_CHOICES,
                  with_labels=None):
  """Reads SWAG's CSV files as context/choices/label examples.

  Args:
    input_files: a path, glob or comma-separated list (or a list of those).
    num_choices: endings per example (`ending0..ending{K-1}`); SWAG has 4.
    with_labels: read the `label` column; None = if every file has one
      (SWAG's `test.csv` has none).

  Returns:
    `tf.data.Dataset` of dicts: `context` (`tf.string` scalar), `choices`
    (`tf.string` [num_choices]: `sent2 + " " + ending_i`), and with labels
    `label` (int32 scalar, checked to lie in [0, num_choices) when
    featurized).

  Raises:
    ValueError: a file lacks a needed column (the message lists the columns
      found), or some files have labels and others not.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "val.csv")
    >>> with open(path, "w") as f:   # SWAG's columns, with 2 endings
    ...   _ = f.write("sent1,sent2,ending0,ending1,label\\n"
    ...               "He opens the door.,He,walks in.,sings.,0\\n")
    >>> example = next(iter(read_swag_csv(path, num_choices=2)))
    >>> example["choices"].numpy(), int(example["label"])
    (array([b'He walks in.', b'He sings.'], dtype=object), 0)
  """
  files = expand_input_files(input_files)
  per_file = [_column_indices(path, num_choices, with_labels)
              for path in files]
  labelled = {has for _, _, has in per_file}
  if len(labelled) > 1:
    raise ValueError(
        f"Some of {files} have a 'label' column and some do not; read "
        "labelled (train/val) and unlabelled (test) files separately.")
  with_labels = labelled.pop()
  datasets = []
  for path, (header, indices, _) in zip(files, per_file):
    # CsvDataset returns the selected columns in file order; remember where
    # each of ours went.
    order = sorted(range(len(indices)), key=lambda i: indices[i])
    defaults = [tf.constant("", tf.string)] * len(indices)
    if with_labels:
      defaults[order.index(len(indices) - 1)] = tf.int32  # Required.
    dataset = tf.data.experimental.CsvDataset(
        path, record_defaults=defaults, header=True,
        select_cols=sorted(indices))
    datasets.append(dataset.map(
        lambda *fields, order=order: _to_example(
            [fields[order.index(i)] for i in range(len(order))],
            num_choices, with_labels)))
  dataset = datasets[0]
  for other in datasets[1:]:
    dataset = dataset.concatenate(other)
  return dataset


def _to_example(fields, num_choices, with_labels):
  context, start = fields[0], fields[1]
  endings = tf.stack(fields[2:2 + num_choices])
  example = {
      "context": context,
      "choices": tf.strings.join([tf.fill([num_choices], start), endings],
                                 separator=" "),
  }
  if with_labels:
    example["label"] = tf.cast(fields[-1], tf.int32)
  return example


def tfds_multiple_choice(name, split="train", data_dir=None,
                         num_choices=SWAG_NUM_CHOICES, shuffle_files=False):
  """Reads a TensorFlow Datasets multiple-choice dataset as examples.

  Understands two feature layouts: SWAG's (`sent1`, `sent2`,
  `ending0..ending{K-1}`, `label`) and HellaSwag's (`context`, `endings`,
  `label`; tfds name `hellaswag`, whose test split has label -1).

  Args:
    name: tfds name, e.g. `"hellaswag"`. `"swag"` is not in tfds (4.9.10);
      the error says to pass SWAG's CSV instead.
    split: the tfds split.
    data_dir: tfds data directory (default: tfds' own).
    num_choices: choices per example.
    shuffle_files: passed to `as_dataset`.

  Returns:
    `tf.data.Dataset` of dicts like `read_swag_csv`'s (`context`, `choices`
    [num_choices], `label`). Unlabelled splits (HellaSwag's test) carry
    label -1: featurize them with `with_labels=False`.

  Example:
    >>> ds = tfds_multiple_choice("hellaswag", "validation")  # doctest: +SKIP
  """
  import tensorflow_datasets as tfds  # Heavy; only when tfds is asked for.
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    hint = (" TensorFlow Datasets has no SWAG builder; pass SWAG's CSV files "
            "(train.csv, val.csv from the SWAG repository) with --train_file "
            "/ --eval_file instead." if name.split("/")[0] == "swag" else "")
    raise ValueError(f"tfds has no dataset {name!r}.{hint}") from e
  features = set(builder.info.features)
  swag = set(swag_columns(num_choices)) | {"label"}
  if swag <= features:
    def to_example(ex):
      return _to_example([ex[c] for c in swag_columns(num_choices)] +
                         [ex["label"]], num_choices, with_labels=True)
  elif {"context", "endings", "label"} <= features:
    def to_example(ex):
      endings = tf.ensure_shape(ex["endings"], [None])
      tf.debugging.assert_equal(
          tf.size(endings), num_choices,
          message=f"tfds {name!r}: an example has a different number of "
          f"endings than num_choices={num_choices}")
      return {"context": ex["context"],
              "choices": tf.reshape(endings, [num_choices]),
              "label": tf.cast(ex["label"], tf.int32)}
  else:
    raise ValueError(
        f"tfds dataset {name!r} has features {sorted(features)}; a "
        f"multiple-choice dataset needs {sorted(swag)} (SWAG) or "
        "['context', 'endings', 'label'] (HellaSwag).")
  dataset = builder.as_dataset(split=split, shuffle_files=shuffle_files)
  return dataset.map(to_example)


def pack_choices(tokenizer, packer, contexts, choices):
  """Packs `[CLS] context [SEP] choice_i [SEP]` for every choice, in-graph.

  Usable in a SavedModel signature (raw strings in, features out).

  Args:
    tokenizer: a `BertTokenizer`.
    packer: a `BertPacker` (use `truncation="longest_first"` for the
      original's `_truncate_seq_pair`).
    contexts: `tf.string` [batch].
    choices: `tf.string` [batch, K] (K static or dynamic).

  Returns:
    A dict of int32 [batch, K, seq_length] tensors: `input_word_ids`,
    `input_mask`, `input_type_ids`.

  Example:
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertPacker, BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> packer = BertPacker.for_tokenizer(tok, 64, truncation="longest_first")
    >>> pack_choices(tok, packer, ["He opens the door."],
    ...              [["He walks in.", "He sings."]])["input_word_ids"].shape
    TensorShape([1, 2, 64])
  """
  contexts = tf.convert_to_tensor(contexts, tf.string)
  choices = tf.convert_to_tensor(choices, tf.string)
  num_choices = tf.shape(choices)[1]
  context_ids = tokenizer(contexts)
  # Context row b repeated K times, aligned with the flattened choices.
  repeated = tf.gather(context_ids,
                       tf.repeat(tf.range(tf.shape(contexts)[0]), num_choices))
  choice_ids = tokenizer(tf.reshape(choices, [-1]))
  packed = packer([repeated, choice_ids])
  # Keep static batch and K where known (drop_remainder, TPUs).
  static = [contexts.shape[0], choices.shape[1], packer.seq_length]
  return {
      name: tf.ensure_shape(
          tf.reshape(value, [-1, num_choices, packer.seq_length]), static)
      for name, value in packed.items()
  }


class MultipleChoicePreprocessor(Preprocessor):
  """A context and K choices to [batch, K, seq_length] features.

  The one packing of multiple choice, called by `featurize`'s `tf.data` map
  and by the exported serving signature (`pack_choices`).

  Args:
    tokenizer: a `keras_bert_lab.text.BertTokenizer`.
    seq_length: packed length of each choice.
    truncation: `BertPacker` truncation (`"longest_first"`: the original's
      `_truncate_seq_pair`).
    **kwargs: passed to `Preprocessor` (Keras layer arguments).

  Call args:
    context: `tf.string` [batch].
    choices: `tf.string` [batch, K].

  Returns:
    The three int32 [batch, K, seq_length] features.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> pre = MultipleChoicePreprocessor(tok, 16)
    >>> pre(tf.constant(["He opens the door."]),
    ...     tf.constant([["He walks in.", "He sings."]]))["input_mask"].shape
    TensorShape([1, 2, 16])
  """

  settings = ("seq_length", "truncation")

  def __init__(self, tokenizer, seq_length, truncation="longest_first",
               **kwargs):
    from keras_bert_lab.text import BertPacker
    super().__init__(tokenizer, dict(seq_length=int(seq_length),
                                     truncation=truncation), **kwargs)
    self._packer = BertPacker.for_tokenizer(tokenizer, seq_length,
                                            truncation=truncation)

  def call(self, context, choices):
    return pack_choices(self.tokenizer, self._packer, context, choices)


def featurize(dataset, tokenizer, seq_length, batch_size, num_choices=None,
              drop_remainder=False, with_labels=None, source="the input"):
  """Batches examples into BERT multiple-choice features.

  Args:
    dataset: examples from `read_swag_csv` or `tfds_multiple_choice`.
    tokenizer: a `BertTokenizer`, or a `MultipleChoicePreprocessor` (then
      `seq_length` is its own).
    seq_length: packed length of each choice (`--max_seq_length`).
    batch_size: examples per batch (each carries K sequences).
    num_choices: K; None = read from the dataset's element spec.
    drop_remainder: drop a last partial batch (TPUs need static shapes).
    with_labels: yield `(features, labels)`; None = if examples have a
      `label`. Labels outside [0, K) stop iteration with an error naming
      `source` and the label.
    source: a name for error messages (e.g. the file).

  Returns:
    `tf.data.Dataset` of `(features, labels)` — features the three int32
    [batch, K, seq_length] tensors, labels int32 [batch] — or of features
    alone without labels.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "val.csv")
    >>> with open(path, "w") as f:   # SWAG's columns, with 2 endings
    ...   _ = f.write("sent1,sent2,ending0,ending1,label\\n"
    ...               "He opens the door.,He,walks in.,sings.,0\\n")
    >>> ds = featurize(read_swag_csv(path, num_choices=2), tok, 16,
    ...                batch_size=8)
    >>> features, labels = next(iter(ds))
    >>> features["input_word_ids"].shape, labels.numpy()
    (TensorShape([1, 2, 16]), array([0], dtype=int32))
  """
  spec = dataset.element_spec
  if num_choices is None:
    num_choices = spec["choices"].shape[0]
    if num_choices is None:
      raise ValueError("The number of choices is not static in the dataset; "
                       "pass num_choices.")
  if with_labels is None:
    with_labels = "label" in spec
  elif with_labels and "label" not in spec:
    raise ValueError(f"{source} has no labels (e.g. SWAG's test.csv); use "
                     "with_labels=False to featurize it for prediction.")
  preprocessor = MultipleChoicePreprocessor.of(tokenizer, seq_length)

  def fix_shape(example):
    example = dict(example)
    example["choices"] = tf.ensure_shape(example["choices"], [num_choices])
    return example

  def to_features(batch):
    features = preprocessor(batch["context"], batch["choices"])
    if not with_labels:
      return features
    labels = batch["label"]
    in_range = tf.reduce_all((labels >= 0) & (labels < num_choices))
    check = tf.debugging.Assert(in_range, [
        f"{source}: a label lies outside [0, {num_choices}) (num_choices="
        f"{num_choices}); labels in this batch:", labels], summarize=64)
    with tf.control_dependencies([check]):
      labels = tf.identity(labels)
    return features, labels

  batches = dataset.map(fix_shape).batch(batch_size,
                                         drop_remainder=drop_remainder)
  return featurized(batches, to_features, batch_size, drop_remainder)
