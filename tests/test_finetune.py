"""`python -m keras_bert_lab.finetune` end to end, every task, and bad input.

The runs are tiny (a few dozen rows, a 2-layer width-32 encoder saved with
`save_pretrained`, max_seq_length 32, one epoch). To pay TensorFlow's start-up
once, the task runs and the bad-input cases go through one subprocess that
calls `finetune.main` as `app.run` would, once per command line (the module's
absl flags cannot live in the pytest process beside `pretrain`'s). One run
uses the real `python -m` entry point. Each run's outputs are checked against
references: the files' own rows (csv module), scikit-learn and seqeval on the
reloaded model's predictions, and `load_task_model` reproducing the
prediction files.
"""

import csv
import json
import math
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_bert_lab.data.dev_split import split_dev
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "data" / "fixtures"
SWAG = FIXTURES / "swag_sample.csv"
SQUAD_V1 = FIXTURES / "squad_v1.1.json"
SQUAD_V2 = FIXTURES / "squad_v2.0.json"
TINY = ["--max_seq_length=32", "--num_train_epochs=1",
        "--train_batch_size=8", "--eval_batch_size=16", "--log_every=1"]
SQUAD_TINY = ["--max_seq_length=48", "--doc_stride=16",
              "--max_query_length=16", "--num_train_epochs=1",
              "--train_batch_size=8", "--eval_batch_size=16"]
# Length-bucketed training batches, on every task but the main run.
BUCKETS = ["--bucket_boundaries=8,16"]

# Calls finetune.main once per command line, as `app.run(main)` does, and
# records the outcome of each.
RUNNER = textwrap.dedent("""
    import json, sys, time, traceback
    from absl import app, flags
    from keras_bert_lab import finetune
    commands = json.load(open(sys.argv[1]))
    results = {}
    for name, argv in commands:
      flags.FLAGS.unparse_flags()
      start = time.time()
      try:
        rest = flags.FLAGS(["finetune"] + argv)
        finetune.main(rest)
        results[name] = {"ok": True}
      except (app.UsageError, flags.Error) as e:
        results[name] = {"ok": False, "error": str(e), "usage": True}
      except Exception as e:
        results[name] = {"ok": False, "error": traceback.format_exc(),
                         "usage": False}
      results[name]["seconds"] = round(time.time() - start, 1)
      json.dump(results, open(sys.argv[2], "w"))
""")


def _env():
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
  return env


def cli(*flags):
  return subprocess.run([sys.executable, "-m", "keras_bert_lab.finetune",
                         *flags], capture_output=True, text=True, cwd=ROOT,
                        env=_env())


def _tiny_encoder(path, dropout=0.1):
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder
  from keras_bert_lab.text import read_vocab
  vocab = read_vocab(str(ROOT / "keras_bert_lab" / "resources" / "vocab.txt"))
  config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_layers=2,
                      num_heads=2, intermediate_size=64,
                      max_position_embeddings=64, hidden_dropout_prob=dropout,
                      attention_probs_dropout_prob=dropout)
  encoder = BertEncoder(config, vocab=vocab, lower_case=True)
  encoder.save_pretrained(str(path))
  return encoder


def _write_tsv(path, header, rows):
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _write_bio(path, sentences):
  with open(path, "w", encoding="utf-8") as f:
    for sentence in sentences:
      f.write("".join(f"{w} {t}\n" for w, t in sentence) + "\n")


def _ner_sentences(n, seed):
  rng = random.Random(seed)
  names, places = ["John", "Mary Ann", "Alice", "Bob"], ["Paris", "New York",
                                                        "Rome", "Oslo"]
  out = []
  for _ in range(n):
    name, place = rng.choice(names).split(), rng.choice(places).split()
    out.append([(w, ("B-" if i == 0 else "I-") + "PER")
                for i, w in enumerate(name)] + [("lives", "O"), ("in", "O")] +
               [(w, ("B-" if i == 0 else "I-") + "LOC")
                for i, w in enumerate(place)] + [(".", "O")])
  return out


