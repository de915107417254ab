"""BatchBALD's candidate evaluations in torch: float32, on the GPU when there is one.

``activecv.select("batchbald", ..., backend="torch")`` builds this kernel through
``batchbald_kernel``; the greedy loop, its bounds and its sampling stay in
``activecv.strategies`` (numpy), so the picks follow the same rules as the numpy kernel.
"""

from __future__ import annotations

import numpy as np
import torch

from activecv._validation import EPS

CPU_BLOCK_ELEMENTS = 2**17
"""float32 elements of one (candidate classes x configurations) block on a CPU: cache-sized."""
GPU_BLOCK_ELEMENTS = 2**26
"""The same on a GPU: 256 MB, large enough to keep it busy."""
ROWS = 1024
"""Configurations per float32 partial sum on a CPU (summed in float64 after)."""


class TorchJointEntropies:
    """``sum_m pi_m H(sum_k weights[m, k] p^k_n)`` for candidates n, in float32 torch.

    Parameters
    ----------
    mc_probs : array, shape (N, K, C)
        Validated MC probabilities (float64); copied once to ``device`` as float32.
    device : str, torch.device or None
        Where to compute; None: CUDA when available, else the CPU (torch's own threads).
    """

    name = "torch"

    def __init__(self, mc_probs: np.ndarray, device: str | torch.device | None = None) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        q = np.ascontiguousarray(np.maximum(mc_probs, EPS).astype(np.float32).transpose(0, 2, 1))
        self._qt = torch.from_numpy(q).to(self.device)  # (N, C, K)
        gpu = self.device.type != "cpu"
        self._block = GPU_BLOCK_ELEMENTS if gpu else CPU_BLOCK_ELEMENTS
        self._rows = None if gpu else ROWS

    def __call__(self, weights: np.ndarray, pi: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            wt = torch.from_numpy(np.ascontiguousarray(weights.T, dtype=np.float32)).to(self.device)
            pi32 = torch.from_numpy(pi.astype(np.float32)).to(self.device)
            index = torch.from_numpy(np.asarray(candidates, dtype=np.int64)).to(self.device)
            k, m = wt.shape
            c = self._qt.shape[1]
            rows = m if self._rows is None else min(m, self._rows)
            step = max(1, self._block // (rows * c))
            out = torch.zeros(index.shape[0] * c, dtype=torch.float64, device=self.device)
            for start in range(0, index.shape[0], step):
                q = self._qt[index[start : start + step]].reshape(-1, k)  # (items * C, K)
                for r0 in range(0, m, rows):
                    r = q @ wt[:, r0 : r0 + rows]  # predictive of the candidates given configs
                    h = torch.log(r).mul_(r)
                    out[start * c : start * c + q.shape[0]] -= (h @ pi32[r0 : r0 + rows]).double()
            result: np.ndarray = out.view(-1, c).sum(dim=1).cpu().numpy()
            return result


def batchbald_kernel(mc_probs: np.ndarray, device: str | torch.device | None = None) -> TorchJointEntropies:
    """The torch kernel that ``backend="torch"`` gives BatchBALD.

    Parameters
    ----------
    mc_probs : array, shape (N, K, C)
        Validated probabilities of K consistent MC samples.
    device : str, torch.device or None
        None: CUDA when available, else the CPU.

    Examples
    --------
    >>> import numpy as np
    >>> from activecv.strategies import batchbald
    >>> a, b = [0.999, 0.001], [0.001, 0.999]
    >>> m = np.array([[a, a, b, b], [a, a, b, b], [a, b, a, b]])
    >>> batchbald(m, 2, backend="torch").indices.tolist()
    [0, 2]
    """
    return TorchJointEntropies(np.asarray(mc_probs, dtype=np.float64), device)
