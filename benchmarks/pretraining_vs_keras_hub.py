r"""Pre-training against keras-hub's `BertMaskedLM`, side by side, in one run.

  python benchmarks/pretraining_vs_keras_hub.py            # both parts
  python benchmarks/pretraining_vs_keras_hub.py --part=step

* learning: the quick-start recipe (`configs/quickstart.flags`: BERT-tiny,
  sequence 128, batch 32, AdamW at 1e-3 with warm-up, 1000 steps, bundled
  corpus with 5% of the chapters held out) run by `python -m
  keras_bert_lab.pretrain`, and keras-hub's `BertMaskedLM` of the same size
  trained by `model.fit` on the very same batches (the CLI's own input
  functions) with the same optimizer, steps and dropout; both scored by
  masked-LM accuracy on the same held-out batches. keras-hub has no NSP
  head: ours learns NSP on top, keras-hub does masked LM alone.
* step: tokens/s of one training step on a batch in memory (32 x 128), XLA
  on, for BERT-tiny and BERT-mini: our `training.train` loop with
  `BertPretrainer` (MLM + NSP), the same model under `compile()` +
  `model.fit(jit_compile=True)` (the loop choice in docs/design.md,
  "Training runtime"), and keras-hub's `BertMaskedLM` under the same `fit`,
  all with the same `steps_per_execution`. Each run times its second half:
  our loop's last log window, and `fit` from the end of the execution at
  half way to the end of the last (`_ExecutionClock`), so that neither
  compilation nor `fit`'s own start counts. `ROUNDS` rounds alternate the
  three; each keeps its median.
Results go to benchmarks/results/pretraining_vs_keras_hub.json.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import keras_hub
import tensorflow as tf
from absl import flags

from keras_bert_lab import models, pretrain, text, training
from keras_bert_lab.config import BertConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/pretraining_vs_keras_hub.json"
SEQ, BATCH, STEPS_PER_EXECUTION = 128, 32, 10
# Train-step part: steps per measurement (the second half is timed), rounds.
STEP_SIZES = {"tiny": 120, "mini": 60}
ROUNDS = 3


def keras_hub_model(config):
  """keras-hub's `BertMaskedLM` with `config`'s sizes."""
  backbone = keras_hub.models.BertBackbone(
      vocabulary_size=config.vocab_size, num_layers=config.num_layers,
      num_heads=config.num_heads, hidden_dim=config.hidden_size,
      intermediate_dim=config.intermediate_size,
      dropout=config.hidden_dropout_prob,
      max_sequence_length=config.max_position_embeddings,
      num_segments=config.type_vocab_size)
  return keras_hub.models.BertMaskedLM(backbone)


def to_keras_hub(features):
  """Our feature dict as keras-hub's `(x, y, sample_weight)`."""
  x = {"token_ids": features["input_word_ids"],
       "segment_ids": features["input_type_ids"],
       "padding_mask": features["input_mask"] > 0,
       "mask_positions": features["masked_lm_positions"]}
  return x, features["masked_lm_ids"], features["masked_lm_weights"]


def compile_keras_hub(model, optimizer, jit_compile):
  model.compile(
      optimizer=optimizer,
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
      jit_compile=jit_compile, steps_per_execution=STEPS_PER_EXECUTION)


