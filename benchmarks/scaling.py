r"""Scaling on this machine: 2-replica MirroredStrategy vs 1 replica.

  python benchmarks/scaling.py [--steps=200] [--rounds=2]

The quick-start pre-training recipe (`configs/quickstart.flags`: BERT-tiny,
global batch 32 × 128, bundled corpus) run with `python -m
keras_bert_lab.pretrain` for `--steps` steps, as `--strategy=cpu` (one
replica) and as `--strategy=mirrored --num_cpu_devices=2` (the same 2 cores
split into two logical devices, 16 sequences per replica), alternating for
`--rounds` rounds. Throughput is the examples/s of the log windows after the
first (which holds tracing). On one CPU the expected ratio is about 1×: it
measures the overhead of the replicas and the all-reduce, not a speed-up.

Results: benchmarks/results/scaling.json (with CPU count and load).
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SETUPS = {"1 replica (--strategy=cpu)": ["--strategy=cpu"],
          "2 replicas (--strategy=mirrored --num_cpu_devices=2)":
              ["--strategy=mirrored", "--num_cpu_devices=2"]}


def run(flags, model_dir, steps, log_every):
  shutil.rmtree(model_dir, ignore_errors=True)
  command = [sys.executable, "-m", "keras_bert_lab.pretrain",
             "--flagfile=configs/quickstart.flags", f"--model_dir={model_dir}",
             f"--num_warmup_steps={steps // 10}",
             f"--num_train_steps={steps}", f"--log_every={log_every}",
             f"--checkpoint_every={steps}", "--eval_batches=1", *flags]
  print("$", " ".join(command[1:]), flush=True)
  start = time.perf_counter()
  result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  if result.returncode:
    raise SystemExit(result.stderr[-4000:])
  rates = [float(r) for r in
           re.findall(r"examples_per_second=([\d.]+)", result.stderr)]
  losses = [float(r) for r in re.findall(r" loss=([\d.]+)", result.stderr)]
  return {"examples_per_s": sum(rates[1:]) / len(rates[1:]),
          "windows": rates, "final_loss": losses[-1],
          "wall_s": time.perf_counter() - start}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--log_every", type=int, default=25)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/scaling_bench")
  parser.add_argument("--output", default=str(HERE / "results/scaling.json"))
  args = parser.parse_args()
  load_before = os.getloadavg()
  runs = {name: [] for name in SETUPS}
  for r in range(args.rounds):
    names = list(SETUPS) if r % 2 == 0 else list(SETUPS)[::-1]
    for name in names:
      runs[name].append(run(SETUPS[name], pathlib.Path(args.work_dir) / "run",
                            args.steps, args.log_every))
  rate = {name: sum(x["examples_per_s"] for x in rs) / len(rs)
          for name, rs in runs.items()}
  one, two = list(SETUPS)
  summary = {
      "recipe": "configs/quickstart.flags", "steps": args.steps,
      "rounds": args.rounds, "cpus": os.cpu_count(),
      "load_average_before": load_before,
      "load_average_after": os.getloadavg(),
      "examples_per_s": rate, "runs": runs,
      "two_over_one_replica": rate[two] / rate[one],
  }
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
  for name, value in rate.items():
    print(f"{name}: {value:.1f} examples/s")
  print(f"2 replicas / 1 replica: {summary['two_over_one_replica']:.2f}x")


if __name__ == "__main__":
  main()
