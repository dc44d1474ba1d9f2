"""Classification metrics as plain JSON-able dicts, and their text table."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true``/``y_pred`` are class indices into ``labels``; confusion rows are
    true labels, columns predictions.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    idx = list(range(len(labels)))
    prec, rec, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class": {lab: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                            "f1": round(float(f), 4), "support": int(s)}
                      for lab, p, r, f, s in zip(labels, prec, rec, f1, support)},
        "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "labels": list(labels),
    }


def mean_of(folds: list[dict]) -> dict:
    """Mean and spread of accuracy and macro F1 over folds."""
    acc = np.array([f["accuracy"] for f in folds])
    mf1 = np.array([f["macro_f1"] for f in folds])
    return {"accuracy_mean": round(float(acc.mean()), 4), "accuracy_std": round(float(acc.std()), 4),
            "macro_f1_mean": round(float(mf1.mean()), 4), "macro_f1_std": round(float(mf1.std()), 4)}


def format_metrics(m: dict) -> str:
    """A text report: headline figures, per-class table and confusion matrix."""
    labels = m["labels"]
    lines = [f"n={m['n']}  accuracy={m['accuracy']:.4f}  macro F1={m['macro_f1']:.4f}", "",
             f"{'label':<9}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for lab in labels:
        c = m["per_class"][lab]
        lines.append(f"{lab:<9}{c['precision']:>10.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}{c['support']:>9d}")
    lines += ["", "confusion (rows true, columns predicted):", " " * 9 + "".join(f"{lab[:7]:>8}" for lab in labels)]
    for lab, row in zip(labels, m["confusion"]):
        lines.append(f"{lab:<9}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)
