"""A pre-training run's set-up: its input, its model, its `model_dir`.

`PretrainingInput` is the input of a run (text files, TFRecords or tfds, and
how examples are made from them) with its checks, its training input
function (one pipeline per host), its held-out evaluation batches and the
settings a resume must keep. `pretraining_model` makes the model and its
tokenizer (new, or continued from a checkpoint with its own vocabulary and
case). `prepare_model_dir` refuses a `model_dir` that holds another run and
writes the run's record. `python -m keras_bert_lab.pretrain` maps its flags
onto these; a notebook calls them directly.

Written here because no library holds a run's record: refusing to resume a
checkpoint with another model config or other input (which could not
continue at the saved data position) is ours.
"""

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import tempfile
import time

import tensorflow as tf

from keras_bert_lab.config import read_json, write_atomically
from keras_bert_lab.text.vocab_io import BUNDLED_VOCAB
from keras_bert_lab.training.errors import explained

logger = logging.getLogger("keras_bert_lab")


# The fields (flags) that decide the training examples and their order: a
# resumed run continues at the saved data position only if they stay the
# same.
INPUT_FLAGS = ("input_files", "tfrecord_files", "tfds_name", "tfds_text_key",
               "tfds_split", "eval_files", "eval_holdout_percent",
               "lower_case", "split_sentences", "document_per_line",
               "max_seq_length", "max_predictions_per_seq", "masked_lm_prob",
               "short_seq_prob", "next_sentence", "cross_documents",
               "whole_word_mask", "ngram_max", "seed", "train_batch_size",
               "bucket_boundaries")


