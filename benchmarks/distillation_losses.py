r"""Which distillation loss keeps most of the teacher: dev accuracy, side by side.

  python benchmarks/distillation_losses.py [--work_dir=/tmp/compression_bench] \
      [--epochs=3]

The teacher, the training rows, the dev split and the 3-block students are
those of `benchmarks/compression.py` (and shared with it through --work_dir,
so whichever runs second reuses the folders): all-MiniLM-L6-v2 fine-tuned on
`fine_foods_train.tsv`, students started from teacher blocks 0,2,4 and
trained by `python -m keras_bert_lab.distill` with the teacher's recipe.
They differ only in the loss:
  * no teacher: the labels alone (`--alpha=1`), the baseline a user would
    try first;
  * soft targets: half labels, half the teacher's soft targets at T = 2
    (the distill defaults);
  * TinyBERT: that plus the hidden states and the attention scores
    (`--hidden_weight=1 --attention_weight=1 --layer_map=1,3,5`, the paper's
    uniform map, student block m on teacher block 2m+1);
  * MiniLM: the soft targets plus the last blocks' attention and value
    relations (`--minilm_weight=1`).
Each row gives the dev accuracy `distill` wrote (`eval_results.json`), its
share of the teacher's and the majority-class rate. The students all have
the same shape, so they run at the speed of compression.py's 3-block row.
Results, with the machine's load, go to
benchmarks/results/distillation_losses.json.
"""

import argparse
import json
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compression  # noqa: E402
import finetune_sentiment_vs_hf as sentiment  # noqa: E402

ROWS = {"student_3_no_teacher": "labels alone (no teacher)",
        "student_3": "soft targets (T=2, alpha=0.5)",
        "student_3_tinybert": "soft targets + TinyBERT hidden + attention",
        "student_3_minilm": "soft targets + MiniLM attention + values"}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default="/tmp/compression_bench")
  parser.add_argument("--epochs", type=float, default=3)
  parser.add_argument("--output",
                      default=str(HERE / "results/distillation_losses.json"))
  args = parser.parse_args()
  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  load_before = os.getloadavg()
  model_dir, dev = compression.teacher(work_dir, args.epochs)
  results = {}
  for name, title in ROWS.items():
    folder = compression.student(model_dir, work_dir, name, args.epochs)
    evaluated = json.loads((folder / "eval_results.json").read_text())
    teacher = evaluated["teacher"]["accuracy"]
    results[name] = dict(loss=title, flags=compression.STUDENTS[name][1],
                         dev_accuracy=evaluated["accuracy"],
                         teacher_dev_accuracy=teacher,
                         retention=evaluated["accuracy"] / teacher)
  majority = max(sum(r["score"] == label for r in dev) / len(dev)
                 for label in sentiment.LABELS)
  summary = dict(teacher=str(model_dir), epochs=args.epochs,
                 dev_rows=len(dev), dev_majority_rate=majority,
                 cpus=os.cpu_count(), load_average_before=load_before,
                 load_average_after=os.getloadavg(), results=results)
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
  print(f"dev {len(dev)} rows, majority {majority:.4f}; load "
        f"{load_before[0]:.2f} before, {summary['load_average_after'][0]:.2f}"
        " after")
  print(f"{'loss':46s} {'dev acc':>7s} {'of teacher':>10s}")
  for r in results.values():
    print(f"{r['loss']:46s} {r['dev_accuracy']:7.4f} {r['retention']:10.1%}")


if __name__ == "__main__":
  main()
