"""Fixtures for model tests: MiniLM folder as a str, real sentences, a batch.

The backend, `data_dir` and `minilm_dir` come from tests/conftest.py.
"""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def minilm_path(minilm_dir):
  """Folder of the real all-MiniLM-L6-v2 BertModel (HF layout), as a str."""
  return str(minilm_dir)


@pytest.fixture(scope="session")
def sentences(data_dir):
  """A dozen real paragraphs of different lengths (Austen and Wikipedia)."""
  out = []
  for name in ("jane_austen_6_novels.txt", "enwiki_104_articles.txt"):
    path = data_dir / "corpora" / "en" / name
    with open(path, encoding="utf-8") as f:
      lines = [line.strip() for _, line in zip(range(400), f)]
    lines = [s for s in lines if len(s.split()) > 4 and not s.startswith("CHAPTER")]
    out.extend(lines[3:9])
  return out


@pytest.fixture(scope="session")
def hf_tokenizer(minilm_path):
  """transformers' reference WordPiece tokenizer for the MiniLM vocab."""
  import transformers
  return transformers.BertTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def batch(hf_tokenizer, sentences):
  """Single and paired real sentences, padded, as int32 numpy features."""
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
