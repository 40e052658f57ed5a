"""Pick a `tf.distribute` strategy by name, as `--strategy` asks.

Only TensorFlow's own strategies; this module maps flag values to them and
explains what is missing (no GPU, no TPU address, a global batch that does
not split evenly) before training starts. `split_cpu` turns one CPU into
several logical devices, so `MirroredStrategy` runs with several replicas
on a machine without accelerators (tests, and checking a multi-device run
before renting the devices).
"""

import json
import os
import subprocess
import sys

import tensorflow as tf

from keras_bert_lab.training import watchdog
from keras_bert_lab.training.watchdog import wait_for_address

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "multi_worker", "tpu")
# Seconds to wait for a TPU or peer worker address to accept connections.
CONNECT_TIMEOUT = 120


def split_cpu(num_devices):
  """Splits the CPU into `num_devices` logical devices (before TF starts).

  Args:
    num_devices: logical CPU devices; 1 leaves the CPU as it is.

  Raises:
    ValueError: `num_devices` < 1, or TensorFlow's devices are already
      initialised (some TF op ran first) with another split.

  Example (first thing in a process, then `get_strategy("mirrored")` has
  2 replicas; with 1 there is nothing to split):
    >>> split_cpu(1)
  """
  if num_devices < 1:
    raise ValueError(f"--num_cpu_devices={num_devices}: use 1 or more.")
  if num_devices == 1:
    return
  (cpu,) = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
  except RuntimeError:
    if len(tf.config.list_logical_devices("CPU")) != num_devices:
      raise ValueError(
          f"--num_cpu_devices={num_devices}: TensorFlow's devices were "
          "initialised before the split; split the CPU first thing, before "
          "any TensorFlow op runs.") from None


def read_tf_config():
  """Checks `TF_CONFIG` for `--strategy=multi_worker`.

  Returns:
    The parsed `TF_CONFIG`: `{"cluster": {"worker": [...], ...}, "task":
    {"type": ..., "index": ...}}`.

  Raises:
    ValueError: `TF_CONFIG` unset, not JSON, without a worker list, or with
      a task that is not in the cluster.

  Example:
    >>> os.environ["TF_CONFIG"] = json.dumps({
    ...     "cluster": {"worker": ["localhost:12345", "localhost:23456"]},
    ...     "task": {"type": "worker", "index": 0}})
    >>> read_tf_config()["task"]["index"]
    0
    >>> del os.environ["TF_CONFIG"]
  """
  example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
             '"task": {"type": "worker", "index": 0}}')
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    raise ValueError("--strategy=multi_worker needs the TF_CONFIG "
                     f"environment variable, e.g. TF_CONFIG='{example}'.")
  try:
    config = json.loads(raw)
    cluster, task = config["cluster"], config["task"]
    kind, index = task["type"], int(task["index"])
    members = cluster[kind]
    workers = cluster["worker"]
    if not 0 <= index < len(members):
      raise IndexError(f"task index {index} of {len(members)} {kind}(s)")
  except (ValueError, KeyError, TypeError, IndexError) as e:
    raise ValueError(f"TF_CONFIG is malformed ({type(e).__name__}: {e}); it "
                     f"must look like {example}.") from None
  if not workers:
    raise ValueError(f"TF_CONFIG lists no workers; it must look like "
                     f"{example}.")
  return config


def _watch_peers(config, timeout):
  """Terminates this process if a peer worker does not answer in time.

  A worker's server listens only once its own strategy is being made, and
  `MultiWorkerMirroredStrategy` then waits for every peer with no deadline
  (holding the GIL), so the peers are probed from a separate process
  (`watchdog.py`) that prints the error and ends this one.
  """
  own = config["cluster"][config["task"]["type"]][int(config["task"]["index"])]
  peers = [address for kind in ("chief", "worker")
           for address in config["cluster"].get(kind, []) if address != own]
  subprocess.Popen([sys.executable, watchdog.__file__, str(os.getpid()),
                    str(timeout), *peers])


