"""Pre-training as a task: masked LM (and NSP) on your own corpus.

The same interface as the downstream families, over the pre-training pieces:
the config is `training.pretraining.PretrainingInput` (the corpus, how
examples are made from it, the batch), `read_data` gives its training and
held-out documents, the datasets are `data.pretraining_dataset`'s (NSP
pairs, packing and 80/10/10 masking in the graph), the model is a
`BertPretrainer` (new, or continued from any checkpoint), whose `compile()`
gives BERT's pre-training loss and the MLM / NSP accuracies, and `evaluate`
is the loop's held-out masked-LM and NSP accuracy. `python -m
keras_bert_lab.pretrain` runs the same pieces under our own loop
(`training.train`; DESIGN.md says why), a notebook under `model.fit`.

Pre-training has no preprocessor of its own to export: a pre-trained
encoder is served by `serving.encoder` (TF-Hub style preprocess + encoder).

Example:
  >>> PretrainingTask().name
  'pretraining'
"""

from keras_bert_lab.tasks import base
from keras_bert_lab.training.pretraining import (PretrainingInput,
                                                 pretraining_model)


class PretrainingTask(base.Task):
  """Masked-LM (+ NSP) pre-training over `config`'s corpus.

  Args:
    config: a `PretrainingInput` (default: its defaults; give a source).

  Example:
    >>> import tempfile, pathlib
    >>> from keras_bert_lab import tasks
    >>> corpus = pathlib.Path(tempfile.mkdtemp()) / "corpus.txt"
    >>> _ = corpus.write_text("Elinor smiled. She was calm.\\n\\n"
    ...                       "Marianne wept. It rained all day.\\n")
    >>> task = PretrainingTask(PretrainingInput(
    ...     input_files=[str(corpus)], max_seq_length=16,
    ...     max_predictions_per_seq=3, eval_holdout_percent=0))
    >>> data = task.read_data()
    >>> model = task.build_model(model_size="tiny")
    >>> batch = next(iter(task.train_dataset(
    ...     data.train, tasks.load_tokenizer(model), 4)))
    >>> sorted(batch)[:3]
    ['input_mask', 'input_type_ids', 'input_word_ids']
  """

  config_class = PretrainingInput

  @property
  def name(self):
    return "pretraining"

  @property
  def model_class(self):
    from keras_bert_lab.models import BertPretrainer
    return BertPretrainer

  def read_data(self, data=None):
    """The corpus' training documents and its held-out ones.

    Args:
      data: unused (the corpus is the config's); for the common signature.

    Returns:
      A `TaskData` of document datasets (counts unknown: the stream is
      endless).

    Raises:
      ValueError: not exactly one source, or files that match nothing.
    """
    config = self.config = self.config.checked()
    files = config.input_files
    held_out = (f"eval_files {config.eval_files}" if config.eval_files else
                f"{config.eval_holdout_percent}% of the documents held out "
                "by a hash of their first sentence")
    return base.TaskData(
        train=config.documents(files), num_train=None, predict=None,
        eval=config.documents(config.eval_files or files, eval_split=True),
        num_eval=config.eval_batches * config.train_batch_size,
        eval_name=held_out)

  def build_model(self, init_checkpoint=None, **kwargs):
    """A `BertPretrainer`: new (`model_size=...`) or from a checkpoint.

    Args:
      init_checkpoint: continue from this checkpoint folder, or None.
      **kwargs: `training.pretraining.pretraining_model`'s other arguments
        (`model_size`, `bert_config_file`, `vocab_file`).

    Returns:
      The model; its tokenizer is `tasks.load_tokenizer(model)`.
    """
    model, _ = pretraining_model(
        init_checkpoint, next_sentence=self.config.next_sentence,
        max_seq_length=self.config.max_seq_length, **kwargs)
    return model

  def _dataset(self, documents, tokenizer, batch_size, passes, seed):
    return self.config.features(tokenizer, documents, batch_size,
                                passes=passes, seed=self.config.seed + seed,
                                shuffle=passes is None)

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    from keras_bert_lab import training
    return training.evaluate(model, self.eval_dataset(
        examples, tokenizer, batch_size).take(self.config.eval_batches))
