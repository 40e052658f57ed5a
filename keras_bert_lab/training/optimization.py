"""BERT's optimizers: AdamW or LAMB, warm-up then linear decay, clipping.

Everything but the schedule is core Keras: `keras.optimizers.AdamW` and
`keras.optimizers.Lamb` with `global_clipnorm`, `gradient_accumulation_steps`
and `exclude_from_weight_decay`, wrapped in `keras.optimizers.
LossScaleOptimizer` for float16. Keras has no schedule that warms up linearly
*from zero* and then decays linearly to zero (`CosineDecay`'s warm-up is
followed by a cosine, `PolynomialDecay` has no warm-up), so
`WarmupLinearDecay` is written here; it is BERT's schedule
(`optimization.py` in google-research/bert).

Notes on the Keras optimizers, which this module does not change:
  * `exclude_from_weight_decay(var_names=...)` searches each pattern (a regex)
    in `variable.name`, the *last* path component (`gamma`, `beta`, `bias`,
    `output_bias`), never in the path: `"LayerNorm"` would match nothing in
    our model. The default patterns are therefore `gamma`, `beta`, `bias`.
  * Weight decay is decoupled (`w -= lr * wd * w`, before the update) for
    both optimizers; Keras' `Lamb` applies it outside the trust ratio and
    adapts every variable, where the LAMB paper (and Model Garden's LAMB)
    puts decay inside the ratio and exempts LayerNorm and biases.
  * Schedules see `optimizer.iterations` counted in `apply` calls (one per
    training-loop step, i.e. per micro-batch under gradient accumulation).
"""

import keras

from keras_bert_lab.models.encoder import DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY
OPTIMIZERS = ("adamw", "lamb")


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `peak_learning_rate`, then linear decay to 0.

  `lr(step) = peak * step / num_warmup_steps` for `step < num_warmup_steps`,
  then `peak * (num_train_steps - step) / (num_train_steps -
  num_warmup_steps)`, and 0 from `num_train_steps` on.

  Args:
    peak_learning_rate: the rate reached at `num_warmup_steps`.
    num_train_steps: the step at which the rate reaches 0.
    num_warmup_steps: length of the warm-up (0 for none).

  Example:
    >>> lr = WarmupLinearDecay(1e-4, num_train_steps=100, num_warmup_steps=10)
    >>> [round(float(lr(step)), 8) for step in (5, 10, 55, 100)]
    [5e-05, 0.0001, 5e-05, 0.0]
  """

  def __init__(self, peak_learning_rate, num_train_steps, num_warmup_steps):
    if not 0 <= num_warmup_steps < num_train_steps:
      raise ValueError(
          f"num_warmup_steps={num_warmup_steps} must be >= 0 and smaller "
          f"than num_train_steps={num_train_steps}.")
    self.peak_learning_rate = peak_learning_rate
    self.num_train_steps = num_train_steps
    self.num_warmup_steps = num_warmup_steps

  def __call__(self, step):
    step = keras.ops.cast(step, "float32")
    warmup = keras.ops.cast(self.num_warmup_steps, "float32")
    total = keras.ops.cast(self.num_train_steps, "float32")
    warmup_fraction = step / keras.ops.maximum(warmup, 1.0)
    decay_fraction = keras.ops.maximum(total - step, 0.0) / (total - warmup)
    fraction = keras.ops.where(step < warmup, warmup_fraction, decay_fraction)
    return self.peak_learning_rate * fraction

  def get_config(self):
    return {"peak_learning_rate": self.peak_learning_rate,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps}


def create_optimizer(name="adamw", learning_rate=1e-4, num_train_steps=None,
                     num_warmup_steps=0, weight_decay=0.01, beta_1=0.9,
                     beta_2=0.999, epsilon=1e-6, global_clipnorm=1.0,
                     gradient_accumulation_steps=None,
                     exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
                     loss_scale=False):
  """Returns BERT's optimizer with the `WarmupLinearDecay` schedule.

  Args:
    name: `"adamw"` (BERT) or `"lamb"` (large-batch pre-training).
    learning_rate: the peak learning rate.
    num_train_steps: training-loop steps (optimizer `apply` calls) at which
      the rate reaches 0.
    num_warmup_steps: steps of linear warm-up from 0.
    weight_decay: decoupled weight-decay rate.
    beta_1: first-moment decay.
    beta_2: second-moment decay.
    epsilon: added to the second-moment root (1e-6 in BERT).
    global_clipnorm: clip all gradients together to this norm (None: off).
      Keras clips each replica's gradients before summing them over replicas.
    gradient_accumulation_steps: apply the averaged gradients of this many
      steps at once (None: every step).
    exclude_from_weight_decay: regexes searched in `variable.name` (the last
      path component, e.g. `gamma`); matching variables get no decay.
    loss_scale: wrap in `keras.optimizers.LossScaleOptimizer` (dynamic loss
      scaling), needed under the `mixed_float16` policy; not for bfloat16.

  Returns:
    A `keras.optimizers.Optimizer`. Create it inside `strategy.scope()`.

  Example:
    >>> opt = create_optimizer("adamw", 1e-4, num_train_steps=10000,
    ...                        num_warmup_steps=100)
    >>> opt.global_clipnorm
    1.0
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {OPTIMIZERS}.")
  if num_train_steps is None:
    raise ValueError("create_optimizer needs num_train_steps (the step at "
                     "which the learning rate decays to 0).")
  cls = keras.optimizers.AdamW if name == "adamw" else keras.optimizers.Lamb
  optimizer = cls(
      learning_rate=WarmupLinearDecay(learning_rate, num_train_steps,
                                      num_warmup_steps),
      weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
      epsilon=epsilon, global_clipnorm=global_clipnorm,
      gradient_accumulation_steps=gradient_accumulation_steps)
  optimizer.exclude_from_weight_decay(var_names=list(exclude_from_weight_decay))
  if loss_scale:
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer
