"""The task API: typed task.json (round trip, errors, the format-1 upgrade),
`compile()` defaults that train under `model.fit(task.train_dataset(...))`
for every family, and the word rule learned from real tagging files."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab import finetune, tasks
from keras_bert_lab.config import BertConfig
from keras_bert_lab.data import tagging
from keras_bert_lab.models import BertEncoder
from keras_bert_lab.text import read_vocab
from tests.conftest import ROOT

VOCAB_FILE = ROOT / "keras_bert_lab" / "resources" / "vocab.txt"
FIXTURES = ROOT / "tests" / "data" / "fixtures"


def _encoder(seed=0):
  keras.utils.set_random_seed(seed)
  vocab = read_vocab(str(VOCAB_FILE))
  config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_layers=1,
                      num_heads=2, intermediate_size=64,
                      max_position_embeddings=64)
  return BertEncoder(config, vocab=vocab, lower_case=True)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp("encoder")
  _encoder().save_pretrained(str(path))
  return path


def test_task_names_are_the_clis():
  """The CLI's --task enum is the library's list."""
  assert finetune.FLAGS["task"].parser.enum_values == list(tasks.TASK_NAMES)
  assert set(tasks.TASK_NAMES) == {"classification", "regression", "tagging",
                                   "squad", "multiple_choice"}


def test_get_task_checks_names_and_fields():
  assert tasks.get_task("regression").config.regression
  with pytest.raises(ValueError, match="not one of"):
    tasks.get_task("nli")
  with pytest.raises(ValueError, match="doc_strid"):
    tasks.get_task("squad", doc_strid=64)


@pytest.mark.parametrize("config", [
    tasks.ClassificationConfig(labels=["a", "b"], max_seq_length=32,
                               text_column="review", pair=False),
    tasks.ClassificationConfig(regression=True, max_seq_length=32),
    tasks.TaggingConfig(labels=["O", "B-PER"], word_units="characters"),
    tasks.SquadConfig(max_seq_length=48, doc_stride=16,
                      version_2_with_negative=True),
    tasks.MultipleChoiceConfig(max_seq_length=32, num_choices=4),
], ids=lambda c: c.task)
def test_config_round_trips_through_task_json(config, encoder_dir, tmp_path):
  task = tasks.task_for_config(config)
  model = task.build_model(str(encoder_dir))
  task.save(model, tmp_path)
  written = json.loads((tmp_path / "task.json").read_text())
  assert written["format_version"] == 2 and written["task"] == config.task
  assert tasks.read_config(tmp_path) == config
  again, reloaded = tasks.load(tmp_path)
  assert again.config == config and type(reloaded) is type(model)


def _task_file(tmp_path, values):
  (tmp_path / "task.json").write_text(json.dumps(values))
  return tmp_path


GOOD = {"format_version": 2, "task": "classification",
        "model_class": "BertClassifier", "num_outputs": 2, "labels": ["a", "b"],
        "lower_case": True, "max_seq_length": 64, "pair": False,
        "text_column": "text", "text_b_column": None, "label_column": "label",
        "truncation": "longest_first"}


def test_unknown_missing_and_newer_keys_name_the_file(tmp_path):
  assert tasks.read_config(_task_file(tmp_path, GOOD)).max_seq_length == 64
  bad = dict(GOOD, max_seq_lenght=64)
  with pytest.raises(ValueError, match=r"task\.json: unknown key\(s\) "
                     r"\['max_seq_lenght'\]"):
    tasks.read_config(_task_file(tmp_path, bad))
  bad = {k: v for k, v in GOOD.items() if k != "truncation"}
  with pytest.raises(ValueError, match=r"task\.json: missing key\(s\) "
                     r"\['truncation'\]"):
    tasks.read_config(_task_file(tmp_path, bad))
  with pytest.raises(ValueError, match="format_version=3 is newer"):
    tasks.read_config(_task_file(tmp_path, dict(GOOD, format_version=3)))
  with pytest.raises(ValueError, match="task='nli' is not one of"):
    tasks.read_config(_task_file(tmp_path, dict(GOOD, task="nli")))


def test_format_1_folders_are_upgraded(tmp_path):
  """What the code before typed configs wrote still loads, with the
  settings that code used where it left them out."""
  old = {"format_version": 1, "task": "classification",
         "model_class": "BertClassifier", "num_outputs": 2,
         "labels": ["a", "b"], "lower_case": True, "max_seq_length": 96,
         "text_column": "sentence", "text_b_column": "sentence2",
         "label_column": "label"}
  config = tasks.read_config(_task_file(tmp_path, old))
  assert config == tasks.ClassificationConfig(
      labels=["a", "b"], max_seq_length=96, pair=True, text_column="sentence",
      text_b_column="sentence2", truncation="longest_first")
  tagger = {"format_version": 1, "task": "tagging",
            "model_class": "BertTokenClassifier", "num_outputs": 2,
            "labels": ["O", "B-X"], "lower_case": True, "max_seq_length": 64,
            "empty_words": "unk", "first_wordpiece_labels": True}
  config = tasks.read_config(_task_file(tmp_path, tagger))
  assert config == tasks.TaggingConfig(labels=["O", "B-X"], max_seq_length=64,
                                       word_units="basic")


def test_hf_task_folder_gets_default_settings(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({
      "architectures": ["BertForTokenClassification"],
      "id2label": {"0": "O", "1": "B-PER"}}))
  config = tasks.read_config(tmp_path)
  assert config == tasks.TaggingConfig(labels=["O", "B-PER"],
                                       word_units="basic")


def test_word_units_learned_from_real_files(data_dir, tmp_path):
  """People's Daily's BIO file has a character per line; CoNLL-style files
  have words."""
  bio = data_dir / "labeled" / "zh" / "peoples_daily_ner_train.bio"
  head = "\n\n".join(bio.read_text(encoding="utf-8").split("\n\n")[:500])
  (tmp_path / "zh.bio").write_text(head + "\n", encoding="utf-8")
  assert tagging.word_units_of(
      tagging.read_tagging_file(str(tmp_path / "zh.bio"))) == "characters"
  (tmp_path / "en.bio").write_text("John B-PER\nlives O\n\nA O\n",
                                   encoding="utf-8")
  assert tagging.word_units_of(
      tagging.read_tagging_file(str(tmp_path / "en.bio"))) == "whitespace"


def _fit_one_family(task, examples, encoder_dir):
  """`model.compile()` + `fit` on a batch of the task's stream: the loss
  (the task's default) goes down."""
  model = task.build_model(str(encoder_dir), hidden_dropout_prob=0.0)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  tokenizer = tasks.load_tokenizer(model)
  stream = task.train_dataset(examples, tokenizer, batch_size=4, seed=0)
  batch = tf.data.Dataset.from_tensors(next(iter(stream))).repeat()
  losses = model.fit(batch, epochs=3, steps_per_epoch=3,
                     verbose=0).history["loss"]
  assert losses[-1] < losses[0], (task.name, losses)
  return model


@pytest.mark.slow
def test_compile_defaults_train_every_family(encoder_dir, tmp_path):
  rows = tf.data.Dataset.from_tensor_slices({
      "text": ["good", "bad", "fine tea", "awful", "nice", "stale"],
      "label": ["pos", "neg", "pos", "neg", "pos", "neg"],
      "source": ["rows"] * 6, "line": np.arange(2, 8)})
  clf = tasks.ClassificationTask(tasks.ClassificationConfig(
      labels=["neg", "pos"], max_seq_length=16))
  model = _fit_one_family(clf, rows, encoder_dir)
  assert model.loss.name == "sparse_categorical_crossentropy"
  scores = rows.map(lambda r: dict(r, label=tf.strings.as_string(
      tf.strings.length(r["text"]))))
  reg = tasks.ClassificationTask(tasks.ClassificationConfig(
      regression=True, max_seq_length=16))
  assert _fit_one_family(reg, scores, encoder_dir).loss.name == (
      "mean_squared_error")
  (tmp_path / "ner.bio").write_text(
      "Ann B-PER\nlives O\nhere O\n\nBob B-PER\nsings O\n\n", encoding="utf-8")
  tagger = tasks.TaggingTask(tasks.TaggingConfig(labels=["O", "B-PER"],
                                                 max_seq_length=16))
  _fit_one_family(tagger, tagging.read_tagging_file(str(tmp_path / "ner.bio")),
                  encoder_dir)
  from keras_bert_lab.data import multiple_choice, squad_json
  qa = tasks.SquadTask(tasks.SquadConfig(max_seq_length=48, doc_stride=16,
                                         max_query_length=8))
  _fit_one_family(qa, squad_json.read_squad_json(str(FIXTURES / "squad_v1.1.json"),
                                            is_training=True), encoder_dir)
  choice = tasks.MultipleChoiceTask(tasks.MultipleChoiceConfig(
      max_seq_length=24))
  _fit_one_family(choice, multiple_choice.read_swag_csv(
      str(FIXTURES / "swag_sample.csv"), with_labels=True), encoder_dir)


@pytest.mark.slow
def test_squad_evaluation_answers_with_the_serving_graph(encoder_dir):
  """`SquadTask.answers` (question batches through `answer_questions`) gives
  the answers of the whole set at once."""
  from keras_bert_lab.data import squad, squad_json
  task = tasks.SquadTask(tasks.SquadConfig(max_seq_length=48, doc_stride=16,
                                           max_query_length=8,
                                           n_best_size=4))
  model = task.build_model(str(encoder_dir))
  tokenizer = tasks.load_tokenizer(model)
  examples = squad_json.read_squad_json(str(FIXTURES / "squad_v2.0.json"),
                                   is_training=False)
  task.config.version_2_with_negative = True
  batched, nbest, _ = task.answers(model, tokenizer, examples, batch_size=3)
  whole = squad.answer_questions(
      lambda f: model(f, training=False), task.preprocessor(tokenizer),
      [e["question"] for e in examples.examples],
      [e["context"] for e in examples.examples], **task.post_settings())
  assert list(batched.values()) == [
      a.decode() for a in whole["answer"].numpy()]
  assert len(nbest) == len(examples)
  np.testing.assert_array_less(0, [len(v) for v in nbest.values()])