@dataclasses.dataclass(frozen=True)
class PretrainingInput:
  """The input of a pre-training run; the fields are `pretrain`'s flags.

  Exactly one source: `input_files` (text; blank lines separate documents),
  `tfrecord_files` (google-research/bert's TFRecords) or `tfds_name`.
  Evaluation reads `eval_files`, or the `eval_holdout_percent` of the text
  documents held out of training (by a hash of their first sentence).
  The other fields are `keras_bert_lab.data.pretraining_dataset`'s, and
  `bucket_boundaries` `data.bucket_by_length`'s.

  Example:
    >>> from keras_bert_lab.text import BertTokenizer, BUNDLED_CORPUS
    >>> data = PretrainingInput(
    ...     input_files=[str(BUNDLED_CORPUS)],
    ...     max_seq_length=32, train_batch_size=8).checked()
    >>> strategy = tf.distribute.get_strategy()   # or Mirrored, TPU, ...
    >>> distributed = strategy.distribute_datasets_from_function(
    ...     data.train_dataset_fn(BertTokenizer(BUNDLED_VOCAB)))
    >>> next(iter(distributed))["input_word_ids"].shape
    TensorShape([8, 32])
  """

  input_files: list = None
  tfrecord_files: list = None
  tfds_name: str = None
  tfds_text_key: str = "text"
  tfds_split: str = "train"
  eval_files: list = None
  eval_holdout_percent: int = 5
  eval_batches: int = 50
  lower_case: bool = True
  split_sentences: bool = True
  document_per_line: bool = False
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  short_seq_prob: float = 0.1
  next_sentence: bool = True
  cross_documents: bool = True
  whole_word_mask: bool = False
  ngram_max: int = 1
  seed: int = 12345
  train_batch_size: int = 32
  bucket_boundaries: list = dataclasses.field(default_factory=list)

  def checked(self):
    """Checks the sources before compute is spent.

    Returns:
      This input, with `tfrecord_files` expanded to a sorted file list.

    Raises:
      ValueError: not exactly one source, a file pattern that matches no
        (or an empty, or a cut-short gzip) file, or bad `bucket_boundaries`.
        Invalid UTF-8 in the text files is counted and logged once.
    """
    from keras_bert_lab import data
    sources = [name for name in ("input_files", "tfrecord_files", "tfds_name")
               if getattr(self, name)]
    if len(sources) != 1:
      raise ValueError("Give exactly one data source: --input_files, "
                       "--tfrecord_files or --tfds_name (got "
                       f"{sources or 'none'}).")
    if self.tfrecord_files and self.whole_word_mask:
      logger.warning("--whole_word_mask has no effect with --tfrecord_files: "
                     "the files are already masked.")
    data.bucket_boundaries(self.bucket_boundaries, self.max_seq_length)
    for files in (self.input_files, self.eval_files):
      if files:
        data.invalid_utf8_bytes(data.expand_input_files(files))
    if not self.tfrecord_files:
      return self
    return dataclasses.replace(
        self, tfrecord_files=data.expand_input_files(self.tfrecord_files))

  def settings(self, vocab, input_pipelines):
    """What a resumed run must keep (saved as `input_flags.json`).

    Args:
      vocab: the tokenizer's tokens (saved as a hash).
      input_pipelines: `num_input_pipelines(strategy)`; each pipeline reads
        its own share with its own seed.

    Returns:
      A JSON-ready dict: the `INPUT_FLAGS` fields (local paths made
      absolute), `input_pipelines` and `vocab`.
    """
    settings = {name: getattr(self, name) for name in INPUT_FLAGS}
    for name in ("input_files", "tfrecord_files", "eval_files"):
      if settings[name]:
        settings[name] = [path if "://" in path else os.path.abspath(path)
                          for path in settings[name]]
    settings["bucket_boundaries"] = list(settings["bucket_boundaries"])
    settings["input_pipelines"] = input_pipelines
    settings["vocab"] = hashlib.sha256(
        "\n".join(vocab).encode("utf-8")).hexdigest()
    return settings

  def documents(self, files=None, context=None, eval_split=False):
    """Text documents: for training, or the held-out ones (`eval_split`).

    Args:
      files: text files; None reads `tfds_name`.
      context: a `tf.distribute.InputContext`: this pipeline's share.
      eval_split: the documents held out of training (in file order).

    Returns:
      A `tf.data.Dataset` of documents (`tf.string` sentences).
    """
    from keras_bert_lab import data
    if files is None:
      documents = data.tfds_documents(
          self.tfds_name, self.tfds_text_key, self.tfds_split,
          split_sentences=self.split_sentences, shuffle=not eval_split,
          seed=self.seed)
    else:
      documents = data.read_documents(
          files, document_per_line=self.document_per_line,
          split_sentences=self.split_sentences, seed=self.seed,
          shuffle=not eval_split)
    if context is not None and context.num_input_pipelines > 1:
      documents = documents.shard(context.num_input_pipelines,
                                  context.input_pipeline_id)
    if not self.eval_files and self.eval_holdout_percent:
      def held_out(document):
        return tf.strings.to_hash_bucket_fast(document[0], 100) < (
            self.eval_holdout_percent)
      documents = documents.filter(
          held_out if eval_split else lambda d: ~held_out(d))
    return documents

  def features(self, tokenizer, documents, batch_size, passes, seed,
               shuffle):
    """`data.pretraining_dataset` of `documents` with this input's settings.

    Args:
      tokenizer: a `BertTokenizer`.
      documents: from `documents`.
      batch_size: examples per batch.
      passes: passes over the documents; None: forever, in full batches.
      seed: the examples' and masks' seed.
      shuffle: shuffle the examples (10,000 at a time).

    Returns:
      A `tf.data.Dataset` of pre-training feature dicts.
    """
    from keras_bert_lab import data
    return data.pretraining_dataset(
        documents, tokenizer, batch_size, max_seq_length=self.max_seq_length,
        max_predictions_per_seq=self.max_predictions_per_seq,
        masked_lm_prob=self.masked_lm_prob,
        short_seq_prob=self.short_seq_prob, next_sentence=self.next_sentence,
        cross_documents=self.cross_documents,
        whole_word_mask=self.whole_word_mask, ngram_max=self.ngram_max,
        passes=passes, seed=seed, shuffle_buffer=10000 if shuffle else 0,
        drop_remainder=passes is None)

  def train_dataset_fn(self, tokenizer):
    """The training input, for `distribute_datasets_from_function`.

    Args:
      tokenizer: a `BertTokenizer` (unused with `tfrecord_files`).

    Returns:
      `tf.distribute.InputContext -> tf.data.Dataset`: endless per-replica
      batches of this pipeline's share (seeded `seed + pipeline id`).
    """
    from keras_bert_lab import data

    def dataset_fn(context):
      batch_size = context.get_per_replica_batch_size(self.train_batch_size)
      if self.tfrecord_files:
        # Each input pipeline reads its share of the files, or of the
        # records when there are fewer files than pipelines.
        files, shard = self.tfrecord_files, None
        pipelines, index = (context.num_input_pipelines,
                            context.input_pipeline_id)
        if len(files) >= pipelines:
          files = files[index::pipelines]
        else:
          shard = (pipelines, index)
        batches = data.read_pretraining_tfrecords(
            files, self.max_seq_length, self.max_predictions_per_seq,
            batch_size=batch_size, shard=shard).repeat()
      else:
        batches = self.features(
            tokenizer, self.documents(self.input_files, context), batch_size,
            passes=None, seed=self.seed + context.input_pipeline_id,
            shuffle=True)
      if self.bucket_boundaries:
        batches = data.bucket_by_length(batches.unbatch(), batch_size,
                                        self.bucket_boundaries)
      return batches

    return dataset_fn

  def eval_dataset(self, tokenizer):
    """The held-out evaluation batches (`eval_batches` global batches).

    Args:
      tokenizer: a `BertTokenizer`.

    Returns:
      A finite `tf.data.Dataset` of feature dicts from `eval_files` or the
      held-out documents; None (with a warning) for TFRecords without
      `eval_files`.
    """
    if self.tfrecord_files and not self.eval_files:
      logger.warning("No --eval_files: eval_results.json is left empty.")
      return None
    documents = self.documents(self.eval_files or self.input_files,
                               eval_split=True)
    return self.features(tokenizer, documents, self.train_batch_size,
                         passes=1, seed=self.seed,
                         shuffle=False).take(self.eval_batches)

  @contextlib.contextmanager
  def input_errors(self):
    """Around a loop over this input's batches: NSP over one document, and
    a corrupt or cut-short TFRecord, are `ValueError`s that name the files
    and the fix.

    The pipeline raises them in the graph (an `InvalidArgumentError` when
    the first batch is drawn; a `DataLossError` at the bad record).

    Returns:
      A context manager.

    Example:
      >>> import os, tempfile
      >>> from keras_bert_lab.text import BertTokenizer
      >>> path = os.path.join(tempfile.mkdtemp(), "one.txt")
      >>> with open(path, "w") as f:
      ...   _ = f.write("One document. Two sentences.\\n")
      >>> data = PretrainingInput(input_files=[path], eval_holdout_percent=0)
      >>> with data.input_errors():
      ...   next(iter(data.train_dataset_fn(BertTokenizer(BUNDLED_VOCAB))(
      ...       tf.distribute.InputContext())))
      Traceback (most recent call last):
      ...
      ValueError: .../one.txt holds a single document, and NSP needs two ...
    """
    from keras_bert_lab import data
    with data.corrupt_record_error(self.tfrecord_files or []), explained(
        tf.errors.InvalidArgumentError, "NSP needs at least two documents",
        f"{','.join(self.input_files or [self.tfds_name or ''])} holds a "
        "single document, and NSP needs two to draw random next sentences. "
        "Add documents (blank lines separate them, or --document_per_line), "
        "or use --nonext_sentence."):
      yield

  def write_tfrecords(self, tokenizer, output_files, passes=1):
    """Writes the examples of `passes` over `input_files` as TFRecords.

    In google-research/bert's format (`data.to_examples`), spread over
    `output_files` in turn; a log line every 10 seconds.

    Args:
      tokenizer: a `BertTokenizer`.
      output_files: TFRecord paths.
      passes: passes over the corpus, each with new pairs and masks (the
        original's `--dupe_factor`).

    Returns:
      `(written, random_next)`: the examples written, and the share of them
      whose B segment is a random next sentence.

    Raises:
      ValueError: NSP over a single document, or no examples at all.

    Example:
      >>> import os, tempfile
      >>> from keras_bert_lab.text import BertTokenizer, BUNDLED_CORPUS
      >>> out = os.path.join(tempfile.mkdtemp(), "train.tfrecord")
      >>> written, random_next = PretrainingInput(
      ...     input_files=[str(BUNDLED_CORPUS)],
      ...     eval_holdout_percent=0, max_seq_length=64).write_tfrecords(
      ...         BertTokenizer(BUNDLED_VOCAB), [out])
      >>> written > 1000, 0 < random_next < 1
      (True, True)
    """
    from keras_bert_lab import data
    dataset = self.features(tokenizer, self.documents(self.input_files), 256,
                            passes=passes, seed=self.seed, shuffle=True)
    writers = [tf.io.TFRecordWriter(str(path)) for path in output_files]
    written = random_next = 0
    start = last_report = time.time()
    try:
      with self.input_errors():
        for batch in dataset:
          for record in data.to_examples(batch):
            writers[written % len(writers)].write(record)
            written += 1
          random_next += int(tf.reduce_sum(batch["next_sentence_labels"]))
          if time.time() - last_report > 10:
            last_report = time.time()
            logger.info("%d examples written (%.0f/s)", written,
                        written / (last_report - start))
    finally:
      for writer in writers:
        writer.close()
    if not written:
      raise ValueError(f"No examples: {self.input_files} holds no text.")
    return written, random_next / written


