"""Reports of a run: curves from its TensorBoard logs, a confusion matrix, one PNG.

`write_report(model_dir)` is what `python -m keras_bert_lab.report` runs.
"""

from keras_bert_lab.reports.confusion import (classification_predictions,
                                              confusion_matrix)
from keras_bert_lab.reports.curves import (EVENT_FILE_PATTERN, PANELS, Series,
                                           find_event_dirs, read_scalars,
                                           training_curves)
from keras_bert_lab.reports.figure import plot_confusion_matrix, write_report
