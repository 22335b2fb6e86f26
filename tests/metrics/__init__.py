"""Metrics against scikit-learn; ``stream`` feeds a metric batch by batch."""


def stream(metric, y_true, y_pred, batch=17, sample_weight=None):
    """Feed in batches of unequal size (the last is short); return the result."""
    metric.reset()
    for start in range(0, len(y_true), batch):
        part = slice(start, start + batch)
        metric.update_state(y_true[part], y_pred[part],
                            None if sample_weight is None else sample_weight[part])
    return metric.result()