def learning():
  """Held-out masked-LM accuracy: our quick start against keras-hub's."""
  with tempfile.TemporaryDirectory() as model_dir:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "keras_bert_lab.pretrain",
                    "--flagfile=configs/quickstart.flags",
                    f"--model_dir={model_dir}"], cwd=ROOT, check=True)
    ours_seconds = time.perf_counter() - start
    ours = json.loads((pathlib.Path(model_dir) /
                       "eval_results.json").read_text())

  FLAGS = flags.FLAGS
  FLAGS([sys.argv[0], f"--flagfile={ROOT / 'configs/quickstart.flags'}"])
  os.chdir(ROOT)
  tokenizer = text.BertTokenizer(FLAGS.vocab_file)
  config = BertConfig.preset(FLAGS.model_size,
                             vocab_size=tokenizer.vocab_size)
  keras.utils.set_random_seed(FLAGS.seed)
  model = keras_hub_model(config)
  steps = FLAGS.num_train_steps
  compile_keras_hub(model, training.create_optimizer(
      FLAGS.optimizer, FLAGS.learning_rate, steps, FLAGS.num_warmup_steps,
      weight_decay=FLAGS.weight_decay), jit_compile=False)
  # The CLI's own input: the same training stream and held-out batches.
  data = training.PretrainingInput(
      **{name: FLAGS[name].value for name in pretrain.INPUT_FLAGS},
      eval_batches=FLAGS.eval_batches)
  train = data.train_dataset_fn(tokenizer)(
      tf.distribute.InputContext()).map(to_keras_hub)
  held_out = data.eval_dataset(tokenizer).map(to_keras_hub)
  start = time.perf_counter()
  model.fit(train, steps_per_epoch=steps, epochs=1, verbose=2)
  hub_seconds = time.perf_counter() - start
  hub = model.evaluate(held_out, return_dict=True, verbose=0)
  return {
      "steps": steps, "batch_size": BATCH, "seq_length": SEQ,
      "ours_masked_lm_accuracy": ours["masked_lm_accuracy"],
      "ours_masked_lm_loss": ours["masked_lm_loss"],
      "ours_next_sentence_accuracy": ours["next_sentence_accuracy"],
      "ours_seconds_with_eval": ours_seconds,
      "keras_hub_masked_lm_accuracy": hub["accuracy"],
      "keras_hub_masked_lm_loss": hub["loss"],
      "keras_hub_fit_seconds": hub_seconds,
  }


