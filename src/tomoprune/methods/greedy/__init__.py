"""Randomized greedy post-training pruning and quantization of wide MLPs and CNNs, and the
baselines practitioners use at the same sparsity or bit width (magnitude, Wanda, round-to-
nearest, OBS-style SparseGPT/GPTQ).

El Cheairi, Gamarnik, Mazumder, "Theoretical Compression Bounds for Wide Multilayer
Perceptrons", arXiv:2512.06288. Entry points: :func:`tomoprune.methods.greedy.api.compress`
(any ``nn.Sequential`` plus calibration tensors) and ``tomoprune compress --from RUN_DIR``.
"""
