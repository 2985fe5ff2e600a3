"""Evaluation: metrics (mAP, mAUC, d-prime), the metrics file, per-class
thresholds and reports, sound event scores, averaging and cross-validation."""
