"""Small MoE language models trained on the Brown corpus, and a routing recorder for any
PyTorch MoE model."""
import os

# One thread in OpenBLAS and OpenMP (read when torch loads them): training and recording are
# then bit-identical from run to run, and two models train side by side on 2 cores.
# train.make_deterministic() enforces the same at run time when torch was imported first.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
