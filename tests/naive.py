"""Loop-level naive references of the greedy and thresholding solvers (one signal at a time).

Written for clarity, not speed: every least-squares fit is ``np.linalg.lstsq`` on
the support, every correlation is recomputed from the residual. The kernels of
``cs_toolkit.solvers`` are compared against these on random problems.
"""

import numpy as np


def _lstsq_on(A, y, support):
    x = np.zeros(A.shape[1])
    S = np.asarray(sorted(support), dtype=int)
    if S.size:
        x[S] = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
    return x


def _top(v, k):
    """Indices of the k largest |v| (ties: lower index first)."""
    order = np.argsort(-np.abs(v), kind="stable")
    return set(int(i) for i in order[:k])


def _hk(u, k):
    """Keep the k largest |u| entries."""
    out = np.zeros_like(u)
    idx = sorted(_top(u, k))
    out[idx] = u[idx]
    return out


def omp_naive(A, y, k, tol=None):
    """OMP: add the atom most correlated with the residual, refit by lstsq."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    support = []
    x = np.zeros(A.shape[1])
    r = y.copy()
    if tol is not None and r @ r <= tol:
        return x, support
    for _ in range(k):
        c = A.T @ r
        c[support] = 0.0
        i = int(np.argmax(np.abs(c)))
        if np.abs(c[i]) == 0:
            break
        support.append(i)
        x = _lstsq_on(A, y, support)
        r = y - A @ x
        if tol is not None and r @ r <= tol:
            break
    return x, support


def mp_naive(A, y, max_iter, k=None, tol=None):
    """Matching pursuit: atoms may repeat, coefficient <r, a_i> / ||a_i||^2."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    norms2 = np.sum(A * A, axis=0)
    x = np.zeros(A.shape[1])
    r = y.copy()
    for _ in range(max_iter):
        if tol is not None and r @ r <= tol:
            break
        c = A.T @ r
        score = np.where(norms2 > 0, np.abs(c) / np.sqrt(np.where(norms2 > 0, norms2, 1)), -1.0)
        i = int(np.argmax(score))
        if score[i] <= 0:
            break
        if k is not None and x[i] == 0 and np.count_nonzero(x) >= k:
            break
        coef = c[i] / norms2[i]
        x[i] += coef
        r = r - coef * A[:, i]
    return x


def cosamp_naive(A, y, k, max_iter=100, tol=1e-6):
    """CoSaMP (Needell & Tropp 2009): 2k proxy atoms, merge, lstsq, prune to k."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    x = np.zeros(A.shape[1])
    r = y.copy()
    ny = np.linalg.norm(y)
    if ny == 0:
        return x
    for _ in range(max_iter):
        proxy = A.T @ r
        T = _top(proxy, 2 * k) | set(int(i) for i in np.flatnonzero(x))
        b = _lstsq_on(A, y, T)
        keep = _top(b, k)
        xn = np.zeros_like(x)
        idx = sorted(keep)
        xn[idx] = b[idx]
        settled = np.linalg.norm(xn - x) <= tol * np.linalg.norm(xn)
        x = xn
        r = y - A @ x
        if np.linalg.norm(r) <= tol * ny or settled:
            break
    return x


def sp_naive(A, y, k, max_iter=100, tol=1e-6):
    """Subspace pursuit (Dai & Milenkovic 2009); stops when the residual stops decreasing."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    ny = np.linalg.norm(y)
    if ny == 0:
        return np.zeros(A.shape[1])
    T = _top(A.T @ y, k)
    x = _lstsq_on(A, y, T)
    r = y - A @ x
    for _ in range(max_iter):
        if np.linalg.norm(r) <= tol * ny:
            break
        Tt = T | _top(A.T @ r, k)
        b = _lstsq_on(A, y, Tt)
        Tn = _top(b, k)
        xn = _lstsq_on(A, y, Tn)
        rn = y - A @ xn
        if np.linalg.norm(rn) >= np.linalg.norm(r):
            break
        T, x, r = Tn, xn, rn
    return x


def iht_naive(A, y, k, step, max_iter=500, tol=1e-6):
    """IHT with a fixed step: x <- H_k(x + step A^T (y - A x))."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    x = np.zeros(A.shape[1])
    for _ in range(max_iter):
        u = x + step * (A.T @ (y - A @ x))
        xn = np.zeros_like(x)
        idx = sorted(_top(u, k))
        xn[idx] = u[idx]
        done = np.linalg.norm(xn - x) <= tol * max(np.linalg.norm(xn), np.finfo(float).tiny)
        x = xn
        if done:
            break
    return x


def niht_naive(A, y, k, max_iter=500, tol=1e-6, c=0.01, kappa=2.0):
    """Normalized IHT (Blumensath & Davies 2010) with the step safeguard."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    x = np.zeros(A.shape[1])
    S = _top(A.T @ y, k)
    for _ in range(max_iter):
        g = A.T @ (y - A @ x)
        Sl = sorted(S)
        gS = np.zeros_like(g)
        gS[Sl] = g[Sl]
        den = np.sum((A @ gS) ** 2)
        if den == 0:
            break
        mu = (gS @ gS) / den

        xn = _hk(x + mu * g, k)
        Sn = set(int(i) for i in np.flatnonzero(xn))
        if Sn != S:
            for _ in range(60):
                d = xn - x
                Ad = np.sum((A @ d) ** 2)
                omega = (1 - c) * (d @ d) / Ad if Ad > 0 else np.inf
                if mu <= omega:
                    break
                mu = mu / (kappa * (1 - c))
                xn = _hk(x + mu * g, k)
            Sn = set(int(i) for i in np.flatnonzero(xn))
        done = np.linalg.norm(xn - x) <= tol * max(np.linalg.norm(xn), np.finfo(float).tiny)
        x, S = xn, Sn
        if done:
            break
    return x


def htp_naive(A, y, k, step, max_iter=100):
    """Hard thresholding pursuit (Foucart 2011): gradient step, top k, lstsq; stop on a repeated support."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    x = np.zeros(A.shape[1])
    S = None
    for _ in range(max_iter):
        u = x + step * (A.T @ (y - A @ x))
        Sn = _top(u, k)
        if Sn == S:
            break
        S = Sn
        x = _lstsq_on(A, y, S)
    return x


def biht_naive(A, y, k, step, max_iter, normalize=True):
    """BIHT (Jacques et al. 2013) from the k-sparse back-projection on the unit sphere: ``x + step
    A^T (sign(y) - sign(A x))`` kept to its k largest entries, renormalised every step when
    ``normalize`` (else only the result is)."""
    s = np.where(y >= 0, 1.0, -1.0)
    x = A.T @ s
    x[np.argsort(-np.abs(x), kind="stable")[k:]] = 0
    x /= np.linalg.norm(x)
    for _ in range(max_iter):
        r = s - np.where(A @ x >= 0, 1.0, -1.0)
        if not r.any():
            break
        v = x + step * (A.T @ r)
        v[np.argsort(-np.abs(v), kind="stable")[k:]] = 0
        x = v / np.linalg.norm(v) if normalize else v
    return x / np.linalg.norm(x)
