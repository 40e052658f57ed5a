"""SWAG reading and multiple-choice featurization against references.

References: Python's `csv` module for reading SWAG's CSV, the rule
choice_i = sent2 + " " + ending_i (SWAG's BERT baseline, HF `run_swag`), and
for packing Hugging Face's BertTokenizer on the bert-base-uncased vocab with
the original `_truncate_seq_pair` (drop from the longer segment, from the
choice on a tie) written out in Python below.
"""

import csv
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data import multiple_choice as mc
from keras_bert_lab.text import BertTokenizer

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "swag_sample.csv"


def _csv_rows(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def _reference_examples(path):
  return [(row["sent1"], [f"{row['sent2']} {row[f'ending{i}']}"
                          for i in range(4)],
           int(row["label"]) if "label" in row else None)
          for row in _csv_rows(path)]


@pytest.fixture(scope="module")
def hf_tokenizer(minilm_dir):
  transformers = pytest.importorskip("transformers")
  return transformers.BertTokenizer.from_pretrained(str(minilm_dir))


@pytest.fixture(scope="module")
def tokenizer(bert_vocab):
  return BertTokenizer(bert_vocab, lower_case=True)


def _reference_pack(hf, context, choice, seq_length):
  """[CLS] context [SEP] choice [SEP], original truncation, padded."""
  a = hf.convert_tokens_to_ids(hf.tokenize(context))
  b = hf.convert_tokens_to_ids(hf.tokenize(choice))
  while len(a) + len(b) > seq_length - 3:
    if len(a) > len(b):
      a.pop()
    else:
      b.pop()
  ids = [hf.cls_token_id] + a + [hf.sep_token_id] + b + [hf.sep_token_id]
  types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
  pad = seq_length - len(ids)
  return ids + [0] * pad, [1] * len(ids) + [0] * pad, types + [0] * pad


def test_read_swag_csv_matches_csv_module():
  examples = list(mc.read_swag_csv(str(FIXTURE)).as_numpy_iterator())
  reference = _reference_examples(FIXTURE)
  assert len(examples) == len(reference) == 8
  for got, (context, choices, label) in zip(examples, reference):
    assert got["context"].decode() == context
    assert [c.decode() for c in got["choices"]] == choices
    assert got["label"] == label
  # Quoted fields with commas and doubled quotes come through intact.
  assert examples[3]["choices"][1].decode() == (
      'Inside, the farmer says "Not again" to nobody at all.')


def test_read_swag_csv_any_column_order(tmp_path):
  rows = _csv_rows(FIXTURE)
  names = list(rows[0])[::-1]  # Reverse every column, index included.
  path = tmp_path / "reordered.csv"
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=names)
    writer.writeheader()
    writer.writerows(rows)
  got = list(mc.read_swag_csv(str(path)).as_numpy_iterator())
  want = list(mc.read_swag_csv(str(FIXTURE)).as_numpy_iterator())
  for g, w in zip(got, want):
    assert g["context"] == w["context"] and g["label"] == w["label"]
    np.testing.assert_array_equal(g["choices"], w["choices"])


@pytest.mark.parametrize("seq_length", [16, 24, 64])
def test_featurize_matches_reference_packing(tokenizer, hf_tokenizer,
                                             seq_length):
  # 16 truncates every row down to ties between context and choice (where
  # the original drops from the choice); 24 truncates most rows, only from
  # the choice; 64 truncates nothing (row 5's longest pair is 9 + 44).
  dataset = mc.featurize(mc.read_swag_csv(str(FIXTURE)), tokenizer,
                         seq_length, batch_size=3)
  reference = _reference_examples(FIXTURE)
  batches = list(dataset.as_numpy_iterator())
  assert [b[1].shape[0] for b in batches] == [3, 3, 2]
  features = {k: np.concatenate([b[0][k] for b in batches])
              for k in batches[0][0]}
  labels = np.concatenate([b[1] for b in batches])
  assert labels.dtype == np.int32
  np.testing.assert_array_equal(labels, [r[2] for r in reference])
  for name in ("input_word_ids", "input_mask", "input_type_ids"):
    assert features[name].shape == (8, 4, seq_length)
    assert features[name].dtype == np.int32
  for i, (context, choices, _) in enumerate(reference):
    for k, choice in enumerate(choices):
      ids, mask, types = _reference_pack(hf_tokenizer, context, choice,
                                         seq_length)
      np.testing.assert_array_equal(features["input_word_ids"][i, k], ids,
                                    err_msg=f"row {i} choice {k}")
      np.testing.assert_array_equal(features["input_mask"][i, k], mask)
      np.testing.assert_array_equal(features["input_type_ids"][i, k], types)


def test_featurize_static_shapes(tokenizer):
  dataset = mc.featurize(mc.read_swag_csv(str(FIXTURE)), tokenizer, 16,
                         batch_size=4, drop_remainder=True)
  features, labels = dataset.element_spec
  assert features["input_word_ids"].shape.as_list() == [4, 4, 16]
  assert labels.shape.as_list() == [4]


