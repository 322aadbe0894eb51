"""numba kernels of :mod:`posesearch.sequence.smooth` (formulas documented there)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _predict(x, P, c, dt, q):
    x[c, 0] += x[c, 1] * dt
    _predict_covariance(P, c, dt, q)


@njit(cache=True, inline="always")
def _predicted_covariance(p00, p01, p11, dt, q):
    """The predicted covariance (P00, P01, P11) of a filtered one, dt later (constant velocity, process noise q)."""
    return (p00 + 2.0 * dt * p01 + dt * dt * p11 + q * dt * dt * dt / 3.0, p01 + dt * p11 + q * dt * dt / 2.0,
            p11 + q * dt)


@njit(cache=True, inline="always")
def _predict_covariance(P, c, dt, q):
    P[c, 0], P[c, 1], P[c, 2] = _predicted_covariance(P[c, 0], P[c, 1], P[c, 2], dt, q)


@njit(cache=True, inline="always")
def _update(x, P, c, z, r):
    weighed, k0, k1 = _update_covariance(P, c, r)
    if weighed:
        y = z - x[c, 0]
        x[c, 0] += k0 * y
        x[c, 1] += k1 * y


@njit(cache=True, inline="always")
def _update_covariance(P, c, r):
    """The update's covariance part, in place, and its gains: ``(weighed, k0, k1)``; not weighed when the state
    and the measurement are both exact (variances underflowed): nothing to weigh, nothing changes."""
    s = P[c, 0] + r
    if not s > 0.0:
        return False, 0.0, 0.0
    k0 = P[c, 0] / s
    k1 = P[c, 1] / s
    p00, p01, p11 = P[c, 0], P[c, 1], P[c, 2]
    P[c, 0] = (1.0 - k0) * p00
    P[c, 1] = (1.0 - k0) * p01
    P[c, 2] = p11 - k1 * p01
    return True, k0, k1


@njit(cache=True)
def kalman_step(z, r, dt, q, v0var, x, P, tlast):
    """One causal step for all coordinates: predict by dt, update where r is finite. In place."""
    for c in range(z.shape[0]):
        inited = not math.isnan(tlast[c])
        if inited and dt > 0.0:
            _predict(x, P, c, dt, q)
        if math.isfinite(r[c]):
            if inited:
                _update(x, P, c, z[c], r[c])
            else:
                x[c, 0] = z[c]
                x[c, 1] = 0.0
                P[c, 0] = r[c]
                P[c, 1] = 0.0
                P[c, 2] = v0var
            tlast[c] = 1.0  # marks "initialised"


@njit(cache=True, inline="always")
def _alpha(fc, dt):
    # 1 / (1 + 1 / (2 pi fc dt)) written without a division by zero when fc dt underflows to 0
    a = 2.0 * math.pi * fc * dt
    if a > 1e300:
        return 1.0
    return a / (1.0 + a)


@njit(cache=True)
def one_euro_step(kp, present, t, min_cutoff, beta, d_cutoff, state, tlast):
    """One step for all K keypoints: kp (K, 2) in, filtered in place; state (K, 2, 2) [coord, (x_hat, dx_hat)]."""
    for k in range(kp.shape[0]):
        if not present[k]:
            continue
        if math.isnan(tlast[k]):
            state[k, 0, 0] = kp[k, 0]
            state[k, 1, 0] = kp[k, 0 + 1]
            state[k, 0, 1] = 0.0
            state[k, 1, 1] = 0.0
            tlast[k] = t
            continue
        dt = t - tlast[k]
        if dt <= 0.0:
            kp[k, 0] = state[k, 0, 0]
            kp[k, 1] = state[k, 1, 0]
            continue
        ad = _alpha(d_cutoff, dt)
        for j in range(2):
            dx = (kp[k, j] - state[k, j, 0]) / dt
            state[k, j, 1] = ad * dx + (1.0 - ad) * state[k, j, 1]
        speed = math.sqrt(state[k, 0, 1] ** 2 + state[k, 1, 1] ** 2)
        a = _alpha(min_cutoff + beta * speed, dt)
        for j in range(2):
            state[k, j, 0] = a * kp[k, j] + (1.0 - a) * state[k, j, 0]
            kp[k, j] = state[k, j, 0]
        tlast[k] = t


@njit(cache=True)
def one_euro_batch(keypoints, present, times, min_cutoff, beta, d_cutoff):
    T, K = present.shape
    out = keypoints.copy()
    state = np.zeros((K, 2, 2))
    tlast = np.full(K, np.nan)
    for t in range(T):
        one_euro_step(out[t], present[t], times[t], min_cutoff, beta, d_cutoff, state, tlast)
    return out


# ------------------------------------------------------------------- the batch smoothers' surroundings
# (unit coordinates in, back out: the arithmetic of smooth.to_unit / from_unit / Sequence.body_size
# element by element, in one pass each instead of numpy's several masked temporaries)

@njit(cache=True, nogil=True)
def present_range(kp, present):
    """kp (N, 2), present (N,): ``(lo (2,), hi (2,), any present)`` of the present points' x and y."""
    lo = np.full(2, np.inf)
    hi = np.full(2, -np.inf)
    seen = False
    for i in range(kp.shape[0]):
        if present[i]:
            seen = True
            for j in range(2):
                v = kp[i, j]
                if v < lo[j]:
                    lo[j] = v
                if v > hi[j]:
                    hi[j] = v
    return lo, hi, seen


