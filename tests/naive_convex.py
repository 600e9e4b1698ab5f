"""Loop-level references for the convex solvers (one signal at a time, plain Python/NumPy)."""

import numpy as np


def soft(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def ista_naive(A, y, lam, step, n_iter, nonneg=False):
    """Plain ISTA for one signal, ``n_iter`` iterations from zero."""
    x = np.zeros(A.shape[1])
    for _ in range(n_iter):
        v = x - step * (A.T @ (A @ x - y))
        x = np.maximum(v - step * lam, 0.0) if nonneg else soft(v, step * lam)
    return x


def fista_naive(A, y, lam, step, n_iter):
    """Plain FISTA (Beck & Teboulle 2009, no restart) for one signal."""
    x = np.zeros(A.shape[1])
    z = x.copy()
    t = 1.0
    for _ in range(n_iter):
        x_new = soft(z - step * (A.T @ (A @ z - y)), step * lam)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x


def lasso_cd(A, y, lam, n_sweeps=2000, tol=1e-14, nonneg=False):
    """Cyclic coordinate descent for 1/2||Ax-y||^2 + lam||x||_1 (one signal)."""
    m, n = A.shape
    x = np.zeros(n)
    r = y.astype(float).copy()
    col2 = (A * A).sum(axis=0)
    for _ in range(n_sweeps):
        delta = 0.0
        for j in range(n):
            if col2[j] == 0:
                continue
            old = x[j]
            rho = A[:, j] @ r + col2[j] * old
            new = max(rho - lam, 0.0) / col2[j] if nonneg else np.sign(rho) * max(abs(rho) - lam, 0.0) / col2[j]
            if new != old:
                r -= A[:, j] * (new - old)
                x[j] = new
                delta = max(delta, abs(new - old))
        if delta <= tol * max(np.abs(x).max(), 1e-300):
            break
    return x


def kkt_violation(A, y, x, lam, nonneg=False):
    """Largest violation of the LASSO optimality conditions, relative to ``lam``.

    Off the support ``|A_j^T r| <= lam`` (``A_j^T r <= lam`` with x >= 0); on the
    support ``A_j^T r = lam sign(x_j)``, with ``r = y - A x``.
    """
    c = A.T @ (y - A @ x)
    on = x != 0
    off_viol = np.maximum(c[~on] - lam, 0.0) if nonneg else np.maximum(np.abs(c[~on]) - lam, 0.0)
    on_viol = np.abs(c[on] - lam * np.sign(x[on]))
    neg = np.maximum(-x, 0.0).max() if nonneg else 0.0
    return max(off_viol.max(initial=0.0), on_viol.max(initial=0.0), neg) / lam


def lasso_obj(A, y, x, lam):
    r = A @ x - y
    return 0.5 * r @ r + lam * np.abs(x).sum()
