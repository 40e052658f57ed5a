r"""Kill anywhere, lose nothing: runs SIGKILLed at random moments and inside
their writes, restarted with the same command, end bit-identical.

  python benchmarks/soak_kill.py [--jobs=pretrain,finetune] [--kills=20] \
      [--work_dir=/tmp/soak_kill] [--seed=0] [--max_minutes=60] \
      [--output=benchmarks/results/soak_kill.json]

Two jobs on small real data, each first run once uninterrupted (the
reference, timed per command):
  * `pretrain`: `python -m keras_bert_lab.pretrain --deterministic` on the
    bundled Austen corpus (BERT-tiny at seq 32, 40 steps, a checkpoint every
    4), ending in `eval_results.json` and `save_pretrained` (`pretrained/`);
  * `finetune`: `python -m keras_bert_lab.finetune` (classification of 240
    fine_foods reviews from the reference's `pretrained/`, batch 8, a
    backup every 5 steps, 2 passes), then `python -m keras_bert_lab.export
    --version=1`.
Then the same commands again in a fresh folder: every attempt is killed
(SIGKILL) and started again, unchanged, until it finishes; a run that ends
before its next kill is checked and a new one starts, until `--kills` kills
per job are delivered, shared by the commands by their reference times.
Every other kill lands at a moment drawn uniformly
over that command's reference time ("random"); the others land inside a
write ("write"): an inotify watch (Linux `inotify` through ctypes) on the
run's folders arms at such a moment and kills at the next write of a
checkpoint, backup, model or export file (the first, second or third file
written from then, drawn), while it is being written.
Nothing is cleaned by hand between attempts.

After every kill the folders are checked as their readers would see them:
a `pretrained/` or fine-tuned folder that holds `config.json` (what every
reader needs) must hold the reference's final weights, and an export
version folder must be whole (`saved_model.pb`, `variables/`). At the end
the weights must be bit-identical to the reference's, and the exported
model's answers equal to the reference export's.

Reported per job: kills delivered and survived (in runs that ended
bit-identical), what each kill hit, steps re-done per kill (the step the
run had reached when killed, less the step training went on from; at most
one checkpoint interval), and seconds lost per kill (the runs' wall
time less the reference's, over the kills). CPU count and load
average go with the results.
"""

import argparse
import ctypes
import hashlib
import json
import os
import pathlib
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
# The shared data folder, as the tests find it.
DATA = pathlib.Path(os.environ.get("KBL_DATA_DIR",
                                   ROOT.parent / "shared" / "data"))
CORPUS = (ROOT / "keras_bert_lab" / "resources" /
          "austen_sense_and_sensibility_pride_and_prejudice.txt")
PRETRAIN_STEPS, PRETRAIN_EVERY = 40, 4
FINETUNE_ROWS, FINETUNE_EVERY = 240, 5
# Files whose writes a "write" kill waits for (checkpoints, Keras' backup,
# save_pretrained's staging, the export's temporary folder).
WRITES = re.compile(r"ckpt|checkpoint|\.h5$|\.npz|training_metadata|"
                    r"safetensors|\.staging-|\.tmp|saved_model\.pb|"
                    r"variables|task\.json|config\.json")

# ------------------------------------------------------------- inotify --

_IN_MODIFY, _IN_CREATE, _IN_MOVED_TO = 0x2, 0x100, 0x80
_IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")


class WriteWatch:
  """Linux inotify on a folder tree (ctypes; no package offers it in the
  standard library): `next_write(timeout)` is the path of the next file
  created or written under it that matches `WRITES`."""

  def __init__(self, root):
    self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
    self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
    if self._fd < 0:
      raise OSError(ctypes.get_errno(), "inotify_init1")
    self._dirs = {}
    for folder, _, _ in os.walk(root):
      self._watch(folder)

  def _watch(self, folder):
    wd = self._libc.inotify_add_watch(
        self._fd, os.fsencode(folder), _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO)
    if wd >= 0:
      self._dirs[wd] = folder

  def next_write(self, deadline, alive, skip_files=0):
    """The path of the next matching write, past the writes of the first
    `skip_files` files (so that a kill lands in any file of a write of
    several: seeds, weights, metadata), or None at `deadline` or when
    `alive()` turns false."""
    seen = []
    while time.time() < deadline and alive():
      ready, _, _ = select.select([self._fd], [], [], 0.05)
      if not ready:
        continue
      data = os.read(self._fd, 65536)
      offset = 0
      while offset < len(data):
        wd, mask, _, length = _EVENT.unpack_from(data, offset)
        name = data[offset + _EVENT.size:offset + _EVENT.size + length]
        offset += _EVENT.size + length
        path = os.path.join(self._dirs.get(wd, "?"),
                            os.fsdecode(name.rstrip(b"\0")))
        if mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO):
          self._watch(path)
        if WRITES.search(path):
          if path not in seen:
            seen.append(path)
          if len(seen) > skip_files:
            return path
    return None

  def close(self):
    os.close(self._fd)