def test_test_file_without_labels(tmp_path, tokenizer):
  rows = _csv_rows(FIXTURE)
  names = [n for n in rows[0] if n != "label"]
  path = tmp_path / "test.csv"
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  dataset = mc.read_swag_csv(str(path))
  assert "label" not in dataset.element_spec
  features = next(iter(mc.featurize(dataset, tokenizer, 16, batch_size=2)))
  assert set(features) == {"input_word_ids", "input_mask", "input_type_ids"}
  assert features["input_word_ids"].shape == (2, 4, 16)
  with pytest.raises(ValueError, match="'label'"):
    mc.read_swag_csv(str(path), with_labels=True)
  with pytest.raises(ValueError, match="with_labels=False"):
    mc.featurize(dataset, tokenizer, 16, batch_size=2, with_labels=True)
  with pytest.raises(ValueError, match="separately"):
    mc.read_swag_csv([str(path), str(FIXTURE)])


def test_missing_columns_are_listed(tmp_path):
  path = tmp_path / "train_full.csv"
  path.write_text("video-id,sent1,sent2,gold-ending,distractor-0,label\n"
                  "v,a,b,c,d,0\n")
  with pytest.raises(ValueError) as error:
    mc.read_swag_csv(str(path))
  message = str(error.value)
  assert str(path) in message
  assert "['ending0', 'ending1', 'ending2', 'ending3']" in message
  assert "'gold-ending'" in message  # The columns found.


def test_label_out_of_range(tmp_path, tokenizer):
  text = FIXTURE.read_text(encoding="utf-8").splitlines()
  text[2] = text[2][:-1] + "7"  # Row 1's label: 1 -> 7.
  path = tmp_path / "bad.csv"
  path.write_text("\n".join(text) + "\n", encoding="utf-8")
  dataset = mc.featurize(mc.read_swag_csv(str(path)), tokenizer, 16,
                         batch_size=8, source=str(path))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"bad\.csv: a label lies outside \[0, 4\)"):
    list(dataset)


def test_tfds_hellaswag_mocked(tokenizer):
  tfds = pytest.importorskip("tensorflow_datasets")
  contexts = ["A man opens the door.", "The dog runs."]
  endings = [["He walks in.", "He flies.", "He melts.", "He sings."],
             ["It barks.", "It reads.", "It cooks.", "It knits."]]

  def as_dataset(self, split, **kwargs):
    del self, split, kwargs
    return tf.data.Dataset.from_tensor_slices({
        "context": contexts, "endings": endings, "label": [0, 1],
        "activity_label": ["x", "y"], "split_type": ["indomain"] * 2,
        "source_id": ["a", "b"]})

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    dataset = mc.tfds_multiple_choice("hellaswag", split="validation")
    got = list(dataset.as_numpy_iterator())
  assert [g["context"].decode() for g in got] == contexts
  assert [[c.decode() for c in g["choices"]] for g in got] == endings
  assert [g["label"] for g in got] == [0, 1]


def test_tfds_swag_is_not_in_tfds():
  with pytest.raises(ValueError, match="SWAG's CSV files"):
    mc.tfds_multiple_choice("swag")


def test_pack_choices_dynamic_batch(tokenizer, hf_tokenizer):
  # As a serving signature would call it: shapes unknown when traced.
  fn = tf.function(
      lambda c, ch: mc.pack_choices(
          tokenizer, mc_packer(tokenizer, 12), c, ch),
      input_signature=[tf.TensorSpec([None], tf.string),
                       tf.TensorSpec([None, None], tf.string)])
  out = fn(tf.constant(["He opens the door."]),
           tf.constant([["He walks in slowly.", "He sings."]]))
  assert out["input_word_ids"].shape == (1, 2, 12)
  for k, choice in enumerate(["He walks in slowly.", "He sings."]):
    ids, _, _ = _reference_pack(hf_tokenizer, "He opens the door.", choice, 12)
    np.testing.assert_array_equal(out["input_word_ids"][0, k], ids)


def mc_packer(tokenizer, seq_length):
  from keras_bert_lab.text import BertPacker
  return BertPacker.for_tokenizer(tokenizer, seq_length,
                                  truncation="longest_first")


@pytest.mark.slow
def test_minilm_learns_the_swag_fixture(minilm_dir):
  """Fine-tuned from all-MiniLM-L6-v2, BertMultipleChoice fits the SWAG
  fixture (8 examples, 4 endings: chance 0.25)."""
  import keras
  from keras_bert_lab.models import BertMultipleChoice
  from keras_bert_lab.training import create_optimizer

  keras.utils.set_random_seed(0)
  tokenizer = BertTokenizer(minilm_dir / "vocab.txt")
  data = mc.featurize(mc.read_swag_csv(str(FIXTURE)), tokenizer,
                      seq_length=48, batch_size=8).cache()
  model = BertMultipleChoice.from_pretrained(minilm_dir)
  model.compile(create_optimizer("adamw", 1e-4, 15, 1),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  before = model.evaluate(data, return_dict=True, verbose=0)["accuracy"]
  model.fit(data, epochs=15, verbose=0)
  after = model.evaluate(data, return_dict=True, verbose=0)["accuracy"]
  assert after == 1.0, (before, after)