def get_strategy(name="auto", tpu=None, timeout=CONNECT_TIMEOUT):
  """Returns the strategy for a `--strategy` value.

  Args:
    name: `auto` (TPU if `tpu` is given, else all local GPUs, else all
      logical CPUs), `cpu`, `gpu` (one GPU; both the default strategy),
      `mirrored` (all local GPUs, or all logical CPUs: see `split_cpu`),
      `multi_worker` (`MultiWorkerMirroredStrategy`, workers from
      `TF_CONFIG`) or `tpu`.
    tpu: TPU address or name for `TPUClusterResolver` ("" or "local" in a
      TPU VM or Colab).
    timeout: seconds to wait for a `grpc://` TPU address or for the other
      workers (`multi_worker`) to answer.

  Returns:
    A `tf.distribute.Strategy`.

  Raises:
    ValueError: an unknown name, a GPU/TPU strategy without the device, a
      bad `TF_CONFIG`, or a TPU / worker address that does not answer.

  Example:
    >>> strategy = get_strategy("mirrored")
    >>> strategy.num_replicas_in_sync
    1
  """
  if name not in STRATEGIES:
    raise ValueError(f"--strategy={name!r} is not one of {STRATEGIES}.")
  # Collectives must be configured before TF's devices are listed.
  if name == "multi_worker":
    _watch_peers(read_tf_config(), timeout)
    # A peer that dies mid-step fails the collectives after `timeout`
    # seconds (or TensorFlow's heartbeats, whichever comes first) instead
    # of leaving the others waiting forever.
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=timeout))
  gpus = tf.config.list_logical_devices("GPU")
  cpus = tf.config.list_logical_devices("CPU")
  if name == "auto":
    name = ("tpu" if tpu is not None else
            "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else
            "gpu" if gpus else "cpu")
  # One device: the default strategy, whose input iterator (unlike a
  # OneDeviceStrategy's) can be checkpointed for an exact resume.
  if name == "cpu":
    if gpus:
      raise ValueError("--strategy=cpu on a machine with a GPU: hide it with "
                       "CUDA_VISIBLE_DEVICES= to train on the CPU.")
    if len(cpus) > 1:
      raise ValueError(f"--strategy=cpu with {len(cpus)} logical CPUs "
                       "(--num_cpu_devices): use --strategy=mirrored.")
    return tf.distribute.get_strategy()
  if name == "gpu":
    if not gpus:
      raise ValueError("--strategy=gpu but TensorFlow sees no GPU; check the "
                       "CUDA install or use --strategy=cpu.")
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = None if gpus else [d.name for d in cpus]
    return tf.distribute.MirroredStrategy(devices)
  if tpu is None:
    raise ValueError("--strategy=tpu needs --tpu=ADDRESS (or --tpu=local on "
                     "a TPU VM).")
  if ":" in tpu:   # an address, not a Cloud TPU name
    wait_for_address(tpu, "--tpu", timeout)
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu="" if tpu == "local" else tpu)
  except ValueError as e:
    raise ValueError(f"--tpu={tpu}: no TPU found ({e}). Run on a TPU VM or a "
                     "Colab TPU runtime, pass --tpu=grpc://ADDRESS:8470, or "
                     "use --strategy=auto.") from None
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def num_input_pipelines(strategy):
  """How many input pipelines `distribute_datasets_from_function` builds.

  Args:
    strategy: a `tf.distribute.Strategy`.

  Returns:
    One per worker (and chief) of a multi-worker cluster or TPU pod slice,
    else 1 (all replicas of one machine share one pipeline).

  Example:
    >>> num_input_pipelines(get_strategy("mirrored"))
    1
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
  return max(1, sum(len(spec.get(job, [])) for job in ("chief", "worker")))


def check_global_batch(batch_size, strategy, flag="--train_batch_size"):
  """Refuses a global batch that the replicas cannot share evenly.

  Args:
    batch_size: the global batch.
    strategy: the `tf.distribute.Strategy` to train under.
    flag: the flag to name in the error.

  Raises:
    ValueError: `batch_size` is not a multiple of the replica count.

  Example:
    >>> check_global_batch(32, get_strategy("mirrored"))
  """
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    raise ValueError(
        f"{flag}={batch_size} does not split over {replicas} replicas; use "
        f"a multiple of {replicas} (e.g. {flag}="
        f"{max(replicas, batch_size // replicas * replicas)}).")