# ---------------------------------------------------------------- jobs --

def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
              PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get(
                  "PYTHONPATH", ""))


def pretrain_commands(folder):
  return [("pretrain", [
      sys.executable, "-m", "keras_bert_lab.pretrain", "--model_size=tiny",
      "--max_seq_length=32", "--max_predictions_per_seq=5",
      "--train_batch_size=8", f"--num_train_steps={PRETRAIN_STEPS}",
      f"--checkpoint_every={PRETRAIN_EVERY}", "--log_every=1",
      "--eval_batches=2", "--deterministic", f"--input_files={CORPUS}",
      f"--model_dir={folder / 'run'}"])]


def finetune_commands(folder, encoder, train_file):
  return [("finetune", [
      sys.executable, "-m", "keras_bert_lab.finetune",
      "--task=classification", f"--init_checkpoint={encoder}",
      f"--model_dir={folder / 'run'}", f"--train_file={train_file}",
      "--text_column=review", "--label_column=score", "--max_seq_length=32",
      "--train_batch_size=8", "--num_train_epochs=2", "--log_every=1",
      f"--checkpoint_every={FINETUNE_EVERY}"]),
          ("export", [
              sys.executable, "-m", "keras_bert_lab.export",
              f"--model_dir={folder / 'run'}",
              f"--export_dir={folder / 'exported'}", "--version=1"])]


def model_folder(job, folder):
  """The folder the job's model is saved to."""
  return folder / "run" / "pretrained" if job == "pretrain" else folder / "run"


def _digest(path):
  return hashlib.sha256(path.read_bytes()).hexdigest()


def run_once(command, log):
  """Runs `command` to its end; returns its wall seconds."""
  begin = time.time()
  with open(log, "w") as err:
    proc = subprocess.run(command, cwd=ROOT, env=_env(), stderr=err,
                          stdout=subprocess.DEVNULL)
  if proc.returncode:
    raise SystemExit(f"{command[2]} failed (exit {proc.returncode}); see "
                     f"{log}")
  return time.time() - begin


# Log lines that say which step a run reached, and where it resumed (a
# finished fine-tuning run found finished resumes at its last step).
_STEP = re.compile(r"step (\d+)/\d+")
_RESUMED = (re.compile(r"at step (\d+)"),
            re.compile(r"chunk\(s\) done \(step (\d+)\)"),
            re.compile(r"already holds this run, finished \((\d+) steps"))


def _last_step(text):
  """The last training step an attempt logged, or None."""
  steps = _STEP.findall(text)
  return int(steps[-1]) if steps else None


def _resumed_at(text, finished):
  """The step an attempt resumed at: its resume line's, 0 when it logged
  training (or finished) without one, None when it was killed before it
  said (its successor tells)."""
  for pattern in _RESUMED:
    found = pattern.search(text)
    if found:
      return int(found.group(1))
  return 0 if finished or _last_step(text) is not None else None


def check_folders(job, folder, want):
  """What a reader would see now: `[problems]`."""
  problems = []
  model = model_folder(job, folder)
  if (model / "config.json").exists():
    weights = model / "model.safetensors"
    if not weights.exists() or _digest(weights) != want:
      problems.append(f"{model} holds config.json but not the final weights")
  exported = folder / "exported"
  if exported.exists():
    for version in exported.iterdir():
      if version.name.isdigit() and not (
          (version / "saved_model.pb").exists()
          and (version / "variables").is_dir()):
        problems.append(f"{version} is a partial export version")
  return problems


def kill_budgets(commands, reference_times, kills):
  """`{command name: kills}`: the job's kills shared by reference time."""
  total = sum(reference_times)
  shares = [max(1, round(kills * t / total)) for t in reference_times]
  shares[-1] = max(0, kills - sum(shares[:-1]))
  return {name: share for (name, _), share in zip(commands, shares)}


