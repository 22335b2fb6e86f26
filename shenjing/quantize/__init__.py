"""Post-training compression (``sj.quantize``): dynamic int8 quantization of Dense layers and
magnitude pruning.

    qmodel = sj.quantize.dynamic_int8(model)                 # int8 weights, inference only
    masks = sj.quantize.prune_magnitude(model, amount=0.5)   # zero the smallest half
    model.fit(x, y, epochs=3, callbacks=[sj.quantize.KeepPruned(masks)])
"""
from .int8 import QuantizedDense, benchmark, dynamic_int8, model_size, quantize_weight
from .prune import KeepPruned, apply_masks, prune_magnitude, sparsity

__all__ = ["QuantizedDense", "dynamic_int8", "quantize_weight", "model_size", "benchmark",
           "prune_magnitude", "apply_masks", "sparsity", "KeepPruned"]
