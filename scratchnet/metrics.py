"""Classification metrics on host arrays: accuracy, confusion matrix, precision and recall."""
import numpy

from .backend import to_numpy


def predicted_labels(outputs):
    """Class guesses from network outputs: argmax per row, or output > 0.5 for one output."""
    outputs = to_numpy(outputs)
    return outputs.argmax(axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] > 0.5).astype(int)


def accuracy(labels, predicted):
    """Fraction of rows where the prediction equals the label."""
    labels, predicted = numpy.asarray(labels), numpy.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ in shape")
    return float((labels == predicted).mean())


def confusion_matrix(labels, predicted, n_classes=None):
    """M[i, j] = how many examples of class i were predicted as class j."""
    labels, predicted = numpy.asarray(labels), numpy.asarray(predicted)
    k = n_classes or int(max(labels.max(), predicted.max())) + 1
    m = numpy.zeros((k, k), dtype=numpy.int64)
    numpy.add.at(m, (labels, predicted), 1)
    return m


def precision_recall(labels, predicted, positive=1):
    """(precision, recall) for the class ``positive``: tp/(tp+fp) and tp/(tp+fn)."""
    labels, predicted = numpy.asarray(labels), numpy.asarray(predicted)
    tp = int(((predicted == positive) & (labels == positive)).sum())
    fp = int(((predicted == positive) & (labels != positive)).sum())
    fn = int(((predicted != positive) & (labels == positive)).sum())
    return (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)