@pytest.fixture(scope="module")
def reviews(data_dir):
  """The first 40 fine-food reviews as (review, score) rows."""
  with open(data_dir / "labeled" / "en" / "fine_foods_train.tsv",
            encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))[:40]
  return [(r["review"], r["score"]) for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, reviews):
  """Writes data and checkpoints, runs every command, returns their outcomes."""
  tmp = tmp_path_factory.mktemp("finetune")
  encoder_dir = tmp / "encoder"
  encoder = _tiny_encoder(encoder_dir)
  # A fine-tuned 3-class head, for the head-does-not-fit case.
  from keras_bert_lab.models import BertClassifier
  BertClassifier(encoder, labels=["a", "b", "c"]).save_pretrained(
      str(tmp / "three_classes"))

  files = {
      "reviews": tmp / "reviews.tsv", "scores": tmp / "scores.tsv",
      "ner_train": tmp / "train.bio", "ner_dev": tmp / "dev.bio",
      "header_only": tmp / "empty.tsv", "bad_label": tmp / "bad_label.tsv",
      "bad_score": tmp / "bad_score.tsv", "bad_tag": tmp / "bad_tag.bio",
  }
  _write_tsv(files["reviews"], ["score", "review"],
             [(s, r) for r, s in reviews])
  _write_tsv(files["scores"], ["sentence", "similarity"],
             [(r, f"{len(r.split()) % 5 + 0.5}") for r, _ in reviews])
  _write_bio(files["ner_train"], _ner_sentences(24, 0))
  _write_bio(files["ner_dev"], _ner_sentences(6, 1))
  _write_tsv(files["header_only"], ["score", "review"], [])
  _write_tsv(files["bad_label"], ["score", "review"],
             [("great", "good"), ("other", "meh"), ("grate", "typo"),
              ("great", "fine")])
  _write_tsv(files["bad_score"], ["sentence", "similarity"],
             [("a", "1.0"), ("b", "high"), ("c", "2")])
  _write_bio(files["bad_tag"], [[("John", "B-PER"), ("runs", "X-ACT")]])

  ckpt = f"--init_checkpoint={encoder_dir}"
  out = {name: tmp / name for name in (
      "classification", "regression", "tagging", "multiple_choice",
      "squad_v2", "squad_v1")}
  review_flags = [f"--train_file={files['reviews']}", "--text_column=review",
                  "--label_column=score"]
  commands = [
      ("regression", ["--task=regression", ckpt,
                      f"--model_dir={out['regression']}",
                      f"--train_file={files['scores']}",
                      f"--predict_file={files['scores']}",
                      "--text_column=sentence",
                      "--label_column=similarity", *TINY, *BUCKETS]),
      ("tagging", ["--task=tagging", ckpt, f"--model_dir={out['tagging']}",
                   f"--train_file={files['ner_train']}",
                   f"--eval_file={files['ner_dev']}",
                   f"--predict_file={files['ner_dev']}", *TINY, *BUCKETS]),
      ("multiple_choice", ["--task=multiple_choice", ckpt,
                           f"--model_dir={out['multiple_choice']}",
                           f"--train_file={SWAG}", f"--eval_file={SWAG}",
                           f"--predict_file={SWAG}", *TINY, *BUCKETS]),
      ("squad_v2", ["--task=squad", ckpt, f"--model_dir={out['squad_v2']}",
                    f"--train_file={SQUAD_V2}", f"--eval_file={SQUAD_V2}",
                    f"--predict_file={SQUAD_V2}", *SQUAD_TINY, *BUCKETS]),
      # Bad input: each must stop with a UsageError before training.
      ("label_not_in_list", ["--task=classification", ckpt,
                             f"--model_dir={tmp / 'x1'}",
                             *review_flags, "--labels=great,bad", *TINY]),
      ("eval_label_unknown", ["--task=classification", ckpt,
                              f"--model_dir={tmp / 'x2'}", *review_flags,
                              f"--eval_file={files['bad_label']}", *TINY]),
      ("missing_column", ["--task=classification", ckpt,
                          f"--model_dir={tmp / 'x3'}",
                          f"--train_file={files['reviews']}",
                          "--text_column=text", "--label_column=score"]),
      ("head_does_not_fit", ["--task=classification",
                             f"--init_checkpoint={tmp / 'three_classes'}",
                             f"--model_dir={tmp / 'x4'}", *review_flags,
                             *TINY]),
      ("squad_not_squad", ["--task=squad", ckpt, f"--model_dir={tmp / 'x5'}",
                           f"--train_file={files['reviews']}"]),
      ("empty_training", ["--task=classification", ckpt,
                          f"--model_dir={tmp / 'x6'}",
                          f"--train_file={files['header_only']}",
                          "--text_column=review", "--label_column=score"]),
      ("bad_score", ["--task=regression", ckpt, f"--model_dir={tmp / 'x7'}",
                     f"--train_file={files['bad_score']}",
                     f"--eval_file={files['bad_score']}",
                     "--text_column=sentence", "--label_column=similarity"]),
      ("bad_tag", ["--task=tagging", ckpt, f"--model_dir={tmp / 'x8'}",
                   f"--train_file={files['bad_tag']}",
                   f"--eval_file={files['ner_dev']}"]),
      ("labels_for_squad", ["--task=squad", ckpt, f"--model_dir={tmp / 'x9'}",
                            f"--train_file={SQUAD_V1}", "--labels=a,b"]),
      ("seq_too_long", ["--task=classification", ckpt,
                        f"--model_dir={tmp / 'x10'}", *review_flags,
                        "--max_seq_length=128"]),
  ]
  # Three processes (TensorFlow's tracing is mostly one core each): the
  # classification run through the real entry point, and two runners.
  main_run = subprocess.Popen(
      [sys.executable, "-m", "keras_bert_lab.finetune",
       "--task=classification", ckpt, f"--model_dir={out['classification']}",
       *review_flags, f"--predict_file={files['reviews']}", *TINY],
      stdout=open(tmp / "main.out", "w"), stderr=open(tmp / "main.err", "w"),
      cwd=ROOT, env=_env())
  second = {"multiple_choice", "squad_v2"}
  runners = []
  for part in ("a", "b"):
    chosen = [c for c in commands if (c[0] in second) == (part == "b")]
    (tmp / f"commands_{part}.json").write_text(json.dumps(chosen))
    runners.append(subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp / f"commands_{part}.json"),
         str(tmp / f"results_{part}.json")],
        stdout=subprocess.DEVNULL, stderr=open(tmp / f"runner_{part}.err", "w"),
        cwd=ROOT, env=_env()))
  results = {}
  for part, runner in zip("ab", runners):
    runner.wait()
    results_file = tmp / f"results_{part}.json"
    assert results_file.exists(), (tmp / f"runner_{part}.err").read_text()[
        -5000:]
    results.update(json.loads(results_file.read_text()))
  main_run.wait()
  stdout, stderr = ((tmp / f"main.{x}").read_text() for x in ("out", "err"))
  print({k: v.get("seconds") for k, v in results.items()})
  results["classification"] = {"ok": main_run.returncode == 0,
                               "error": stderr[-5000:], "stdout": stdout}
  return {"results": results, "out": out, "files": files, "tmp": tmp}


