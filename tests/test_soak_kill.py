"""`benchmarks/soak_kill.py` with a handful of kills: `pretrain` and
`finetune` + `export` SIGKILLed three times each (at random moments and
inside a write), restarted with the same command, end bit-identical with nothing
half-written left readable. The full soak (20 kills per job) is the
benchmark's default; its figures are in docs/faults.md."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kills_anywhere_lose_nothing(tmp_path):
  output = tmp_path / "soak.json"
  proc = subprocess.run(
      [sys.executable, str(ROOT / "benchmarks" / "soak_kill.py"),
       "--kills=3", f"--work_dir={tmp_path / 'work'}", "--max_minutes=15",
       f"--output={output}"], capture_output=True, text=True, timeout=1500)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  jobs = json.loads(output.read_text())["jobs"]
  assert set(jobs) == {"pretrain", "finetune"}
  for name, job in jobs.items():
    assert job["kills_delivered"] == job["kills_survived"] == 3, name
    assert job["kills_in_writes"] == 1, name
    assert job["runs_bit_identical"] == job["runs"] >= 1, name
    assert job["problems"] == [], name
    assert job["max_steps_redone"] <= job["checkpoint_interval_steps"], name
    write = next(k for k in job["kills"] if k["mode"] == "write")
    assert write["while_writing"], name
  assert {k["command"] for k in jobs["finetune"]["kills"]} == {"finetune",
                                                              "export"}
