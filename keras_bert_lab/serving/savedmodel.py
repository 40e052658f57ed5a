"""SavedModel mechanics: variables TF1 loaders restore, method names, atomic writes.

Why by hand: `tf.saved_model.save` cannot set a signature's method name, so
`serve_examples` gets TF Serving's classify/regress method name by editing
the written `saved_model.pb` (`set_method_names`); Keras variables tracked
through a Keras model are saved but not restored by TF1-style loaders
(`saved_model_cli run`, TF Serving), so the serving modules track the
underlying `tf.Variable`s (`tf_variables`) instead, and hold the Keras
models untracked (`hold_untracked`): tracked through both, every weight was
written twice (a MiniLM classifier's SavedModel was 192 MB, not 100). Each SavedModel is written to a
hidden temporary folder beside its place and renamed into it, so a killed
export leaves no half-written version folder.
"""

import glob
import json
import os
import shutil

import tensorflow as tf

STRING_BATCH = tf.TensorSpec([None], tf.string)


def tf_variables(*models):
  """The `tf.Variable`s behind Keras variables, to track on the module.

  Tracked through the Keras model alone, the variables are saved but not
  restored by TF1-style loaders (`saved_model_cli run`, TF Serving's
  session bundle): "Could not find variable ...". Tracking the underlying
  `tf.Variable`s directly puts them in the SavedModel's own saver.

  Example:
    >>> import keras
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> variables = tf_variables(dense, None)   # None (no pretrainer): skipped
    >>> [v.shape for v in variables], isinstance(variables[0], tf.Variable)
    ([TensorShape([3, 2]), TensorShape([2])], True)
  """
  seen, result = set(), []
  for model in models:
    if model is None:
      continue
    for variable in model.variables:
      value = getattr(variable, "value", variable)
      if id(value) not in seen:
        seen.add(id(value))
        result.append(value)
  return result


@tf.__internal__.tracking.no_automatic_dependency_tracking
def hold_untracked(module, **values):
  """Sets attributes of `module` that its SavedModel does not save.

  For the Keras models a serving module calls: their variables are saved
  once, as the `tf_variables` the module tracks (which the traced graphs
  capture); tracked through the Keras model as well, each would be saved a
  second time.

  Args:
    module: a `tf.Module`.
    **values: attribute name -> value.

  Example:
    >>> import keras
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> module = tf.Module()
    >>> hold_untracked(module, model=dense)
    >>> module.tf_variables = tf_variables(dense)
    >>> module.model is dense, len(module.trainable_variables)
    (True, 2)
  """
  for name, value in values.items():
    setattr(module, name, value)


def set_method_names(path, method_names):
  """Sets TF Serving method names on signatures (the classify/regress APIs).

  Args:
    path: a SavedModel folder.
    method_names: `{signature: method_name}`.
  """
  from tensorflow.core.protobuf import saved_model_pb2
  pb = os.path.join(path, "saved_model.pb")
  proto = saved_model_pb2.SavedModel()
  with open(pb, "rb") as f:
    proto.ParseFromString(f.read())
  for meta_graph in proto.meta_graphs:
    for name, method in method_names.items():
      meta_graph.signature_def[name].method_name = method
  with open(pb, "wb") as f:
    f.write(proto.SerializeToString())


def save_module(module, path, extra_files=None):
  """Writes `module` as a SavedModel at `path`, atomically.

  Writes to a hidden temporary folder beside `path`, then renames it; a
  killed export leaves only the hidden folder (TF Serving ignores folders
  whose name is not a number), never a partial `path`, and the next export
  of that version removes it.

  Args:
    module: one of this module's serving classes.
    path: the final folder; must not exist.
    extra_files: `{name: JSON value}` written to `assets.extra/` (TF
      Serving ignores them) before the rename.

  Raises:
    FileExistsError: `path` exists.

  Example:
    >>> import os, tempfile
    >>> class Double(tf.Module):   # as the serving modules: signatures()
    ...   @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    ...   def serve(self, x):
    ...     return {"y": 2 * x}
    ...   def signatures(self):
    ...     return {"serving_default": self.serve.get_concrete_function()}
    >>> path = os.path.join(tempfile.mkdtemp(), "1")
    >>> save_module(Double(), path)
    >>> loaded = tf.saved_model.load(path)
    >>> loaded.signatures["serving_default"](x=tf.constant([1.5]))["y"]
    <tf.Tensor: shape=(1,), dtype=float32, numpy=array([3.], dtype=float32)>
  """
  path = os.fspath(path)
  if os.path.exists(path):
    raise FileExistsError(
        f"{path} exists; pass another --version (or remove it).")
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  for killed in glob.glob(os.path.join(
      parent, f".{glob.escape(os.path.basename(path))}.tmp-*")):
    shutil.rmtree(killed, ignore_errors=True)   # left by a killed export
  tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}")
  try:
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    if hasattr(module, "method_names"):
      set_method_names(tmp, module.method_names())
    for name, value in (extra_files or {}).items():
      os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
      with open(os.path.join(tmp, "assets.extra", name), "w",
                encoding="utf-8") as f:
        json.dump(value, f, indent=1)
    os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


