"""Randomized greedy post-training pruning and quantization of wide MLPs and CNNs, and the
baselines practitioners use at the same sparsity or bit width (magnitude, and through
``tomoprune.posttraining``: Wanda, round-to-nearest, SparseGPT/GPTQ).

El Cheairi, Gamarnik, Mazumder, "Theoretical Compression Bounds for Wide Multilayer
Perceptrons", arXiv:2512.06288. Entry points: :func:`tomoprune.methods.greedy.algorithm.greedy_compress`
and :func:`tomoprune.methods.greedy.baselines.baseline_compress` (an ``nn.Sequential`` plus
calibration tensors, layers by weighted-layer index), ``tomoprune compress --from RUN_DIR``, and
for any module :func:`tomoprune.posttraining.compress_` with ``Greedy`` settings.
"""
