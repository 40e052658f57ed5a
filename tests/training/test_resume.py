"""A killed pre-training run, re-run, ends exactly like an uninterrupted one."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _start(tmp_path, name, dropout, replicas):
  return subprocess.Popen(
      [sys.executable, "-m", "tests.training.train_script",
       str(tmp_path / name), str(tmp_path / f"{name}.ids"),
       str(tmp_path / f"{name}.npz"), str(dropout), str(replicas)],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def _latest(model_dir):
  state = model_dir / "checkpoint"
  return state.read_text().splitlines()[0] if state.exists() else ""


def _steps(path, replicas):
  """The example ids of each step: one line per replica, in any order."""
  lines = path.read_text().splitlines()
  return [" ".join(sorted(lines[i:i + replicas]))
          for i in range(0, len(lines), replicas)]


# One device: the checkpoint holds the input iterator. Two replicas
# (MirroredStrategy on 2 logical CPUs): TensorFlow cannot checkpoint that
# iterator, and the resumed run skips the batches trained on instead.
@pytest.mark.slow
@pytest.mark.parametrize("replicas", [1, 2])
def test_killed_run_resumes_exactly(tmp_path, replicas):
  # Dropout stays on: its seed generators are model state, checkpointed too.
  dropout = 0.1
  reference = _start(tmp_path, "reference", dropout, replicas)
  killed = _start(tmp_path, "run", dropout, replicas)
  deadline = time.time() + 120
  while _latest(tmp_path / "run") != 'model_checkpoint_path: "ckpt-6"':
    assert killed.poll() is None and time.time() < deadline, killed.stdout.read()
    time.sleep(0.02)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  killed_ids = _steps(tmp_path / "run.ids", replicas)
  assert not (tmp_path / "run.npz").exists()  # it did not finish

  (tmp_path / "run.ids").rename(tmp_path / "killed.ids")
  resumed = _start(tmp_path, "run", dropout, replicas)
  resumed_log = resumed.communicate(timeout=120)[0]
  assert resumed.returncode == 0, resumed_log
  assert reference.wait(timeout=120) == 0, reference.stdout.read()
  assert "at step 6" in resumed_log, resumed_log

  # Data position: 12 steps of 4 examples; the resumed run consumed exactly
  # steps 7..12 of the reference run, and the killed one steps 1..6 first.
  reference_ids = _steps(tmp_path / "reference.ids", replicas)
  assert len(reference_ids) == 12
  assert reference_ids[:2] == (["[0 1 2 3]", "[4 5 6 7]"] if replicas == 1
                               else ["[0 1] [2 3]", "[4 5] [6 7]"])
  assert killed_ids[:6] == reference_ids[:6]
  assert _steps(tmp_path / "run.ids", replicas) == reference_ids[6:]

  with np.load(tmp_path / "reference.npz") as ref, \
       np.load(tmp_path / "run.npz") as run:
    assert len(ref.files) == len(run.files) > 0
    for name in ref.files:
      np.testing.assert_array_equal(run[name], ref[name], err_msg=name)
