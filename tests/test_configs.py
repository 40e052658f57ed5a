"""Every flagfile in configs/ parses against `pretrain`'s flags."""

import json
import pathlib
import subprocess
import sys

import pytest

CONFIGS = sorted(pathlib.Path("configs").glob("*.flags"))
# One interpreter parses every flagfile (importing TensorFlow once), each
# from the defaults again.
PARSE = """
import json, sys
from absl import flags
import keras_bert_lab.pretrain
f = flags.FLAGS
for path in sys.argv[1:]:
  f.unparse_flags()
  try:
    f(["pretrain", "--flagfile=" + path])
  except flags.Error as e:
    print(json.dumps({"path": path, "error": str(e)}))
    continue
  print(json.dumps({"path": path, "values": [
      f.model_size, f.max_seq_length, f.num_train_steps, f.next_sentence,
      f.init_checkpoint]}))
"""


def _parse_all(paths):
  result = subprocess.run([sys.executable, "-c", PARSE, *map(str, paths)],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  return {row["path"]: row for row in map(json.loads,
                                          result.stdout.splitlines())}


@pytest.fixture(scope="module")
def parsed():
  return _parse_all(CONFIGS)


def test_there_is_a_recipe_per_size_and_phase():
  names = {p.name for p in CONFIGS}
  for size in ("tiny", "mini", "small", "medium", "base", "large"):
    assert {f"pretrain_{size}_phase1.flags",
            f"pretrain_{size}_phase2.flags"} <= names
  assert {"quickstart.flags", "pretrain_base_tpu.flags",
          "pretrain_roberta_style_base.flags"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_flagfile_parses(path, parsed):
  row = parsed[str(path)]
  assert "error" not in row, row
  size, seq, steps, nsp, init = row["values"]
  init = str(init)
  if "phase1" in path.name:
    assert seq == 128 and steps == 900_000 and init == "None"
  if "phase2" in path.name:
    # 10% of the steps at 512 tokens, from phase 1's weights.
    assert seq == 512 and steps == 100_000 and init.endswith("phase1/pretrained")
    assert size in path.name
  if "roberta" in path.name:
    assert not nsp and seq == 512


def test_a_typo_in_a_flagfile_is_an_error(tmp_path):
  bad = tmp_path / "bad.flags"
  bad.write_text("--model_size=tiny\n--num_train_step=10\n")
  good = CONFIGS[0]
  rows = _parse_all([bad, good])
  assert "num_train_step" in rows[str(bad)]["error"]
  assert "error" not in rows[str(good)]   # parsed afresh after the error
