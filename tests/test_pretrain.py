"""`python -m keras_bert_lab.pretrain` end to end, on the bundled corpus."""

import json
import signal
import subprocess
import sys
import time

import pytest

CORPUS = "keras_bert_lab/resources/austen_sense_and_sensibility_pride_and_prejudice.txt"
TINY = ["--model_size=tiny", "--max_seq_length=32",
        "--max_predictions_per_seq=5", "--train_batch_size=8",
        "--num_train_steps=6", "--checkpoint_every=3", "--log_every=3",
        "--eval_batches=2", f"--input_files={CORPUS}"]


def run(*flags):
  return subprocess.run([sys.executable, "-m", "keras_bert_lab.pretrain",
                         *flags], capture_output=True, text=True)


@pytest.mark.slow
def test_pretrain_writes_everything_and_refuses_other_config(tmp_path):
  model_dir = tmp_path / "run"
  result = run(*TINY, f"--model_dir={model_dir}")
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((model_dir / "eval_results.json").read_text())
  assert set(results) >= {"masked_lm_accuracy", "masked_lm_loss",
                          "next_sentence_accuracy", "next_sentence_loss"}
  assert results["steps"] == 6
  assert (model_dir / "bert_config.json").exists()
  assert (model_dir / "vocab.txt").exists()
  assert (model_dir / "checkpoint").exists()
  assert list((model_dir / "train").glob("events.out.tfevents.*"))
  assert "step 6/6" in result.stderr

  from keras_bert_lab.models import BertPretrainer
  model = BertPretrainer.from_pretrained(str(model_dir / "pretrained"))
  assert model.encoder.vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                     "[MASK]"]

  # Same command again: already at the last step, nothing to redo.
  again = run(*TINY, f"--model_dir={model_dir}")
  assert again.returncode == 0, again.stderr[-3000:]
  assert "Resumed from" in again.stderr

  # Other input (length buckets, a seed, a batch) cannot continue at the
  # saved data position: refused, naming the flag, before any training.
  assert json.loads((model_dir / "input_flags.json").read_text())["seed"] == 12345
  changed = run(*TINY, "--bucket_boundaries=16", "--seed=7",
                "--train_batch_size=4", f"--model_dir={model_dir}")
  assert changed.returncode != 0
  assert "trained on other input" in changed.stderr
  for shown in ("'--bucket_boundaries': ([], ['16'])", "'--seed': (12345, 7)",
                "'--train_batch_size': (8, 4)"):   # every changed flag named
    assert shown in changed.stderr, changed.stderr[-2000:]
  assert "Traceback" not in changed.stderr and "step 1/" not in changed.stderr
  # As if it had been trained by two workers (each reads its own share).
  saved = json.loads((model_dir / "input_flags.json").read_text())
  assert saved["input_pipelines"] == 1
  (model_dir / "input_flags.json").write_text(
      json.dumps(dict(saved, input_pipelines=2)))
  changed = run(*TINY, f"--model_dir={model_dir}")
  assert changed.returncode != 0
  assert "'workers (TF_CONFIG)': (2, 1)" in changed.stderr
  (model_dir / "input_flags.json").write_text(json.dumps(saved))

  other = run(*TINY[1:], "--model_size=mini", f"--model_dir={model_dir}")
  assert other.returncode != 0
  assert "another model config" in other.stderr
  assert "hidden_size" in other.stderr


@pytest.mark.parametrize("flags,message", [
    (["--input_files=nowhere.txt"], "nowhere.txt"),
    ([f"--input_files={CORPUS}", "--tfrecord_files=x.tfrecord"],
     "exactly one data source"),
    ([f"--input_files={CORPUS}", "--vocab_file=missing_vocab.txt"],
     "missing_vocab.txt"),
    ([f"--input_files={CORPUS}", "--no_such_flag=1"], "no_such_flag"),
    ([f"--input_files={CORPUS}", "--model_size=huge"], "model_size"),
])
def test_bad_flags_fail_before_training(tmp_path, flags, message):
  result = run(*flags, f"--model_dir={tmp_path / 'run'}")
  assert result.returncode != 0
  assert message in result.stderr
  assert "Pre-training" not in result.stderr


