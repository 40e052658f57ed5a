"""Serving extractive QA on raw (question, context) strings."""

import tensorflow as tf

from keras_bert_lab.serving.batching import TaskServing
from keras_bert_lab.serving.savedmodel import STRING_BATCH


class SquadServing(TaskServing):
  """Extractive QA on raw (question, context) strings.

  The graph function evaluation answers with, `squad.answer_questions`:
  the task's `SquadPreprocessor` windows long contexts (doc stride), the
  span model runs on every window, and the original `write_predictions`
  (`squad_postprocess`: n-best, max context, null threshold) picks the
  answer, all in the graph.

  Signature `serving_default(question, context)` -> `answer` string [None],
  `answer_start`, `answer_end` int32 [None] (characters `[start, end)` of
  `context`; -1 for no answer), `score` float32 [None] (start + end logit;
  v2.0's null score for ""). v2.0 models answer "" when the null score wins;
  an empty context answers "". `preprocess(question, context)` returns the
  windows.

  Args: `TaskServing`'s, for a `SquadTask` and its `BertSpanLabeler`.

  Example:
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertEncoder, BertSpanLabeler
    >>> qa = BertSpanLabeler(BertEncoder.from_vocab())
    >>> task = tasks.get_task("squad", max_seq_length=32, max_query_length=8)
    >>> module = SquadServing(task, qa, tasks.load_tokenizer(qa))
    >>> module.serve(tf.constant(["Who came?"]), tf.constant(["Elinor came."])
    ...              )["answer"].shape   # untrained: some span of the context
    TensorShape([1])
  """

  def __init__(self, task, model, tokenizer, limits=None):
    super().__init__(task, model, tokenizer, [STRING_BATCH, STRING_BATCH],
                     limits)
    self.post = task.post_settings()
    self.serve = tf.function(self._serve,
                             input_signature=[STRING_BATCH, STRING_BATCH])

  def _serve(self, question, context):
    from keras_bert_lab.data.squad import answer_questions
    question, context = self.limits.check(question=question, context=context)
    out = answer_questions(self.run, self.preprocessor, question, context,
                           **self.post)
    return {k: out[k] for k in ("answer", "answer_start", "answer_end",
                                "score")}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function()}
