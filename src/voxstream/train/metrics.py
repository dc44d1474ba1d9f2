"""Classification metrics as plain JSON-able dicts, and their text table."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy, UAR, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    UAR (unweighted average recall) is the mean recall of the classes present in ``y_true``: a model
    that gives every clip the most frequent label scores its share in accuracy but 1/K in UAR.

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
        "uar": round(float(rec[present].mean()) if present.any() else 0.0, 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class": {
            lab: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for lab, p, r, f, s in zip(labels, prec, rec, f1, support)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "labels": list(labels),
    }


def mean_of(folds: list[dict]) -> dict:
    """Mean and spread of accuracy, UAR and macro F1 over folds."""
    out = {}
    for key in ("accuracy", "uar", "macro_f1"):
        values = np.array([f[key] for f in folds])
        out[f"{key}_mean"], out[f"{key}_std"] = round(float(values.mean()), 4), round(float(values.std()), 4)
    return out


def format_metrics(m: dict) -> str:
    """A text report: headline figures, per-class table and confusion matrix."""
    labels = m["labels"]
    extra = "".join(
        f"  {key.replace('_', ' ')}={m[key]:.4f}"
        for key in ("arousal_accuracy", "valence_accuracy", "neutral_recall", "calm_recall")
        if key in m
    )
    lines = [
        f"n={m['n']}  accuracy={m['accuracy']:.4f}  UAR={m['uar']:.4f}  macro F1={m['macro_f1']:.4f}{extra}",
        "",
        f"{'label':<9}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}",
    ]
    for lab in labels:
        c = m["per_class"][lab]
        lines.append(f"{lab:<9}{c['precision']:>10.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}{c['support']:>9d}")
    lines += ["", "confusion (rows true, columns predicted):", " " * 9 + "".join(f"{lab[:7]:>8}" for lab in labels)]
    for lab, row in zip(labels, m["confusion"]):
        lines.append(f"{lab:<9}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)
