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


def _start(tmp_path, name, dropout):
  return subprocess.Popen(
      [sys.executable, "-m", "tests.training.train_script",
       str(tmp_path / name), str(tmp_path / f"{name}.ids"),
       str(tmp_path / f"{name}.npz"), str(dropout)],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def _latest(model_dir):
  state = model_dir / "checkpoint"
  return state.read_text().splitlines()[0] if state.exists() else ""


def _ids(path):
  return path.read_text().splitlines()


@pytest.mark.slow
def test_killed_run_resumes_exactly(tmp_path):
  # Dropout stays on: its seed generators are model state, checkpointed too.
  dropout = 0.1
  reference = _start(tmp_path, "reference", dropout)
  killed = _start(tmp_path, "run", dropout)
  deadline = time.time() + 120
  while _latest(tmp_path / "run") != 'model_checkpoint_path: "ckpt-6"':
    assert killed.poll() is None and time.time() < deadline, killed.stdout.read()
    time.sleep(0.02)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  killed_ids = _ids(tmp_path / "run.ids")
  assert not (tmp_path / "run.npz").exists()  # it did not finish

  (tmp_path / "run.ids").rename(tmp_path / "killed.ids")
  resumed = _start(tmp_path, "run", dropout)
  resumed_log = resumed.communicate(timeout=120)[0]
  assert resumed.returncode == 0, resumed_log
  assert reference.wait(timeout=120) == 0, reference.stdout.read()
  assert "at step 6." in resumed_log, resumed_log

  # Data position: 12 steps of 4 examples; the resumed run consumed exactly
  # steps 7..12 of the reference run, and the killed one steps 1..6 first.
  reference_ids = _ids(tmp_path / "reference.ids")
  assert len(reference_ids) == 12
  assert reference_ids[:2] == ["[0 1 2 3]", "[4 5 6 7]"]
  assert killed_ids[:6] == reference_ids[:6]
  assert _ids(tmp_path / "run.ids") == reference_ids[6:]

  with np.load(tmp_path / "reference.npz") as ref, \
       np.load(tmp_path / "run.npz") as run:
    assert len(ref.files) == len(run.files) > 0
    for name in ref.files:
      np.testing.assert_array_equal(run[name], ref[name], err_msg=name)