def pretraining_model(init_checkpoint=None, model_size="tiny",
                      bert_config_file=None, vocab_file=None, lower_case=None,
                      next_sentence=True, max_seq_length=128):
  """The model to pre-train and its tokenizer; build under `strategy.scope()`.

  Args:
    init_checkpoint: continue from this checkpoint folder (HF, Google TF1,
      keras-hub, ours); its vocabulary and case are then the defaults.
    model_size: a `BertConfig` preset for a new model.
    bert_config_file: instead of `model_size`: Google's `bert_config.json`
      or HF's `config.json`.
    vocab_file: the vocabulary; None: the checkpoint's, else the bundled
      one (`BUNDLED_VOCAB`).
    lower_case: lower-case and strip accents; None: the checkpoint's, else
      True.
    next_sentence: with the NSP head.
    max_seq_length: the training sequence length, checked against the
      model's positions.

  Returns:
    `(model, tokenizer)`: a `BertPretrainer` and its `BertTokenizer` (whose
    `lower_case` is the one chosen).

  Raises:
    ValueError: an unreadable checkpoint, config or vocabulary, a vocabulary
      of another size than the model's, or `max_seq_length` past its
      positions.

  Example:
    >>> with tf.distribute.get_strategy().scope():
    ...   model, tokenizer = pretraining_model(model_size="mini")
    >>> model.config.num_layers, tokenizer.vocab_size
    (4, 8000)
  """
  from keras_bert_lab import models, text
  from keras_bert_lab.config import BertConfig
  if init_checkpoint:
    model = models.BertPretrainer.from_pretrained(
        init_checkpoint, next_sentence=next_sentence)
    if lower_case is None:
      lower_case = model.lower_case
    if vocab_file is not None or not model.vocab:
      tokenizer = text.BertTokenizer(vocab_file or BUNDLED_VOCAB,
                                     lower_case=lower_case)
    else:   # the checkpoint's own vocabulary (read when built)
      with tempfile.TemporaryDirectory() as folder:
        own = os.path.join(folder, "vocab.txt")
        text.write_vocab(model.vocab, own)
        tokenizer = text.BertTokenizer(own, lower_case=lower_case)
    config = model.config
    source = f"--init_checkpoint={init_checkpoint}"
  else:
    lower_case = True if lower_case is None else lower_case
    tokenizer = text.BertTokenizer(vocab_file or BUNDLED_VOCAB,
                                   lower_case=lower_case)
    config = (BertConfig.from_json_file(bert_config_file) if bert_config_file
              else BertConfig.preset(model_size,
                                     vocab_size=tokenizer.vocab_size))
    source = "The model"
  if config.vocab_size != tokenizer.vocab_size:
    raise ValueError(
        f"{source} has vocab_size={config.vocab_size} but "
        f"{tokenizer.vocab_file} holds {tokenizer.vocab_size} tokens; use the "
        "vocabulary the model was made for.")
  if max_seq_length > config.max_position_embeddings:
    raise ValueError(
        f"--max_seq_length={max_seq_length} is longer than {source} "
        f"allows (max_position_embeddings={config.max_position_embeddings}); "
        "lower it.")
  if not init_checkpoint:
    model = models.BertPretrainer(
        models.BertEncoder(config, vocab=tokenizer.vocab,
                           lower_case=lower_case),
        next_sentence=next_sentence)
  return model, tokenizer