def _ok(runs, name):
  result = runs["results"][name]
  assert result["ok"], result["error"]
  model_dir = runs["out"][name]
  task = json.loads((model_dir / "task.json").read_text())
  results = json.loads((model_dir / "eval_results.json").read_text())
  return model_dir, task, results


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _reload(model_dir):
  from keras_bert_lab.models import load_task_model
  from keras_bert_lab.text import BertTokenizer
  model, info = load_task_model(str(model_dir))
  tokenizer = BertTokenizer(str(model_dir / "vocab.txt"),
                            lower_case=info["lower_case"])
  return model, info, tokenizer


def _read_tsv(path):
  with open(path, encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f, delimiter="\t"))


def test_classification(runs, reviews):
  from sklearn import metrics as sk
  from keras_bert_lab.data import classification
  model_dir, task, results = _ok(runs, "classification")
  stdout = runs["results"]["classification"]["stdout"]
  assert json.loads(stdout[stdout.index("{\n"):stdout.rindex("}") + 1]) == (
      results)
  assert task["task"] == "classification"
  assert task["labels"] == sorted({s for _, s in reviews})
  assert task["max_seq_length"] == 32 and task["text_column"] == "review"
  assert task["lower_case"] is True
  # 10% of 40 rows held out; 36 rows, batch 8: 5 steps.
  assert results["eval_examples"] == 4 and results["train_examples"] == 36
  assert results["train_steps"] == math.ceil(36 / 8)
  assert list((model_dir / "logs" / "train").glob("events.out.tfevents.*"))
  assert "step 5/5" in runs["results"]["classification"]["error"]

  model, info, tokenizer = _reload(model_dir)
  assert info["labels"] == task["labels"]
  # The prediction file: every row of the file, same probabilities.
  rows = _read_tsv(runs["out"]["classification"] / "predictions.tsv")
  assert [r["text"] for r in rows] == [r for r, _ in reviews]
  assert [int(r["line"]) for r in rows] == list(range(2, 42))
  examples = classification.read_classification_file(
      runs["files"]["reviews"], "review")
  features = classification.classification_dataset(
      examples, tokenizer, info["labels"], seq_length=32, batch_size=40)
  logits = np.concatenate([model(x, training=False).numpy()
                           for x in features])
  probabilities = _softmax(logits)
  written = np.array([[float(r[f"probability_{l}"]) for l in info["labels"]]
                      for r in rows])
  np.testing.assert_allclose(written, probabilities, atol=2e-6)
  assert [r["label"] for r in rows] == [
      info["labels"][i] for i in probabilities.argmax(-1)]

  # eval_results.json: scikit-learn on the reloaded model's dev predictions.
  # The dev split: rows chosen by split_dev with the run's default seed.
  _, dev = split_dev(
      [i for i in range(40)], 0.1, seed=42)
  gold = [info["labels"].index(reviews[i][1]) for i in dev]
  predicted = probabilities.argmax(-1)[dev]
  assert results["accuracy"] == pytest.approx(sk.accuracy_score(gold,
                                                                predicted))
  assert results["macro_f1"] == pytest.approx(
      sk.f1_score(gold, predicted, average="macro", zero_division=0))
  assert results["matthews_corrcoef"] == pytest.approx(
      sk.matthews_corrcoef(gold, predicted))


