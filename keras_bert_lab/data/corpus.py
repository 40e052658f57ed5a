"""Find and read text corpora: comma-separated globs, plain or gzip files.

`tf.data.TextLineDataset` does the reading; this module adds what it lacks:
glob expansion across several patterns, gzip chosen per file by its suffix,
and a clear error naming any pattern that matches nothing or any empty file,
raised before compute is spent.
"""

import os

import tensorflow as tf


def expand_input_files(patterns):
  """Expands comma-separated file names and globs into a sorted file list.

  Args:
    patterns: a string "a.txt,dir/*.txt.gz" or a list of such strings.

  Returns:
    Sorted list of file paths, without duplicates.

  Raises:
    ValueError: a pattern matches no file, or a matched file is empty. The
      message names the pattern or file.

  Example:
    >>> expand_input_files("corpus/*.txt")
    ['corpus/a.txt', 'corpus/b.txt']
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
  return sorted(files)


def text_lines(files):
  """A dataset of the lines of `files` (gzip when the name ends in .gz).

  Args:
    files: list of paths, e.g. from `expand_input_files`.

  Returns:
    `tf.data.Dataset` of scalar `tf.string` lines, file after file.
  """
  datasets = [
      tf.data.TextLineDataset(f, compression_type="GZIP" if f.endswith(".gz")
                              else None) for f in files]
  lines = datasets[0]
  for ds in datasets[1:]:
    lines = lines.concatenate(ds)
  return lines