def fixed_batch(vocab_size):
  """One batch of 32 x 128 with 20 masked positions; the same for both."""
  rng = tf.random.Generator.from_seed(0)
  ids = rng.uniform([BATCH, SEQ], 5, vocab_size, tf.int32)
  return {
      "input_word_ids": ids, "input_mask": tf.ones_like(ids),
      "input_type_ids": tf.concat([tf.zeros([BATCH, SEQ // 2], tf.int32),
                                   tf.ones([BATCH, SEQ // 2], tf.int32)], 1),
      "masked_lm_positions": tf.tile(tf.range(1, SEQ, 6)[tf.newaxis, :20],
                                     [BATCH, 1]),
      "masked_lm_ids": rng.uniform([BATCH, 20], 5, vocab_size, tf.int32),
      "masked_lm_weights": tf.ones([BATCH, 20]),
      "next_sentence_labels": tf.zeros([BATCH], tf.int32),
  }


def our_step_tokens_per_second(config, batch, steps=60):
  """Warm tokens/s of our training loop (XLA), the second half of `steps`."""
  keras.utils.set_random_seed(0)
  model = models.BertPretrainer(models.BertEncoder(config))
  optimizer = training.create_optimizer("adamw", 1e-4, steps, 1)
  dataset_fn = lambda _: tf.data.Dataset.from_tensors(batch).repeat()
  with tempfile.TemporaryDirectory() as model_dir:
    metrics = training.train(model, optimizer, dataset_fn, model_dir, steps,
                             steps_per_execution=STEPS_PER_EXECUTION,
                             checkpoint_every=steps, log_every=steps // 2,
                             jit_compile=True)
  return metrics["examples_per_second"] * SEQ


def our_fit_step_tokens_per_second(config, batch, steps=60):
  """Warm tokens/s of `BertPretrainer.compile()` + `model.fit` (XLA)."""
  keras.utils.set_random_seed(0)
  model = models.BertPretrainer(models.BertEncoder(config))
  model.compile(training.create_optimizer("adamw", 1e-4, steps, 1),
                jit_compile=True, steps_per_execution=STEPS_PER_EXECUTION)
  return _fit_tokens_per_second(model, batch, steps)


class _ExecutionClock(keras.callbacks.Callback):
  """The time at the end of each `steps_per_execution` call of `fit`."""

  def on_train_begin(self, logs=None):
    self.times = []

  def on_train_batch_end(self, batch, logs=None):
    self.times.append(time.perf_counter())


def _fit_tokens_per_second(model, batch, steps):
  """Tokens/s of `fit` on `batch` over its second half of `steps` steps.

  One `fit` call; the clock runs from the end of the execution at half way
  to the end of the last, so neither the XLA compilation of the first call
  nor `fit`'s own start and end count (as our loop's window, which times
  its second half).
  """
  data = tf.data.Dataset.from_tensors(batch).repeat()
  clock = _ExecutionClock()
  model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0,
            callbacks=[clock])
  half = len(clock.times) // 2 - 1
  timed_steps = (len(clock.times) - 1 - half) * STEPS_PER_EXECUTION
  return timed_steps * BATCH * SEQ / (clock.times[-1] - clock.times[half])


def keras_hub_step_tokens_per_second(config, batch, steps=60):
  """Warm tokens/s of keras-hub's `BertMaskedLM` under `model.fit` (XLA)."""
  keras.utils.set_random_seed(0)
  model = keras_hub_model(config)
  compile_keras_hub(model, training.create_optimizer("adamw", 1e-4, steps, 1),
                    jit_compile=True)
  return _fit_tokens_per_second(model, to_keras_hub(batch), steps)


def step():
  """Train-step tokens/s, ours over keras-hub's, at tiny and mini."""
  vocab_size = text.BertTokenizer(
      ROOT / "keras_bert_lab/resources/vocab.txt").vocab_size
  sides = {"ours": our_step_tokens_per_second,
           "ours_fit": our_fit_step_tokens_per_second,
           "keras_hub": keras_hub_step_tokens_per_second}
  results = {}
  for size, steps in STEP_SIZES.items():
    config = BertConfig.preset(size, vocab_size=vocab_size)
    batch = fixed_batch(vocab_size)
    # Rounds alternate the three sides; each side's median over the rounds
    # is kept, so that a busy moment on the machine does not decide a ratio.
    rounds = []
    for _ in range(ROUNDS):
      rounds.append({name: measure(config, batch, steps)
                     for name, measure in sides.items()})
      print(f"{size}: " + ", ".join(f"{k} {v:.0f}" for k, v in
                                    rounds[-1].items()) + " tokens/s",
            flush=True)
    median = {name: statistics.median(r[name] for r in rounds)
              for name in sides}
    results[size] = {
        "steps_timed": steps // 2, "rounds": rounds,
        "ours_tokens_per_second": median["ours"],
        "ours_fit_tokens_per_second": median["ours_fit"],
        "keras_hub_tokens_per_second": median["keras_hub"],
        "ours_over_keras_hub": median["ours"] / median["keras_hub"],
        "ours_fit_over_keras_hub": median["ours_fit"] / median["keras_hub"]}
  return results


def main():
  part = next((a.split("=", 1)[1] for a in sys.argv[1:]
               if a.startswith("--part=")), "all")
  results = (json.loads(RESULTS.read_text()) if RESULTS.exists() else {})
  results["cpus"] = os.cpu_count()
  if part in ("all", "step"):
    results["train_step_xla"] = step()
    for size, r in results["train_step_xla"].items():
      print(f"{size}: ours {r['ours_tokens_per_second']:.0f} tokens/s, "
            f"keras-hub {r['keras_hub_tokens_per_second']:.0f} tokens/s, "
            f"{r['ours_over_keras_hub']:.2f}x; under fit "
            f"{r['ours_fit_tokens_per_second']:.0f} tokens/s, "
            f"{r['ours_fit_over_keras_hub']:.2f}x")
  if part in ("all", "learning"):
    results["learning"] = r = learning()
    print(f"held-out masked_lm_accuracy after {r['steps']} steps: ours "
          f"{r['ours_masked_lm_accuracy']:.4f}, keras-hub "
          f"{r['keras_hub_masked_lm_accuracy']:.4f}")
  RESULTS.parent.mkdir(exist_ok=True)
  RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
  main()