def test_regression(runs, reviews):
  from scipy import stats
  from keras_bert_lab.data import classification
  model_dir, task, results = _ok(runs, "regression")
  assert task["task"] == "regression" and task["labels"] is None
  model, info, tokenizer = _reload(model_dir)
  examples = classification.read_classification_file(
      runs["files"]["scores"], "sentence")
  features = classification.classification_dataset(
      examples, tokenizer, seq_length=32, batch_size=40, regression=True)
  scores = np.concatenate([model(x, training=False).numpy()[:, 0]
                           for x in features])
  rows = _read_tsv(model_dir / "predictions.tsv")
  np.testing.assert_allclose([float(r["score"]) for r in rows], scores,
                             rtol=1e-5, atol=1e-6)
  _, dev = split_dev(list(range(40)), 0.1, seed=42)
  gold = [len(reviews[i][0].split()) % 5 + 0.5 for i in dev]
  # The scores of a barely trained model are close together, so their
  # correlation moves in the 4th decimal with float rounding.
  assert results["pearson"] == pytest.approx(
      stats.pearsonr(gold, scores[dev])[0], abs=2e-3)
  assert results["spearman"] == pytest.approx(
      stats.spearmanr(gold, scores[dev])[0], abs=2e-3)


def test_tagging(runs):
  import seqeval.metrics
  from keras_bert_lab.data import tagging
  model_dir, task, results = _ok(runs, "tagging")
  assert task["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
  # Multi-character words in the file: raw text is served by whitespace.
  assert task["word_units"] == "whitespace" and task["format_version"] == 2
  model, info, tokenizer = _reload(model_dir)
  sentences = tagging.read_tagging_file(str(runs["files"]["ner_dev"]))
  words_only = sentences.map(lambda s: {"words": s["words"],
                                        "source": s["source"],
                                        "line": s["line"]})
  predicted = []
  for features, index in tagging.tagging_dataset(
      words_only, tokenizer, info["labels"], seq_length=32, batch_size=8):
    ids = np.argmax(model(features, training=False).numpy(), -1)
    predicted += [[info["labels"][t] for t in s]
                  for s in tagging.word_level(ids, index).to_list()]
  gold = [s[1] for s in [list(zip(*x)) for x in _ner_sentences(6, 1)]]
  # The predictions file: CoNLL lines "word<TAB>tag", blank between.
  blocks = (model_dir / "predictions.txt").read_text().strip("\n").split(
      "\n\n")
  written = [[line.split("\t") for line in b.split("\n")] for b in blocks]
  assert [[w for w, _ in s] for s in written] == [
      [w for w, _ in s] for s in _ner_sentences(6, 1)]
  assert [[t for _, t in s] for s in written] == predicted
  assert results["f1"] == pytest.approx(
      seqeval.metrics.f1_score([list(g) for g in gold], predicted))
  assert results["precision"] == pytest.approx(
      seqeval.metrics.precision_score([list(g) for g in gold], predicted))


def test_multiple_choice(runs):
  from keras_bert_lab.data import multiple_choice
  model_dir, task, results = _ok(runs, "multiple_choice")
  assert task["num_choices"] == 4
  model, info, tokenizer = _reload(model_dir)
  with open(SWAG, encoding="utf-8", newline="") as f:
    gold = [int(r["label"]) for r in csv.DictReader(f)]
  features = multiple_choice.featurize(
      multiple_choice.read_swag_csv(str(SWAG)), tokenizer, 32, batch_size=16,
      with_labels=False)
  logits = np.concatenate([model(x, training=False).numpy()
                           for x in features])
  rows = _read_tsv(model_dir / "predictions.tsv")
  np.testing.assert_allclose(
      [[float(r[f"probability_{i}"]) for i in range(4)] for r in rows],
      _softmax(logits), atol=2e-6)
  assert results["accuracy"] == pytest.approx(
      np.mean(np.argmax(logits, -1) == np.array(gold)))
  assert results["eval_examples"] == len(gold)


def test_squad(runs):
  import tensorflow as tf
  from keras_bert_lab import metrics
  from keras_bert_lab.data import squad, squad_json
  model_dir, task, results = _ok(runs, "squad_v2")
  assert {k: task[k] for k in ("max_seq_length", "doc_stride",
                               "max_query_length", "n_best_size",
                               "max_answer_length",
                               "null_score_diff_threshold",
                               "version_2_with_negative")} == {
      "max_seq_length": 48, "doc_stride": 16, "max_query_length": 16,
      "n_best_size": 20, "max_answer_length": 30,
      "null_score_diff_threshold": 0.0, "version_2_with_negative": True}
  assert {"exact", "f1", "HasAns_exact", "NoAns_exact"} <= set(results)
  predictions = json.loads((model_dir / "predictions.json").read_text())
  nbest = json.loads((model_dir / "nbest_predictions.json").read_text())
  data = json.loads(SQUAD_V2.read_text())
  gold = metrics.squad_gold_answers(data)
  assert set(predictions) == set(gold) == set(nbest)
  assert all(isinstance(v, str) for v in predictions.values())
  # Scored again from the written file with the official v2.0 rules.
  assert results["exact"] == pytest.approx(
      metrics.squad_scores(gold, predictions, "v2.0")["exact"])

  model, info, tokenizer = _reload(model_dir)
  examples = squad_json.read_squad_json(str(SQUAD_V2), is_training=False)
  windows = {}
  for batch in squad.squad_windows(
      examples, tokenizer, max_seq_length=48, doc_stride=16,
      max_query_length=16, with_answers=False).batch(64):
    for k, v in batch.items():
      windows.setdefault(k, []).append(v.numpy())
  windows = {k: np.concatenate(v) for k, v in windows.items()}
  outputs = model(squad.model_inputs(windows), training=False)
  again, _, _ = squad_json.prediction_json(squad.squad_postprocess(
      outputs["start_logits"], outputs["end_logits"], windows,
      tf.constant([e["context"] for e in examples.examples]),
      version_2_with_negative=True), examples.ids, True)
  assert again == predictions


@pytest.mark.parametrize("name,fragments", [
    ("label_not_in_list", ["'other'", "reviews.tsv line", "--labels"]),
    ("eval_label_unknown", ["'grate'", "bad_label.tsv line 4",
                            "--labels=great,other,grate"]),
    ("missing_column", ["'text'", "--text_column", "'score', 'review'"]),
    ("head_does_not_fit", ["does not fit", "three_classes", "(3, 32)"]),
    ("squad_not_squad", ["--train_file=", "reviews.tsv",
                         "not usable SQuAD data"]),
    ("empty_training", ["empty.tsv", "no examples"]),
    ("bad_score", ["'high'", "bad_score.tsv line 3", "not a number"]),
    ("bad_tag", ["bad_tag.bio line 2", "X-ACT"]),
    ("labels_for_squad", ["--labels", "--task=squad"]),
    ("seq_too_long", ["--max_seq_length=128", "max_position_embeddings=64"]),
])
def test_bad_input(runs, name, fragments):
  result = runs["results"][name]
  assert not result["ok"]
  assert result["usage"], result["error"]
  for fragment in fragments:
    assert fragment in result["error"], (fragment, result["error"])
  # Stopped before training: no model was written.
  assert not list(runs["tmp"].glob("x*/task.json"))


@pytest.mark.parametrize("flags,fragments", [
    (["--no_such_flag=1"], ["no_such_flag"]),
    (["--train_file=nowhere.tsv"], ["--train_file=nowhere.tsv",
                                    "does not exist"]),
    (["--init_checkpoint=no_checkpoint"], ["--init_checkpoint=no_checkpoint",
                                           "not a folder"]),
    (["--train_file=README.md", "--tfds_name=glue/sst2"],
     ["exactly one training source"]),
])
def test_flag_errors_before_tensorflow(tmp_path, flags, fragments):
  base = {"--task": "classification", "--init_checkpoint": str(ROOT),
          "--model_dir": str(tmp_path / "run"), "--train_file": "README.md"}
  for flag in flags:
    base[flag.split("=")[0]] = flag.split("=", 1)[1]
  result = cli(*[f"{k}={v}" for k, v in base.items()])
  assert result.returncode != 0
  for fragment in fragments:
    assert fragment in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_killed_run_resumes_from_its_backup(tmp_path, reviews):
  import signal
  import time
  # Dropout on: the backup holds the seed generators' states too (Keras'
  # own leaves them out), so the resumed run draws the same masks.
  _tiny_encoder(tmp_path / "encoder", dropout=0.1)
  train = tmp_path / "reviews.tsv"
  _write_tsv(train, ["score", "review"], [(s, r) for r, s in reviews])
  # 36 training rows, batch 1, 2 epochs: 72 steps in 18 chunks of 4 (the
  # kill lands in the first epoch or the second).
  flags = ["--task=classification", f"--init_checkpoint={tmp_path / 'encoder'}",
           f"--model_dir={tmp_path / 'run'}", f"--train_file={train}",
           "--text_column=review", "--label_column=score",
           "--max_seq_length=32", "--train_batch_size=1",
           "--num_train_epochs=2", "--checkpoint_every=4"]
  metadata = tmp_path / "run" / "backup" / "training_metadata.json"
  with open(tmp_path / "first.err", "w") as err:
    first = subprocess.Popen(
        [sys.executable, "-m", "keras_bert_lab.finetune", *flags],
        stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=_env())
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None:
      try:
        if json.loads(metadata.read_text())["epoch"] >= 3:
          break
      except (OSError, ValueError, KeyError):
        pass
      time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
  assert first.returncode == -signal.SIGKILL, (
      (tmp_path / "first.err").read_text()[-3000:])
  assert not (tmp_path / "run" / "eval_results.json").exists()

  again = cli(*flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "Resuming from the backup" in again.stderr
  done = int(again.stderr.split("Resuming from the backup")[1].split(": ")[1]
             .split(" of ")[0])
  assert 3 <= done < 18
  results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
  assert results["train_steps"] == 72
  assert not (tmp_path / "run" / "backup").exists()   # removed at the end

  # The resumed run skipped the batches it had trained on: it ends where an
  # uninterrupted run ends (same seed, same data order, same dropout masks).
  whole = cli(*[f for f in flags if not f.startswith("--model_dir")],
              f"--model_dir={tmp_path / 'whole'}")
  assert whole.returncode == 0, whole.stderr[-3000:]
  from keras_bert_lab.models import load_task_model
  resumed, _ = load_task_model(str(tmp_path / "run"))
  uninterrupted, _ = load_task_model(str(tmp_path / "whole"))
  for a, b in zip(resumed.weights, uninterrupted.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)
  assert json.loads((tmp_path / "whole" / "eval_results.json").read_text(
      ))["accuracy"] == results["accuracy"]


def test_the_same_call_on_a_finished_run_does_nothing(tmp_path, reviews):
  from keras_bert_lab import tasks
  _tiny_encoder(tmp_path / "encoder")
  train = tmp_path / "reviews.tsv"
  _write_tsv(train, ["score", "review"], [(s, r) for r, s in reviews])
  run = tmp_path / "run"

  def finetune(**train_settings):
    task = tasks.ClassificationTask(tasks.ClassificationConfig(
        text_column="review", label_column="score", max_seq_length=32))
    return tasks.finetune(
        task, tasks.DataConfig(train_file=str(train)), tmp_path / "encoder",
        run, tasks.TrainConfig(num_train_epochs=1, train_batch_size=8,
                               checkpoint_every=2, **train_settings))

  results, written = finetune()
  weights = run / "model.safetensors"
  trained = weights.stat().st_mtime_ns
  assert (run / "finished_run.json").exists()
  assert not (run / "backup").exists()
  # Killed while the backup was removed (after the record was written): the
  # same call finds the run finished, returns its results, trains nothing
  # and removes what was left of the backup.
  (run / "backup").mkdir()
  (run / "backup" / "latest.weights.h5").write_bytes(b"cut")
  assert finetune() == (results, written)
  assert weights.stat().st_mtime_ns == trained
  assert not (run / "backup").exists()
  # Another call (another learning rate; the same data edited) trains again.
  again, _ = finetune(learning_rate=1e-4)
  assert weights.stat().st_mtime_ns != trained
  assert again["train_steps"] == results["train_steps"]
  trained = weights.stat().st_mtime_ns
  with open(train, "a", encoding="utf-8") as f:
    f.write("5\tOne more review.\n")
  finetune(learning_rate=1e-4)
  assert weights.stat().st_mtime_ns != trained
