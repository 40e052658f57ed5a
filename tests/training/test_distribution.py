"""Several devices and several workers on this CPU, TPU readiness, bad input.

Runs the CLIs in subprocesses (logical devices and collectives must be set
up before TensorFlow starts). Models have no dropout, so that a run on 2
replicas and a run on 1 see the same computation: the references are the
1-device run's losses and weights, compared step by step.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import ROOT

CORPUS = (ROOT / "keras_bert_lab" / "resources" /
          "austen_sense_and_sensibility_pride_and_prejudice.txt")
VOCAB = ROOT / "keras_bert_lab" / "resources" / "vocab.txt"
NO_DROPOUT = {"vocab_size": 8000, "hidden_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 2, "intermediate_size": 128,
              "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
              "attention_probs_dropout_prob": 0.0,
              "max_position_embeddings": 64, "type_vocab_size": 2,
              "initializer_range": 0.02}
# Same global batch, seed and records for every run; Adam turns reduction-
# order rounding into slightly different updates, hence a tolerance.
LOSS_RTOL = 2e-3
WEIGHT_ATOL = 2e-3


def _env(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
  env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
  env.pop("TF_CONFIG", None)
  env.update(extra)
  return env


def _cli(module, *flags, timeout=600, **env):
  return subprocess.run([sys.executable, "-m", f"keras_bert_lab.{module}",
                         *flags], capture_output=True, text=True, cwd=ROOT,
                        env=_env(**env), timeout=timeout)


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _tf_config(ports, index):
  return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}})


def _scalars(folder, tag):
  """`{step: value}` of one scalar in the event files under `folder`."""
  values = {}
  for path in tf.io.gfile.glob(os.path.join(str(folder), "events.out.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def _checkpoints(model_dir):
  return sorted(p.name for p in model_dir.glob("ckpt-*.index"))


def _pretrained_weights(model_dir):
  from keras_bert_lab.models import BertPretrainer
  return BertPretrainer.from_pretrained(str(model_dir / "pretrained")
                                        ).get_weights()


@pytest.fixture(scope="module")
def pretraining_files(tmp_path_factory):
  """A no-dropout config and TFRecords (fixed masks: any replica count reads
  the same examples in the same global batches)."""
  tmp = tmp_path_factory.mktemp("distribution")
  config = tmp / "bert_config.json"
  config.write_text(json.dumps(NO_DROPOUT))
  records = tmp / "austen.tfrecord"
  result = _cli("create_pretraining_data", f"--input_files={CORPUS}",
                f"--vocab_file={VOCAB}", f"--output_file={records}",
                "--max_seq_length=32", "--max_predictions_per_seq=5",
                "--dupe_factor=1", "--random_seed=7")
  assert result.returncode == 0, result.stderr[-3000:]
  return config, records


def _pretrain_flags(pretraining_files, model_dir, steps=6, every=3):
  config, records = pretraining_files
  return [f"--bert_config_file={config}", f"--vocab_file={VOCAB}",
          f"--tfrecord_files={records}", "--max_seq_length=32",
          "--max_predictions_per_seq=5", "--train_batch_size=8",
          f"--num_train_steps={steps}", f"--checkpoint_every={every}",
          "--log_every=1", f"--model_dir={model_dir}"]


@pytest.mark.slow
def test_mirrored_pretraining_matches_one_device(pretraining_files, tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  single = _cli("pretrain", *_pretrain_flags(pretraining_files, one),
                "--strategy=cpu")
  assert single.returncode == 0, single.stderr[-3000:]
  mirrored = _cli("pretrain", *_pretrain_flags(pretraining_files, two),
                  "--strategy=mirrored", "--num_cpu_devices=2")
  assert mirrored.returncode == 0, mirrored.stderr[-3000:]
  assert "2 replica(s)" in mirrored.stderr
  expected = _scalars(one / "train", "loss")
  actual = _scalars(two / "train", "loss")
  assert sorted(expected) == sorted(actual) == [1, 2, 3, 4, 5, 6]
  np.testing.assert_allclose([actual[s] for s in sorted(actual)],
                             [expected[s] for s in sorted(expected)],
                             rtol=LOSS_RTOL)
  assert _checkpoints(one) == _checkpoints(two) == ["ckpt-3.index",
                                                    "ckpt-6.index"]
  for a, b in zip(_pretrained_weights(one), _pretrained_weights(two)):
    np.testing.assert_allclose(a, b, atol=WEIGHT_ATOL)


@pytest.mark.slow
def test_mirrored_finetuning_matches_one_device(data_dir, tmp_path):
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder
  from keras_bert_lab.text import read_vocab
  vocab = read_vocab(str(VOCAB))
  (tmp_path / "config.json").write_text(json.dumps(NO_DROPOUT))
  config = BertConfig.from_json_file(str(tmp_path / "config.json"))
  BertEncoder(config, vocab=vocab, lower_case=True).save_pretrained(
      str(tmp_path / "encoder"))
  rows = (data_dir / "labeled/en/fine_foods_train.tsv").read_text(
      encoding="utf-8").splitlines(keepends=True)[:81]   # header + 80
  (tmp_path / "reviews.tsv").write_text("".join(rows), encoding="utf-8")
  flags = [f"--init_checkpoint={tmp_path / 'encoder'}", "--task=classification",
           f"--train_file={tmp_path / 'reviews.tsv'}",
           "--text_column=review", "--label_column=score",
           "--max_seq_length=32", "--train_batch_size=8", "--log_every=1",
           "--num_train_epochs=1", "--learning_rate=1e-4"]
  single = _cli("finetune", *flags, f"--model_dir={tmp_path / 'one'}",
                "--strategy=cpu")
  assert single.returncode == 0, single.stderr[-3000:]
  mirrored = _cli("finetune", *flags, f"--model_dir={tmp_path / 'two'}",
                  "--strategy=mirrored", "--num_cpu_devices=2")
  assert mirrored.returncode == 0, mirrored.stderr[-3000:]
  assert "2 replica(s)" in mirrored.stderr
  expected = _scalars(tmp_path / "one" / "logs" / "train", "loss")
  actual = _scalars(tmp_path / "two" / "logs" / "train", "loss")
  assert len(expected) > 3 and sorted(actual) == sorted(expected)
  # The training order is drawn from --seed alone (a stateless shuffle), so
  # both runs see the same batches: the losses agree step by step.
  for step in sorted(expected):
    np.testing.assert_allclose(actual[step], expected[step], rtol=LOSS_RTOL,
                               err_msg=f"step {step}")
  one = json.loads((tmp_path / "one" / "eval_results.json").read_text())
  two = json.loads((tmp_path / "two" / "eval_results.json").read_text())
  assert one["train_steps"] == two["train_steps"]
  # At most one evaluation example on the other side of the boundary.
  assert abs(one["accuracy"] - two["accuracy"]) <= (
      1 / one["eval_examples"] + 1e-9)


def _start_worker(flags, ports, index, log):
  return subprocess.Popen(
      [sys.executable, "-m", "keras_bert_lab.pretrain", *flags,
       "--strategy=multi_worker", "--connect_timeout=30"],
      stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
      env=_env(TF_CONFIG=_tf_config(ports, index)))


@pytest.mark.slow
def test_two_workers_train_one_model_and_resume(pretraining_files, tmp_path):
  model_dir = tmp_path / "cluster"
  flags = _pretrain_flags(pretraining_files, model_dir, steps=40, every=5)
  logs = [tmp_path / f"worker{i}.log" for i in range(2)]

  # Run 1: kill worker 1 once it is past step 10; worker 0 must stop with
  # a clear message within the heartbeat / collective timeout.
  ports = _free_ports(2)
  handles = [open(path, "w") for path in logs]
  workers = [_start_worker(flags, ports, i, handles[i]) for i in range(2)]
  deadline = time.time() + 300
  while "step 10/40" not in logs[1].read_text() and time.time() < deadline:
    assert workers[1].poll() is None, logs[1].read_text()[-3000:]
    time.sleep(0.5)
  workers[1].kill()
  killed = time.time()
  assert workers[0].wait(timeout=240) != 0
  assert time.time() - killed < 200
  for handle in handles:
    handle.close()
  message = logs[0].read_text()
  assert "a worker of the cluster stopped answering" in message
  assert "Start every worker again" in message
  saved = _checkpoints(model_dir)
  assert "ckpt-10.index" in saved
  # Each worker reads its own share: a resume needs as many workers.
  assert json.loads((model_dir / "input_flags.json").read_text())[
      "input_pipelines"] == 2

  # Run 2: the same command on both resumes from the chief's checkpoint.
  ports = _free_ports(2)
  handles = [open(path, "w") for path in logs]
  workers = [_start_worker(flags, ports, i, handles[i]) for i in range(2)]
  codes = [w.wait(timeout=400) for w in workers]
  for handle in handles:
    handle.close()
  texts = [path.read_text() for path in logs]
  assert codes == [0, 0], texts[0][-2000:] + texts[1][-2000:]
  for text in texts:
    assert "Resumed from" in text and "step 40/40" in text
  # The chief alone writes model_dir: checkpoints, summaries, the model.
  assert "Pre-trained model:" in texts[0]
  assert "Pre-trained model:" not in texts[1]
  assert _checkpoints(model_dir)[-1] == "ckpt-40.index"
  assert not list(model_dir.glob(".worker_*"))
  steps = _scalars(model_dir / "train", "loss")
  assert max(steps) == 40
  assert (model_dir / "pretrained" / "model.safetensors").exists()


@pytest.mark.parametrize("flags,env,message", [
    (["--strategy=multi_worker"], {"TF_CONFIG": "{not json"},
     "TF_CONFIG is malformed"),
    (["--strategy=multi_worker"],
     {"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                               "task": {"type": "worker", "index": 3}})},
     "TF_CONFIG is malformed"),
    (["--strategy=multi_worker"], {}, "needs the TF_CONFIG"),
    (["--strategy=mirrored", "--num_cpu_devices=2", "--train_batch_size=7"],
     {}, "--train_batch_size=7 does not split over 2 replicas"),
    (["--strategy=cpu", "--num_cpu_devices=2"], {}, "use --strategy=mirrored"),
    (["--strategy=tpu", "--tpu=local"], {}, "no TPU found"),
])
def test_bad_distribution_settings_fail_fast(flags, env, message, tmp_path):
  start = time.time()
  result = _cli("pretrain", f"--input_files={CORPUS}",
                f"--model_dir={tmp_path}", *flags, **env, timeout=120)
  assert result.returncode != 0
  assert message in result.stderr, result.stderr[-2000:]
  assert time.time() - start < 60


def test_addresses_that_do_not_answer_fail_fast(tmp_path):
  (port,) = _free_ports(1)
  start = time.time()
  tpu = _cli("pretrain", f"--input_files={CORPUS}", f"--model_dir={tmp_path}",
             "--strategy=tpu", f"--tpu=grpc://127.0.0.1:{port}",
             "--connect_timeout=2", timeout=120)
  assert tpu.returncode != 0
  assert f"--tpu: nothing answers at grpc://127.0.0.1:{port}" in tpu.stderr
  # A peer worker that never starts: the watchdog ends the process.
  own, peer = _free_ports(2)
  worker = _cli("pretrain", f"--input_files={CORPUS}",
                f"--model_dir={tmp_path}", "--strategy=multi_worker",
                "--connect_timeout=3", timeout=120,
                TF_CONFIG=_tf_config([own, peer], 0))
  assert worker.returncode != 0
  assert (f"TF_CONFIG's cluster member 127.0.0.1:{peer}: nothing answers"
          in worker.stderr), worker.stderr[-2000:]
  assert time.time() - start < 90


def _static_model_inputs(spec):
  """Asserts every tensor is int32/float32, dense, with a static shape."""
  for name, tensor_spec in spec.items():
    assert isinstance(tensor_spec, tf.TensorSpec), name   # not ragged
    assert tensor_spec.dtype in (tf.int32, tf.float32), name
    assert tensor_spec.shape.is_fully_defined(), (name, tensor_spec.shape)


def test_tpu_ready_pipelines(pretraining_files):
  """What a TPU needs, checked on CPU: int32 features, static shapes after
  batching, no strings or ragged tensors reaching the model, the
  per-replica batch, and a step that compiles with XLA."""
  from keras_bert_lab import data, training
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder, BertPretrainer
  from keras_bert_lab.text import BertTokenizer
  _, records = pretraining_files
  context = tf.distribute.InputContext(num_input_pipelines=1,
                                       input_pipeline_id=0,
                                       num_replicas_in_sync=8)
  per_replica = context.get_per_replica_batch_size(32)
  assert per_replica == 4
  from_records = data.read_pretraining_tfrecords([str(records)], 32, 5,
                                                 batch_size=per_replica)
  tokenizer = BertTokenizer(str(VOCAB), lower_case=True)
  from_text = data.pretraining_dataset(
      data.read_documents([str(CORPUS)], seed=1), tokenizer, per_replica,
      max_seq_length=32, max_predictions_per_seq=5, seed=1)
  for dataset in (from_records, from_text):
    _static_model_inputs(dataset.element_spec)
    assert dataset.element_spec["input_word_ids"].shape == (4, 32)
  # The whole step (forward, backward, optimizer) under XLA, several steps
  # per call, fed through distribute_datasets_from_function.
  config = BertConfig.from_json_file(str(pretraining_files[0]))
  model = BertPretrainer(BertEncoder(config))
  optimizer = training.create_optimizer("adamw", 1e-4, 4, 1)
  metrics = training.train(
      model, optimizer, lambda ctx: from_records.repeat(),
      str(records.parent / "xla_run"), 4, steps_per_execution=2,
      log_every=4, checkpoint_every=4, jit_compile=True)
  assert np.isfinite(metrics["loss"])


def test_tpu_ready_finetuning_streams(data_dir):
  """`finetune`'s training streams (shuffled passes forever, whole batches)
  reach the model with static int32 shapes, labels included."""
  from keras_bert_lab.data import (classification, multiple_choice,
                                         tagging)
  from keras_bert_lab.text import BertTokenizer
  tokenizer = BertTokenizer(str(VOCAB), lower_case=True)
  reviews = classification.read_classification_file(
      str(data_dir / "labeled/en/fine_foods_train.tsv"), "review",
      "score").take(10)
  stream = classification.classification_dataset(
      reviews, tokenizer, ["great", "other"], seq_length=32, batch_size=4,
      shuffle=True, seed=1, passes=None, drop_remainder=True)
  features, labels = stream.element_spec
  _static_model_inputs(features)
  assert labels.shape == (4,) and labels.dtype == tf.int32
  assert len(list(stream.take(5))) == 5   # 10 examples, 5 batches: repeats
  sentences = tagging.read_tagging_file(
      str(data_dir / "labeled/zh/peoples_daily_ner_train.bio")).take(10)
  stream = tagging.tagging_dataset(sentences, tokenizer, ["O", "B-PER",
                                                          "I-PER", "B-LOC",
                                                          "I-LOC", "B-ORG",
                                                          "I-ORG"],
                                   seq_length=32, batch_size=4, shuffle=True,
                                   seed=1, passes=None, drop_remainder=True)
  features, labels, weights = stream.element_spec
  _static_model_inputs(features)
  assert labels.shape == weights.shape == (4, 32)
  swag = multiple_choice.featurize(multiple_choice.read_swag_csv(
      str(ROOT / "tests/data/fixtures/swag_sample.csv")).repeat(),
      tokenizer, 32, batch_size=4, drop_remainder=True)
  features, labels = swag.element_spec
  _static_model_inputs(features)
  assert features["input_word_ids"].shape == (4, 4, 32)
