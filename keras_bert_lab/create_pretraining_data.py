r"""Write pre-training TFRecords, as google-research/bert's script does.

  python -m keras_bert_lab.create_pretraining_data \
      --input_files=corpus/*.txt --vocab_file=vocab.txt \
      --output_file=out.tfrecord --max_seq_length=128 \
      --max_predictions_per_seq=20 --masked_lm_prob=0.15 --short_seq_prob=0.1 \
      --dupe_factor=10 --do_whole_word_mask --random_seed=12345

The same flags and the same feature names (`input_ids`, `input_mask`,
`segment_ids`, `masked_lm_positions`, `masked_lm_ids`, `masked_lm_weights`,
`next_sentence_labels`) as Google's `create_pretraining_data.py`, so either
trainer reads the files. Examples are made by the same in-graph pipeline
`pretrain` uses (`keras_bert_lab.training.PretrainingInput`, over
`keras_bert_lab.data.pretraining_dataset`); only the writing happens in
Python. Several comma-separated output files are filled in turn.
"""

import os
import time

from absl import app, flags

from keras_bert_lab.training import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_list("input_files", None, "Text files: comma-separated names or "
                  "globs; .gz read as gzip.")
flags.DEFINE_string("vocab_file", None, "WordPiece vocabulary (vocab.txt).")
flags.DEFINE_list("output_file", None, "Output TFRecord file(s), "
                  "comma-separated; examples are spread over them in turn.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents "
                  "(uncased models).")
flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words: ## pieces "
                  "go with their word.")
flags.DEFINE_integer("ngram_max", 1, "Mask spans of up to N whole words "
                     "(needs --do_whole_word_mask).", lower_bound=1)
flags.DEFINE_integer("random_seed", 12345, "Seed: the same seed gives the "
                     "same files.")
flags.DEFINE_integer("dupe_factor", 10, "Passes over the corpus, each with "
                     "new pairs and masks.", lower_bound=1)
cli_flags.define_instance_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
flags.mark_flags_as_required(["input_files", "vocab_file", "output_file"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  from keras_bert_lab import text, training

  start = time.time()
  try:
    tokenizer = text.BertTokenizer(FLAGS.vocab_file,
                                   lower_case=FLAGS.do_lower_case)
    examples = training.PretrainingInput(
        input_files=FLAGS.input_files, eval_holdout_percent=0,
        lower_case=FLAGS.do_lower_case,
        split_sentences=FLAGS.split_sentences,
        document_per_line=FLAGS.document_per_line,
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob,
        next_sentence=FLAGS.next_sentence,
        cross_documents=FLAGS.cross_documents,
        whole_word_mask=FLAGS.do_whole_word_mask, ngram_max=FLAGS.ngram_max,
        seed=FLAGS.random_seed).checked()
    written, random_next = examples.write_tfrecords(
        tokenizer, FLAGS.output_file, passes=FLAGS.dupe_factor)
  except ValueError as e:
    raise app.UsageError(str(e))
  print(f"Wrote {written} examples to {', '.join(FLAGS.output_file)} in "
        f"{time.time() - start:.0f} s; next_sentence_labels: "
        f"{random_next:.1%} random next.")


if __name__ == "__main__":
  app.run(main)