def run_with_kills(job, commands, reference_times, want, report, budgets, rng,
                   folder, deadline):
  """Runs `commands` to their end in `folder`, each attempt killed (while
  its command's `budgets` entry is positive) at a moment drawn uniformly
  over the command's reference time, every other time at the next write
  after it. Appends to `report["kills"]` and `report["problems"]`."""
  for (name, command), reference in zip(commands, reference_times):
    # Kills whose resume point a later attempt has still to log, and the
    # step the run had reached (a kill before any progress keeps it).
    attempt, pending, reached = 0, [], 0
    while True:
      attempt += 1
      log = folder / f"{name}.attempt{attempt}.log"
      begin = time.time()
      with open(log, "w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=_env(), stderr=err,
                                stdout=subprocess.DEVNULL)
        kill = None
        if budgets[name] > 0 and time.time() < deadline:
          mode = "write" if len(report["kills"]) % 2 else "random"
          at = rng.uniform(0, reference)
          while proc.poll() is None and time.time() - begin < at:
            time.sleep(0.005)
          hit = "the moment drawn"
          if mode == "write":   # then the next write, while it is written
            watch = WriteWatch(folder)
            hit = watch.next_write(begin + 10 * reference,
                                   lambda: proc.poll() is None,
                                   skip_files=rng.randrange(3))
            watch.close()
          if proc.poll() is None and hit is not None:
            proc.send_signal(signal.SIGKILL)
            kill = {"command": name, "mode": mode,
                    "seconds": round(time.time() - begin, 2),
                    "while_writing": (os.path.relpath(hit, folder)
                                      if mode == "write" else None)}
        code = proc.wait()
      text = log.read_text(errors="replace")
      killed = kill is not None and code == -signal.SIGKILL
      resumed = _resumed_at(text, finished=not killed)
      if resumed is not None:   # where training went on after the kills
        for before in pending:
          before["resumed_at_step"] = resumed
          before["steps_redone"] = max(0, before["step_reached"] - resumed)
        pending = []
      logged = _last_step(text)
      reached = (logged if logged is not None else
                 resumed if resumed is not None else reached)
      if killed:
        budgets[name] -= 1
        kill["step_reached"] = reached
        report["kills"].append(kill)
        report["problems"] += check_folders(job, folder, want)
        print(f"  kill {len(report['kills'])}: {kill}", flush=True)
        pending.append(kill)
        continue
      if code:
        report["problems"].append(f"{name} attempt {attempt} exited {code}: "
                                  f"see {log}")
      break


