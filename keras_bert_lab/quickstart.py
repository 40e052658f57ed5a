r"""The quick start's main job on the bundled corpus, offline, no arguments.

  python -m keras_bert_lab.quickstart [--output_dir=runs/quickstart]

Learns a WordPiece vocabulary from the bundled Jane Austen novels with the
same code as `python -m keras_bert_lab.vocab`, then tokenizes the whole
corpus in a tf.data pipeline with `BertTokenizer` and packs it into BERT
inputs, reporting throughput, the [UNK] rate and a sample. (Pre-training
replaces the second half once it lands.)
"""

import os
import pathlib
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/quickstart",
                    "Where to write the learned vocab.txt.")
flags.DEFINE_integer("vocab_size", 8000, "Vocabulary size to learn.")
flags.DEFINE_integer("max_seq_length", 128, "Packed sequence length.")

RESOURCES = pathlib.Path(__file__).resolve().parent / "resources"
BUNDLED_CORPUS = RESOURCES / "austen_sense_and_sensibility_pride_and_prejudice.txt"
BUNDLED_VOCAB = RESOURCES / "vocab.txt"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf
  from keras_bert_lab import data, text

  out = pathlib.Path(FLAGS.output_dir)
  out.mkdir(parents=True, exist_ok=True)
  print(f"1/2 Learning a {FLAGS.vocab_size}-token WordPiece vocabulary from "
        f"{BUNDLED_CORPUS.name} ({BUNDLED_CORPUS.stat().st_size / 1e6:.2f} MB)")
  start = time.time()
  vocab = text.learn_vocab(str(BUNDLED_CORPUS), FLAGS.vocab_size)
  text.write_vocab(vocab, out / "vocab.txt")
  print(f"    {len(vocab)} tokens -> {out / 'vocab.txt'} "
        f"({time.time() - start:.0f} s)")

  print("2/2 Tokenizing and packing the corpus in tf.data")
  tokenizer = text.BertTokenizer(out / "vocab.txt", lower_case=True)
  packer = text.BertPacker.for_tokenizer(tokenizer, FLAGS.max_seq_length)
  lines = data.text_lines([str(BUNDLED_CORPUS)]).filter(
      lambda line: tf.strings.length(line) > 0)

  def featurize(batch):
    ids = tokenizer(batch)
    return packer(ids), ids.flat_values

  dataset = lines.batch(256).map(
      featurize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(4)
  start = time.time()
  examples = tokens = unknown = truncated = 0
  for features, ids in dataset:
    examples += int(features["input_word_ids"].shape[0])
    tokens += int(ids.shape[0])
    unknown += int(tf.reduce_sum(tf.cast(ids == tokenizer.unk_id, tf.int32)))
    truncated += int(tf.reduce_sum(features["input_mask"][:, -1]))
  print(f"    {examples} paragraphs, {tokens:,} tokens in "
        f"{time.time() - start:.1f} s (throughput: benchmarks/tokenizer.py)")
  print(f"    [UNK] rate {unknown / max(tokens, 1):.4%}; "
        f"{truncated} paragraphs filled all {FLAGS.max_seq_length} positions")
  sample = tf.constant(["It is a truth universally acknowledged, that a single "
                        "man in possession of a good fortune, must be in want "
                        "of a wife."])
  ids = tokenizer(sample)
  print("    sample:", " ".join(tokenizer.vocab[i] for i in ids[0].numpy()))
  print(f"    packed: {packer(ids)['input_word_ids'][0][:24].numpy().tolist()}")


if __name__ == "__main__":
  app.run(main)