@njit(cache=True, nogil=True)
def to_unit_frames(kp, present, origin, unit, same):
    """kp (T, K, 2), present (T, K) -> ``(unit coordinates (T, K, 2), 0 where missing (kp itself when
    same: unit 1 and origin 0), each frame's bounding-box diagonal (T,) in them, NaN for a frame with fewer
    than 2 present keypoints)``: ``(0.5 z - 0.5 origin) / (0.5 unit)`` and ``hypot(w, h)``."""
    T, K = present.shape
    out = kp if same else np.empty((T, K, 2))
    diag = np.empty(T)
    o0, o1, hu = 0.5 * origin[0], 0.5 * origin[1], 0.5 * unit
    for t in range(T):
        n = 0
        lx = ly = np.inf
        hx = hy = -np.inf
        for k in range(K):
            if present[t, k]:
                if same:
                    x, y = kp[t, k, 0], kp[t, k, 1]
                else:
                    x = (0.5 * kp[t, k, 0] - o0) / hu
                    y = (0.5 * kp[t, k, 1] - o1) / hu
                    out[t, k, 0] = x
                    out[t, k, 1] = y
                n += 1
                lx, hx, ly, hy = min(lx, x), max(hx, x), min(ly, y), max(hy, y)
            elif not same:
                out[t, k, 0] = 0.0
                out[t, k, 1] = 0.0
        diag[t] = math.hypot(hx - lx, hy - ly) if n >= 2 else np.nan
    return out, diag


@njit(cache=True, nogil=True)
def from_unit_frames(un, present, origin, unit):
    """Inverse of :func:`to_unit_frames` (``z unit + origin``, 0 where missing) and whether all of it is finite."""
    T, K = present.shape
    out = np.empty((T, K, 2))
    finite = True
    for t in range(T):
        for k in range(K):
            for j in range(2):
                v = un[t, k, j] * unit + origin[j] if present[t, k] else 0.0
                out[t, k, j] = v
                finite &= math.isfinite(v)
    return out, finite


@njit(cache=True, nogil=True)
def _column_groups(conf):
    """Joints whose confidence columns (T, K) compare equal at every frame share a group: ``(group of each joint
    (K,), one joint of each group (G,))``. Their covariances, gains and smoother gains are the same numbers (they
    depend on the confidences and times only, not on the measurements), so :func:`kalman_frames` computes them once a
    group: once for all 34 coordinates of mocap or synthetic motion, once for a joint's two coordinates at least."""
    T, K = conf.shape
    group = np.empty(K, np.int64)
    rep = np.empty(K, np.int64)
    G = 0
    for k in range(K):
        group[k] = -1
        for g in range(G):
            j = rep[g]
            t = 0
            while t < T and conf[t, j] == conf[t, k]:
                t += 1
            if t == T:
                group[k] = g
                break
        if group[k] < 0:
            rep[G] = k
            group[k] = G
            G += 1
    return group, rep[:G]


#: what a coordinate's state does at a step of :func:`kalman_frames` (PREDICTED added when it was predicted first)
KEEP, WEIGH, START, PREDICTED = 0, 1, 2, 4


@njit(cache=True, inline="always")
def _covariance_step(P, g, cm, dt, s2, q, v0var, inited, gain):
    """One forward step of group g's covariance (:func:`_predict` / :func:`_update`'s arithmetic, the start as
    :func:`kalman_step`'s), in place: what its coordinates' states do (KEEP / WEIGH / START, + PREDICTED), the
    gains of a WEIGH into ``gain[g]``."""
    a = KEEP
    if inited[g]:
        _predict_covariance(P, g, dt, q)
        a = PREDICTED
    if cm > 0.0:
        cm = max(cm, 1e-12)
        r = s2 / (cm * cm)
        if math.isfinite(r):
            if inited[g]:
                weighed, gain[g, 0], gain[g, 1] = _update_covariance(P, g, r)
                if weighed:
                    a += WEIGH
            else:
                P[g, 0] = r
                P[g, 1] = 0.0
                P[g, 2] = v0var
                inited[g] = True
                a += START
    return a


