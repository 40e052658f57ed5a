r"""Learn a WordPiece vocabulary for BERT from text files.

  python -m keras_bert_lab.vocab --input_files=a.txt,b/*.txt.gz \
      --vocab_size=8000 --output=vocab.txt [--nolower_case] \
      [--reserved_tokens=[unused0],[unused1]]
"""

import os

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("input_files", None,
                  "Text files to learn from: comma-separated names or globs; "
                  ".gz files are read as gzip.")
flags.DEFINE_integer("vocab_size", 8000, "Most tokens in the vocabulary (the "
                     "learner aims within 5% below it).", lower_bound=16)
flags.DEFINE_string("output", None, "Where to write vocab.txt.")
flags.DEFINE_bool("lower_case", True, "Lower-case and strip accents, as for "
                  "an uncased BERT; --nolower_case for a cased one.")
flags.DEFINE_list("reserved_tokens", [], "Extra tokens to keep after "
                  "[PAD] [UNK] [CLS] [SEP] [MASK], comma-separated.")
flags.DEFINE_integer("max_unique_chars", None, "Most distinct characters to "
                     "keep (default: half of --vocab_size).")
flags.mark_flags_as_required(["input_files", "output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # TF loads here.
  from keras_bert_lab import data, text
  try:
    files = data.expand_input_files(FLAGS.input_files)
  except ValueError as e:
    raise app.UsageError(str(e))
  data.invalid_utf8_bytes(files)
  logging.info("counting words in %d file(s), %.1f MB", len(files),
               sum(tf.io.gfile.stat(f).length for f in files) / 1e6)
  try:
    tokens = text.learn_vocab(
        data.text_lines(files), FLAGS.vocab_size, lower_case=FLAGS.lower_case,
        reserved_tokens=FLAGS.reserved_tokens,
        max_unique_chars=FLAGS.max_unique_chars)
  except ValueError as e:
    raise app.UsageError(f"--input_files={','.join(FLAGS.input_files)}: {e}")
  text.write_vocab(tokens, FLAGS.output)
  logging.info("wrote %d tokens to %s", len(tokens), FLAGS.output)
  print(f"Wrote {len(tokens)} tokens to {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
