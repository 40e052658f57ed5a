"""Find and read text corpora as documents of sentences, in the graph.

Files (comma-separated globs, plain or gzip) or TensorFlow Datasets by name
become a `tf.data.Dataset` of documents, each a `tf.string` vector of
sentences, the input BERT's pre-training data is built from. Documents come
from blank lines (the original BERT format, and the article breaks of real
corpora) or, with `document_per_line=True`, from every line; sentences are
split in the graph (`split_sentences`), since real corpora hold a paragraph
per line.

tf.data and tfds do the reading; written here: glob expansion with errors
that name what is missing or empty, the blank-line document split, and the
sentence splitter. The splitter is a few regex rewrites (RE2, so no
look-behind): a sentence ends at `.`, `!` or `?` (with any closing quotes or
brackets) followed by whitespace, or at `。！？；` (with closing quotes);
abbreviations such as "Mr." and initials such as "J." do not end one.
"""

import logging
import os
import zlib

import tensorflow as tf

from keras_bert_lab.text.tokenizer import VALID_UTF8

logger = logging.getLogger("keras_bert_lab")

# Periods that do not end a sentence: titles and single-letter initials.
_ABBREVIATION = r"\b(Mr|Mrs|Ms|Dr|Prof|Rev|St|Jr|Sr|Capt|Col|Gen|Lt|Mt|[A-Z])\."
_PLACEHOLDER = "\x00"
_LATIN_END = r"([.!?]+[\"'”’)\]]*)\s+"
_CJK_END = r"([。！？；]+[”’」』）》]*)"


def expand_input_files(patterns):
  r"""Expands comma-separated file names and globs into a sorted file list.

  Args:
    patterns: a string "a.txt,dir/*.txt.gz" or a list of such strings.

  Returns:
    Sorted list of file paths, without duplicates.

  Raises:
    ValueError: a pattern matches no file, a matched file is empty, or a
      `.gz` file is cut short or damaged. The message names the pattern or
      file.

  Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("b.txt", "a.txt", "c.md"):
    ...   with open(os.path.join(folder, name), "w") as f:
    ...     _ = f.write("text\n")
    >>> files = expand_input_files(f"{folder}/*.txt,{folder}/a.txt")
    >>> [os.path.basename(f) for f in files]
    ['a.txt', 'b.txt']
    >>> expand_input_files(f"{folder}/*.csv")
    Traceback (most recent call last):
    ...
    ValueError: Input file '.../*.csv' does not exist (no file matches it). ...
  """
  if isinstance(patterns, str):
    patterns = [patterns]
  patterns = [p.strip() for item in patterns for p in str(item).split(",")
              if p.strip()]
  if not patterns:
    raise ValueError("No input files given: pass file names or globs, "
                     "comma-separated.")
  files = set()
  for pattern in patterns:
    matched = tf.io.gfile.glob(os.path.expanduser(pattern))
    if not matched:
      raise ValueError(f"Input file {pattern!r} does not exist (no file "
                       "matches it). Check the path or glob.")
    files.update(m for m in matched if not tf.io.gfile.isdir(m))
  empty = [f for f in sorted(files) if tf.io.gfile.stat(f).length == 0]
  if empty:
    raise ValueError(f"Input file(s) {', '.join(map(repr, empty))} are empty; "
                     "remove them from the input list.")
  for path in sorted(files):
    if path.endswith(".gz"):
      _check_gzip(path)
  return sorted(files)


def _check_gzip(path):
  """Fails, naming `path`, unless it is whole gzip (one or more members).

  TensorFlow's gzip readers (`decode_compressed`, `TextLineDataset`) return
  what they could inflate of a cut-short file without a word, so the rest
  of a corpus would be lost silently; zlib finds the missing end of stream.
  It reads the file once, at zlib's speed, before any compute.
  """
  inflate = zlib.decompressobj(wbits=31)
  with tf.io.gfile.GFile(path, "rb") as f:
    try:
      while block := f.read(1 << 22):
        while block:
          if inflate.eof:  # Another member follows (cat a.gz b.gz > c.gz).
            if not block.strip(b"\0"):
              raise ValueError(
                  f"Input file {path!r} ends in zero padding after its gzip "
                  "data, which TensorFlow's gzip reader refuses; compress it "
                  "again (gzip -dc old.gz | gzip > new.gz).")
            inflate = zlib.decompressobj(wbits=31)
          inflate.decompress(block, 1 << 22)  # Output bounded, discarded.
          block = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
    except zlib.error as e:
      raise ValueError(f"Input file {path!r} is not valid gzip ({e}); "
                       "compress it again or remove it.") from None
  if not inflate.eof:
    raise ValueError(f"Input file {path!r} is cut short: its gzip stream "
                     "ends before its end marker. Copy or compress it again.")