@njit(cache=True, inline="always")
def _smoother_gain(f00, f01, f11, dt, q, out, g):
    """The RTS smoother gain C = Pf F' Pp^-1 of a filtered covariance (f00, f01, f11) into ``out[g]`` (c00, c01,
    c10, c11); False (nothing smoothed) when the predicted covariance Pp is not invertible."""
    a, b, d = _predicted_covariance(f00, f01, f11, dt, q)
    det = a * d - b * b
    if not det > 0.0:
        return False
    g00 = f00 + dt * f01
    g01 = f01
    g10 = f01 + dt * f11
    g11 = f11
    i00, i01, i11 = d / det, -b / det, a / det
    out[g, 0] = g00 * i00 + g01 * i01
    out[g, 1] = g00 * i01 + g01 * i11
    out[g, 2] = g10 * i00 + g11 * i01
    out[g, 3] = g10 * i01 + g11 * i11
    return True


@njit(cache=True, nogil=True)
def kalman_frames(z, conf, times, s2, q, v0var, rts):
    """Kalman filter (and with ``rts`` the RTS pass) of every coordinate c = 2 k + j of unit keypoints z (T, K, 2)
    with confidences (T, K): measurement variance ``s2 / max(conf, 1e-12)^2``, no update where conf is 0;
    returns the filtered (smoothed) positions (T, K, 2). Bit for bit the per-coordinate filter of
    :func:`_predict` / :func:`_update` (main's ``kalman_batch``), but each step's covariances, gains and smoother
    gains are computed once for each group of joints with equal confidences (:func:`_column_groups`) and stored
    per group; the states alone run per coordinate, without a division. The RTS pass recomputes the predictions
    it needs from the filtered states (``x0 + x1 dt``, :func:`_predicted_covariance`) instead of storing them, and keeps one
    frame of smoothed states."""
    T, K = conf.shape
    group, rep = _column_groups(conf)
    G = rep.shape[0]
    C = 2 * K
    P = np.zeros((G, 3))
    Pf = np.empty((T, G, 3))
    inited = np.zeros(G, dtype=np.bool_)
    first = np.full(G, T)                   # first frame at which a group's coordinates are initialised
    act = np.empty(G, dtype=np.int64)
    gain = np.zeros((G, 2))
    x = np.zeros((C, 2))
    xf = np.empty((T, C, 2))
    for t in range(T):
        dt = times[t] - times[t - 1] if t > 0 else 0.0
        for g in range(G):
            act[g] = _covariance_step(P, g, conf[t, rep[g]], dt, s2, q, v0var, inited, gain)
            if act[g] % PREDICTED == START:
                first[g] = t
            Pf[t, g, 0] = P[g, 0]
            Pf[t, g, 1] = P[g, 1]
            Pf[t, g, 2] = P[g, 2]
        for c in range(C):
            g = group[c >> 1]
            a = act[g]
            if a >= PREDICTED:
                x[c, 0] += x[c, 1] * dt
                a -= PREDICTED
            if a == WEIGH:
                y = z[t, c >> 1, c & 1] - x[c, 0]
                x[c, 0] += gain[g, 0] * y
                x[c, 1] += gain[g, 1] * y
            elif a == START:
                x[c, 0] = z[t, c >> 1, c & 1]
                x[c, 1] = 0.0
            xf[t, c, 0] = x[c, 0]
            xf[t, c, 1] = x[c, 1]
    out = np.empty((T, K, 2))
    if not rts:
        for t in range(T):
            for c in range(C):
                out[t, c >> 1, c & 1] = xf[t, c, 0]
        return out
    xs = np.empty((C, 2))                   # smoothed state of frame t + 1
    for c in range(C):
        xs[c, 0] = xf[T - 1, c, 0]
        xs[c, 1] = xf[T - 1, c, 1]
        out[T - 1, c >> 1, c & 1] = xs[c, 0]
    smooths = np.empty(G, dtype=np.bool_)
    sg = np.empty((G, 4))
    for t in range(T - 2, -1, -1):
        dt = times[t + 1] - times[t]
        for g in range(G):
            smooths[g] = t >= first[g] and _smoother_gain(Pf[t, g, 0], Pf[t, g, 1], Pf[t, g, 2], dt, q, sg, g)
        for c in range(C):
            g = group[c >> 1]
            s0, s1 = xf[t, c, 0], xf[t, c, 1]
            if smooths[g]:
                e0 = xs[c, 0] - (s0 + s1 * dt)
                e1 = xs[c, 1] - s1
                s0 = xf[t, c, 0] + sg[g, 0] * e0 + sg[g, 1] * e1
                s1 = xf[t, c, 1] + sg[g, 2] * e0 + sg[g, 3] * e1
            xs[c, 0] = s0
            xs[c, 1] = s1
            out[t, c >> 1, c & 1] = s0
    return out