# The command end to end on one device (the checkpoint holds the input
# iterator). Two replicas, whose iterator TensorFlow cannot checkpoint (the
# resumed run skips the batches trained on): the same loop, killed and
# resumed, in tests/training/test_resume.py; their --strategy and
# --num_cpu_devices flags in tests/training/test_distribution.py.
@pytest.mark.slow
def test_killed_command_resumes_exactly(tmp_path):
  """SIGKILL mid-run, the same command again: weights equal an unbroken run."""
  common = [*TINY[:4], "--num_train_steps=12", "--checkpoint_every=2",
            "--log_every=2", "--eval_batches=1", "--deterministic",
            f"--input_files={CORPUS}"]

  def command(name):
    return [sys.executable, "-m", "keras_bert_lab.pretrain", *common,
            f"--model_dir={tmp_path / name}"]

  reference = subprocess.Popen(command("reference"), stderr=subprocess.PIPE,
                               text=True)
  killed = subprocess.Popen(command("run"), stderr=subprocess.PIPE, text=True)
  state = tmp_path / "run" / "checkpoint"
  deadline = time.time() + 300
  while not (state.exists() and '"ckpt-6"' in state.read_text()):
    assert killed.poll() is None and time.time() < deadline, (
        killed.stderr.read()[-3000:])
    time.sleep(0.02)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  assert not (tmp_path / "run" / "pretrained").exists()

  resumed = subprocess.run(command("run"), capture_output=True, text=True)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "at step 6" in resumed.stderr
  assert "step 8/12" in resumed.stderr and "step 2/12" not in resumed.stderr
  assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]
  weights = "pretrained/model.safetensors"
  assert ((tmp_path / "run" / weights).read_bytes()
          == (tmp_path / "reference" / weights).read_bytes())
  assert (json.loads((tmp_path / "run/eval_results.json").read_text())
          == json.loads((tmp_path / "reference/eval_results.json").read_text()))


@pytest.mark.slow
def test_continue_pretraining_a_released_bert(tmp_path, minilm_dir):
  """--init_checkpoint: the checkpoint's config, vocabulary and case."""
  short = ["--max_seq_length=32", "--max_predictions_per_seq=5",
           "--train_batch_size=4", "--num_train_steps=2",
           "--num_warmup_steps=0", "--steps_per_execution=1", "--log_every=1",
           "--checkpoint_every=2", "--eval_batches=1"]
  # The quick-start flagfile names the bundled 8,000-token vocabulary,
  # which does not fit MiniLM's 30,522 embeddings: refused before training.
  quick = ["--flagfile=configs/quickstart.flags",
           f"--init_checkpoint={minilm_dir}"]
  wrong = run(*quick, *short, f"--model_dir={tmp_path / 'wrong'}")
  assert wrong.returncode != 0
  assert "has vocab_size=30522 but" in wrong.stderr
  assert "holds 8000 tokens" in wrong.stderr and "step 1/" not in wrong.stderr

  # Flags after the flagfile override it (vocabulary, steps, model_dir).
  fixed = run(*quick, *short, f"--vocab_file={minilm_dir / 'vocab.txt'}",
              f"--model_dir={tmp_path / 'fixed'}")
  assert fixed.returncode == 0, fixed.stderr[-3000:]
  assert "step 2/2" in fixed.stderr

  # Without --vocab_file the checkpoint's own vocabulary is used.
  own = run(*short, f"--input_files={CORPUS}",
            f"--init_checkpoint={minilm_dir}", f"--model_dir={tmp_path / 'own'}")
  assert own.returncode == 0, own.stderr[-3000:]
  for name in ("fixed", "own"):
    model_dir = tmp_path / name
    assert ((model_dir / "vocab.txt").read_text().split()
            == (minilm_dir / "vocab.txt").read_text().split())
    config = json.loads((model_dir / "bert_config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (6, 384)
  from keras_bert_lab.models import BertPretrainer
  model = BertPretrainer.from_pretrained(str(tmp_path / "own" / "pretrained"))
  assert model.config.num_layers == 6 and len(model.vocab) == 30522