def text_lines(input_files):
  r"""A dataset of the lines of text files (gzip when the name ends in .gz).

  Args:
    input_files: comma-separated file names or globs, or a list of them
      (see `expand_input_files`).

  Returns:
    `tf.data.Dataset` of scalar `tf.string` lines, without their line
    ends, file after file in sorted order.

  Raises:
    ValueError: a name or glob that matches no file, or an empty file
      (named in the message).

  Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name, text in [("a.txt", "one\ntwo\n"), ("b.txt", "three\n")]:
    ...   with open(os.path.join(folder, name), "w") as f:
    ...     _ = f.write(text)
    >>> [line.numpy() for line in text_lines(os.path.join(folder, "*.txt"))]
    [b'one', b'two', b'three']
  """
  files = expand_input_files(input_files)
  datasets = [
      tf.data.TextLineDataset(f, compression_type="GZIP" if f.endswith(".gz")
                              else None) for f in files]
  lines = datasets[0]
  for ds in datasets[1:]:
    lines = lines.concatenate(ds)
  return lines


def invalid_utf8_bytes(input_files):
  """Counts, in the graph, the bytes of each file that are not UTF-8.

  The tokenizer drops such bytes (as the original does, decoding with
  `errors="ignore"`); this says how many, and where, once per run.
  Encoded surrogates count as invalid, as they do for the tokenizer.

  Args:
    input_files: file paths (`.gz` read as gzip), e.g. from
      `expand_input_files`.

  Returns:
    `{path: bytes}` for the files that hold any; a warning names them.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "latin1.txt")
    >>> with open(path, "wb") as f:
    ...   _ = f.write("café crème".encode("latin-1"))
    >>> {os.path.basename(k): v for k, v in invalid_utf8_bytes([path]).items()}
    {'latin1.txt': 2}
  """
  def count(path):
    contents = _file_contents(path)
    return tf.cond(
        tf.strings.regex_full_match(contents, VALID_UTF8),
        lambda: tf.constant(0),
        lambda: tf.strings.length(contents) - tf.strings.length(
            tf.strings.unicode_transcode(contents, "UTF-8", "UTF-8",
                                         errors="ignore")))

  files = list(input_files)
  counts = tf.data.Dataset.from_tensor_slices(files or [""]).take(
      len(files)).map(count, num_parallel_calls=tf.data.AUTOTUNE)
  found = {path: int(n) for path, n in zip(files, counts.as_numpy_iterator())
           if n}
  if found:
    logger.warning(
        "%d bytes of invalid UTF-8 will be dropped, as the original BERT "
        "drops them: %s. Re-save the file(s) as UTF-8 to keep that text.",
        sum(found.values()),
        ", ".join(f"{path} ({n})" for path, n in found.items()))
  return found


def split_into_sentences(texts):
  """Splits paragraphs into sentences, in the graph.

  Args:
    texts: `tf.string` [n], one paragraph each.

  Returns:
    Ragged `tf.string` [n, (sentences)], each stripped, none empty.

  Example:
    >>> split_into_sentences(tf.constant(["Mr. Darcy bowed. She smiled!"]))
    <tf.RaggedTensor [[b'Mr. Darcy bowed.', b'She smiled!']]>
  """
  texts = tf.strings.regex_replace(texts, _ABBREVIATION, "\\1" + _PLACEHOLDER)
  texts = tf.strings.regex_replace(texts, _LATIN_END, "\\1\n")
  texts = tf.strings.regex_replace(texts, _CJK_END, "\\1\n")
  texts = tf.strings.regex_replace(texts, _PLACEHOLDER, ".")
  return _non_empty(tf.strings.split(texts, "\n"))


def _non_empty(lines):
  lines = tf.strings.strip(lines)
  return tf.ragged.boolean_mask(lines, tf.strings.length(lines) > 0)


