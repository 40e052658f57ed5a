"""A full disk: one clear error that names the folder and the space needed.

TensorFlow's checkpoint writer says `ResourceExhaustedError: .../ckpt-8_temp/
part-...tempstate...; No space left on device`, safetensors and h5py say
`No space left on device (os error 28)`, Python `OSError: [Errno 28]`, each
deep in a traceback and each leaving its partial file behind. Every write of
a run (checkpoints, backups, `save_pretrained`, exports) goes through
`disk_full_errors`, which removes the partial files it is told of and raises
`DiskFullError`: the folder, the space it needed and had, and what running
the same command again does. What was written before (the last good
checkpoint or backup, earlier export versions) is never touched.

Written here because neither TensorFlow nor Keras reports a full disk as
such.
"""

import contextlib
import errno
import glob
import os
import shutil

_MB = 2 ** 20


class DiskFullError(OSError):
  """A write ran out of space; the message says where, how much, and what
  running the command again does (`errno` is `ENOSPC`)."""

  def __init__(self, message):
    super().__init__(message)
    self.errno = errno.ENOSPC


def is_disk_full(error):
  """Whether `error` (any exception) is a device out of space.

  Args:
    error: the exception.

  Returns:
    True for `ENOSPC`, or a message saying "No space left on device" (how
    TensorFlow, h5py and safetensors report it).

  Example:
    >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    True
    >>> is_disk_full(ValueError("bad value"))
    False
  """
  return (getattr(error, "errno", None) == errno.ENOSPC
          or "No space left on device" in str(error))


@contextlib.contextmanager
def disk_full_errors(folder, what, need_bytes, then, partial=()):
  """Turns a full disk inside the block into a `DiskFullError`.

  Args:
    folder: where the block writes (named in the message, and where the
      free space is measured).
    what: what is written, e.g. `"checkpoint ckpt-8"`.
    need_bytes: a callable giving the bytes the write needs (called only on
      failure).
    then: what running the same command again does, e.g. `"training
      resumes from ckpt-4"`.
    partial: glob patterns of the partial files or folders the failed
      write leaves; they are removed to give the space back.

  Yields:
    Nothing.

  Raises:
    DiskFullError: the device of `folder` is out of space; other errors
      pass through unchanged.

  Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> try:
    ...   with disk_full_errors(folder, "the model", lambda: 3 * 2 ** 20,
    ...                         "it saves the model again"):
    ...     raise OSError(errno.ENOSPC, "No space left on device")
    ... except DiskFullError as e:
    ...   print(str(e).split(":")[1].split("(")[0])
     the disk is full while writing the model 
  """
  try:
    yield
  except Exception as e:  # noqa: BLE001  (only a full disk is converted)
    if not is_disk_full(e):
      raise
    for pattern in partial:
      for path in glob.glob(pattern):
        if os.path.isdir(path):
          shutil.rmtree(path, ignore_errors=True)
        else:
          with contextlib.suppress(OSError):
            os.remove(path)
    free = shutil.disk_usage(folder).free if os.path.exists(folder) else 0
    raise DiskFullError(
        f"{folder}: the disk is full while writing {what} (it needs about "
        f"{need_bytes() / _MB:.1f} MB; {free / _MB:.1f} MB are free). Free "
        "space, or choose a folder on a larger disk, then run the same "
        f"command again: {then}. Nothing written before was changed.",
    ) from None


def check_free(folder, need_bytes, what, then):
  """Refuses a write that cannot fit, before anything is written.

  For writers that cannot be stopped cleanly half-way (h5py keeps a file it
  failed to write open, and HDF5 crashes the process when it exits).

  Args:
    folder: where the write goes.
    need_bytes: the bytes it needs.
    what, then: as `disk_full_errors`.

  Raises:
    DiskFullError: fewer than `need_bytes` are free.

  Example:
    >>> import tempfile
    >>> check_free(tempfile.gettempdir(), 1, "a byte", "it writes again")
  """
  with disk_full_errors(folder, what, lambda: need_bytes, then):
    if shutil.disk_usage(folder).free < need_bytes:
      raise OSError(errno.ENOSPC, "No space left on device")


def checkpoint_bytes(prefix):
  """The bytes of a TF checkpoint's files (`prefix.index`, `prefix.data-*`).

  Args:
    prefix: the checkpoint prefix (any `tf.io.gfile` path), or None.

  Returns:
    An int (0 for None).

  Example:
    >>> checkpoint_bytes(None)
    0
  """
  if not prefix:
    return 0
  import tensorflow as tf
  return sum(tf.io.gfile.stat(path).length
             for path in tf.io.gfile.glob(f"{prefix}.*"))


def variable_bytes(variables):
  """The bytes `variables` hold (a checkpoint or model file of them is
  about this size).

  Args:
    variables: Keras or TensorFlow variables.

  Returns:
    An int.

  Example:
    >>> import keras
    >>> variable_bytes([keras.Variable([[1.0, 2.0]])])
    8
  """
  import numpy as np
  total = 0
  for v in variables:
    total += int(np.prod(v.shape)) * np.dtype(
        getattr(v.dtype, "as_numpy_dtype", v.dtype)).itemsize
  return total