def same_answers(reference, soaked):
  """Whether two exports answer 16 real reviews identically (a fresh
  process: TensorFlow and tensorflow-text only)."""
  script = (
      "import sys, csv, numpy as np, tensorflow as tf, tensorflow_text\n"
      "rows = list(csv.DictReader(open(sys.argv[3], encoding='utf-8'), "
      "delimiter='\\t'))[:16]\n"
      "text = tf.constant([r['review'] for r in rows])\n"
      "a, b = (tf.saved_model.load(p).signatures['serving_default'](text=text)"
      " for p in sys.argv[1:3])\n"
      "sys.exit(0 if all(np.array_equal(a[k].numpy(), b[k].numpy()) "
      "for k in a) else 1)\n")
  proc = subprocess.run(
      [sys.executable, "-c", script, str(reference), str(soaked),
       str(DATA / "labeled" / "en" / "fine_foods_train.tsv")],
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True)
  return proc.returncode == 0


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--jobs", default="pretrain,finetune")
  parser.add_argument("--kills", type=int, default=20,
                      help="Kills per job (at least 1).")
  parser.add_argument("--work_dir", default="/tmp/soak_kill")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--max_minutes", type=float, default=60.0,
                      help="No kill starts after this; the runs then finish.")
  parser.add_argument("--output",
                      default=str(HERE / "results" / "soak_kill.json"))
  args = parser.parse_args()
  if args.kills < 1:
    parser.error(f"--kills={args.kills}: pass at least 1.")
  jobs = args.jobs.split(",")
  unknown = set(jobs) - {"pretrain", "finetune"}
  if unknown:
    parser.error(f"--jobs: unknown {sorted(unknown)}; use pretrain,finetune.")
  work = pathlib.Path(args.work_dir)
  if work.exists() and any(work.iterdir()):
    parser.error(f"--work_dir={work} is not empty; pass a new folder.")
  work.mkdir(parents=True, exist_ok=True)
  rng = random.Random(args.seed)
  deadline = time.time() + 60 * args.max_minutes
  load_before = os.getloadavg()
  results = {}
  train_file = work / "reviews.tsv"
  lines = (DATA / "labeled" / "en" / "fine_foods_train.tsv").read_text(
      encoding="utf-8").splitlines()
  train_file.write_text("\n".join(lines[:FINETUNE_ROWS + 1]) + "\n",
                        encoding="utf-8")
  encoder = None
  for job in ["pretrain"] + [j for j in jobs if j != "pretrain"]:
    reference = work / job / "reference"
    commands = (pretrain_commands(reference) if job == "pretrain" else
                finetune_commands(reference, encoder, train_file))
    reference.mkdir(parents=True)
    print(f"{job}: reference run", flush=True)
    times = [run_once(c, reference / f"{n}.log") for n, c in commands]
    if job == "pretrain":
      encoder = model_folder("pretrain", reference)
    if job not in jobs:
      continue
    want = _digest(model_folder(job, reference) / "model.safetensors")
    print(f"{job}: soak, {args.kills} kills", flush=True)
    # Runs from scratch, each killed until it ends, until the kills are
    # delivered: a run that ends before its next kill starts a new one.
    report = {"kills": [], "problems": [], "runs": []}
    budgets = kill_budgets(commands, times, args.kills)
    while sum(budgets.values()) > 0 and time.time() < deadline:
      soaked = work / job / f"soak{len(report['runs']) + 1}"
      soaked.mkdir(parents=True)
      commands = (pretrain_commands(soaked) if job == "pretrain" else
                  finetune_commands(soaked, encoder, train_file))
      begin, before = time.time(), len(report["kills"])
      run_with_kills(job, commands, times, want, report, budgets, rng,
                     soaked, deadline)
      final = model_folder(job, soaked) / "model.safetensors"
      identical = final.exists() and _digest(final) == want
      if job == "finetune":
        identical = identical and same_answers(
            reference / "exported" / "1", soaked / "exported" / "1")
      report["runs"].append({
          "folder": str(soaked), "kills": len(report["kills"]) - before,
          "bit_identical": identical,
          "seconds_lost": round(time.time() - begin - sum(times), 1)})
    every = PRETRAIN_EVERY if job == "pretrain" else FINETUNE_EVERY
    redone = [k["steps_redone"] for k in report["kills"]
              if k.get("steps_redone") is not None]
    survived = sum(r["kills"] for r in report["runs"] if r["bit_identical"])
    results[job] = {
        "kills_delivered": len(report["kills"]),
        "kills_survived": survived if not report["problems"] else 0,
        "runs": len(report["runs"]),
        "runs_bit_identical": sum(r["bit_identical"] for r in report["runs"]),
        "kills_in_writes": sum(1 for k in report["kills"]
                               if k["mode"] == "write"),
        "checkpoint_interval_steps": every,
        "max_steps_redone": max(redone, default=0),
        "mean_steps_redone": (round(sum(redone) / len(redone), 2)
                              if redone else 0),
        "reference_seconds": round(sum(times), 1),
        "seconds_lost_per_kill": round(
            sum(r["seconds_lost"] for r in report["runs"])
            / max(1, len(report["kills"])), 1),
        "problems": report["problems"], "run_list": report["runs"],
        "kills": report["kills"]}
    print(json.dumps({k: v for k, v in results[job].items()
                      if k not in ("kills", "run_list")}), flush=True)
  summary = {"cpus": os.cpu_count(), "load_average_before": load_before,
             "load_average_after": os.getloadavg(), "seed": args.seed,
             "jobs": results}
  if args.output:
    pathlib.Path(args.output).write_text(json.dumps(summary, indent=1) + "\n")
  failed = [job for job, r in results.items()
            if r["runs_bit_identical"] < r["runs"] or r["problems"] or
            r["kills_delivered"] < args.kills or
            r["max_steps_redone"] > r["checkpoint_interval_steps"]]
  if failed:
    raise SystemExit(f"FAILED: {failed}")


if __name__ == "__main__":
  main()