def prepare_model_dir(model_dir, config, vocab, input_settings, write=True):
  """Refuses a `model_dir` of another run; writes this run's record.

  The model config must match `bert_config.json`; once a checkpoint exists,
  the input settings must match `input_flags.json`, since other input
  cannot continue at the saved data position. With `write` (the chief),
  makes `model_dir` and writes `bert_config.json`, `input_flags.json`
  (both only while not fixed yet) and `vocab.txt`.

  Args:
    model_dir: the run's folder.
    config: the model's `BertConfig`.
    vocab: the tokenizer's tokens.
    input_settings: `PretrainingInput.settings(...)`.
    write: write the files (False on a non-chief worker).

  Raises:
    ValueError: the folder holds a run of another config, or a checkpoint
      trained on other input (naming the flags, saved and asked).

  Example:
    >>> model, tokenizer = pretraining_model(model_size="tiny")
    >>> data = PretrainingInput(input_files=[str(BUNDLED_VOCAB)])
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> prepare_model_dir(run, model.config, tokenizer.vocab,
    ...                   data.settings(tokenizer.vocab, 1))
    >>> sorted(os.listdir(run))
    ['bert_config.json', 'input_flags.json', 'vocab.txt']
  """
  from keras_bert_lab import text
  from keras_bert_lab.config import BertConfig
  model_dir = pathlib.Path(model_dir)
  saved = model_dir / "bert_config.json"
  if saved.exists():
    old = BertConfig.from_json_file(str(saved)).to_dict()
    new = config.to_dict()
    diff = {k: (old[k], new[k]) for k in old if old[k] != new.get(k)}
    if diff:
      raise ValueError(
          f"{model_dir} holds a run of another model config (saved, asked): "
          f"{diff}. Use a new --model_dir or the same model flags.")
  elif write:
    model_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(saved, lambda path: config.write_google_json(path))
  saved = model_dir / "input_flags.json"
  if saved.exists() and (model_dir / "checkpoint").exists():
    old = read_json(saved)
    diff = {f"--{k}": (old.get(k), input_settings[k]) for k in INPUT_FLAGS
            if old.get(k) != input_settings[k]}
    if old.get("vocab") != input_settings["vocab"]:
      diff["--vocab_file"] = "a vocabulary other than the saved vocab.txt"
    if old.get("input_pipelines", 1) != input_settings["input_pipelines"]:
      diff["workers (TF_CONFIG)"] = (old.get("input_pipelines", 1),
                                     input_settings["input_pipelines"])
    if diff:
      raise ValueError(
          f"{model_dir} holds a checkpoint trained on other input (saved, "
          f"asked): {diff}. Resuming continues at the saved data position, "
          "which only the same input reaches: rerun with the values in "
          f"{saved} (and as many workers), or use a new --model_dir.")
  elif write:
    write_atomically(saved, lambda path: pathlib.Path(path).write_text(
        json.dumps(input_settings, indent=2)))
  if write:
    write_atomically(model_dir / "vocab.txt",
                     lambda path: text.write_vocab(vocab, path))