def _file_contents(path):
  """A file's bytes, inflated when its name ends in .gz."""
  contents = tf.io.read_file(path)
  return tf.cond(
      tf.strings.regex_full_match(path, r".*\.gz"),
      lambda: tf.io.decode_compressed(contents, "GZIP"), lambda: contents)


def _file_documents(path, document_per_line):
  """The documents of one file: ragged `tf.string` [docs, (lines)]."""
  contents = tf.strings.regex_replace(_file_contents(path), "\r\n?", "\n")
  if document_per_line:
    documents = tf.strings.split(contents, "\n")
  else:
    documents = tf.strings.split(
        tf.strings.regex_replace(contents, r"\n[ \t]*\n\s*", _PLACEHOLDER),
        _PLACEHOLDER)
  lines = _non_empty(tf.strings.split(documents, "\n"))
  return tf.ragged.boolean_mask(lines, lines.row_lengths() > 0)


def _sentences_of(lines):
  """A document's non-empty lines, split into its sentences (a vector)."""
  return split_into_sentences(lines).flat_values


def read_documents(input_files, document_per_line=False, split_sentences=True,
                   shuffle=True, shuffle_buffer=1000, seed=None):
  r"""Reads text files as a dataset of documents of sentences.

  Args:
    input_files: comma-separated file names or globs (see
      `expand_input_files`); `.gz` files are read as gzip.
    document_per_line: every line is a document; otherwise documents are
      separated by blank lines.
    split_sentences: split each line into sentences (paragraph-per-line
      corpora); False for the original BERT format, one sentence per line.
    shuffle: shuffle the file order and the documents (within
      `shuffle_buffer`), and interleave documents across files.
    shuffle_buffer: documents held for shuffling.
    seed: for the shuffles; the same seed gives the same order.

  Returns:
    `tf.data.Dataset` of `tf.string` [num_sentences] documents, none empty.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...   _ = f.write("Mr. Darcy bowed. She smiled!\nThe end.\n\n"
    ...               "A second document.\n")
    >>> for doc in read_documents(path, shuffle=False):
    ...   print(doc.numpy())
    [b'Mr. Darcy bowed.' b'She smiled!' b'The end.']
    [b'A second document.']
  """
  files = expand_input_files(input_files)
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    dataset = dataset.shuffle(len(files), seed=seed)
  dataset = dataset.interleave(
      lambda path: tf.data.Dataset.from_tensor_slices(
          _file_documents(path, document_per_line)),
      cycle_length=min(len(files), 16) if shuffle else 1)
  if shuffle:
    dataset = dataset.shuffle(shuffle_buffer, seed=seed)
  if split_sentences:  # Per document, so that it runs on every core.
    dataset = dataset.map(_sentences_of, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset


def tfds_documents(name, text_key="text", split="train", split_sentences=True,
                   data_dir=None, shuffle=True, seed=None):
  """Reads a TensorFlow Datasets text dataset as documents of sentences.

  Each example is a document; its text is split into lines (paragraphs) and,
  if asked, sentences.

  Args:
    name: tfds name, e.g. "wikipedia/20230601.en".
    text_key: the text feature, e.g. "text".
    split: the tfds split.
    split_sentences: as in `read_documents`.
    data_dir: tfds data directory (default: tfds' own).
    shuffle, seed: shuffle files and examples.

  Returns:
    `tf.data.Dataset` of `tf.string` [num_sentences] documents, none empty.

  Example:
    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=3):  # random text, offline
    ...   docs = tfds_documents("wikipedia/20230601.en", text_key="text")
    >>> docs.element_spec
    TensorSpec(shape=(None,), dtype=tf.string, name=None)
  """
  import tensorflow_datasets as tfds  # Heavy; only when tfds is asked for.
  builder = tfds.builder(name, data_dir=data_dir)
  features = builder.info.features
  if text_key not in features:
    raise ValueError(f"tfds dataset {name!r} has no feature {text_key!r}; its "
                     f"features are {sorted(features)}. Pass --tfds_text_key.")
  dataset = builder.as_dataset(
      split=split, shuffle_files=shuffle,
      read_config=tfds.ReadConfig(shuffle_seed=seed))

  def to_document(example):
    lines = _non_empty(tf.strings.split(
        tf.strings.regex_replace(example[text_key], "\r\n?", "\n"), "\n"))
    return _sentences_of(lines) if split_sentences else lines

  return dataset.map(to_document).filter(lambda doc: tf.size(doc) > 0)
