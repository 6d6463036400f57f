"""Independent implementations of the published multistep diffusion solvers, written from
the update rules in the papers, one schedule and one step at a time, for the tests to
compare :func:`tunegym.simulators.diffusion.sample` against.

* DPM-Solver (noise prediction; Lu et al., NeurIPS 2022) and DPM-Solver++ (data
  prediction; Lu et al., 2022): the multistep rules of order 1, 2 (with
  r0 = h_{i-1} / h_i, D1 = (m0 - m1) / r0) and 3 (with D1_0, D1_1, D1 and D2 and the
  phi_1, phi_2, phi_3 coefficients).
* UniPC (Zhao et al., NeurIPS 2023): the UniP-p predictor and the UniC-p corrector with
  rk = (lambda_k - lambda_s0) / h, D_k = (m_k - m0) / rk, the coefficients rho from
  the linear system R rho = b built from h phi_k and B(h) ("bh1": B(h) = h, "bh2":
  B(h) = e^h - 1 in the variable hh = -h for data prediction), and rho = 1/2 where the
  system has one unknown.

Nothing here uses the library's sampler helpers: only the schedule's alpha, sigma and
lambda and the mixture's denoiser.
"""

from __future__ import annotations

import math

import torch


def _model(mixture, x, alpha, sigma, prediction):
    data = mixture.denoise(x, alpha, sigma)
    return data if prediction == "data" else (x - alpha * data) / sigma


def dpm_solver_multistep(mixture, schedule, x, times, order, prediction="data"):
    """DPM-Solver(++) multistep of ``order`` (1 to 3) with the warm-up orders
    min(order, step + 1): (N, d) samples at times[-1] from x (N, d) at times[0]."""
    alpha, sigma = schedule.alpha(times), schedule.sigma(times)
    lam = [float(value) for value in schedule.lambda_(times)]
    outputs = []
    for i in range(1, len(lam)):
        outputs.append(_model(mixture, x, alpha[i - 1], sigma[i - 1], prediction))
        k = min(order, i)
        h = lam[i] - lam[i - 1]
        m0 = outputs[-1]
        if prediction == "data":
            base, phi_1, scale = sigma[i] / sigma[i - 1] * x, math.expm1(-h), alpha[i]
        else:
            base, phi_1, scale = alpha[i] / alpha[i - 1] * x, math.expm1(h), sigma[i]
        if k == 1:
            x = base - scale * phi_1 * m0
            continue
        r0 = (lam[i - 1] - lam[i - 2]) / h
        if k == 2:
            d1 = (m0 - outputs[-2]) / r0
            x = base - scale * phi_1 * m0 - 0.5 * scale * phi_1 * d1
            continue
        r1 = (lam[i - 2] - lam[i - 3]) / h
        d1_0 = (m0 - outputs[-2]) / r0
        d1_1 = (outputs[-2] - outputs[-3]) / r1
        d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        if prediction == "data":
            phi_2 = phi_1 / h + 1.0
            phi_3 = phi_2 / h - 0.5
            x = base - scale * phi_1 * m0 + scale * phi_2 * d1 - scale * phi_3 * d2
        else:
            phi_2 = phi_1 / h - 1.0
            phi_3 = phi_2 / h - 0.5
            x = base - scale * phi_1 * m0 - scale * phi_2 * d1 - scale * phi_3 * d2
    return x


def _unipc_coefficients(rks, h, prediction, variant):
    """(hh, h phi_1, B(h), R (p, p), b (p,)) of UniPC for ratios rks (p,) ending in 1."""
    hh = -h if prediction == "data" else h
    h_phi_1 = math.expm1(hh)
    b_h = hh if variant == "bh1" else math.expm1(hh)
    h_phi_k, factorial = h_phi_1 / hh - 1.0, 1
    rows, b = [], []
    for j in range(1, len(rks) + 1):
        rows.append([rk ** (j - 1) for rk in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= j + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    return hh, h_phi_1, b_h, torch.tensor(rows, dtype=torch.float64), torch.tensor(
        b, dtype=torch.float64)


def _unipc_update(x, outputs, lams, lam_t, alpha_s, alpha_t, sigma_s, sigma_t, order,
                  prediction, variant, new_output=None):
    """UniP-``order`` (new_output None) or UniC-``order`` from the last ``order``
    outputs (newest last, at lams) to lambda ``lam_t``."""
    m0, lam_s = outputs[-1], lams[-1]
    h = lam_t - lam_s
    rks = [(lams[-1 - k] - lam_s) / h for k in range(1, order)] + [1.0]
    differences = [(outputs[-1 - k] - m0) / rks[k - 1] for k in range(1, order)]
    _, h_phi_1, b_h, matrix, b = _unipc_coefficients(rks, h, prediction, variant)
    if new_output is None:
        if order == 1:
            rhos = []
        elif order == 2:
            rhos = [0.5]
        else:
            rhos = torch.linalg.solve(matrix[:-1, :-1], b[:-1]).tolist()
    else:
        differences.append(new_output - m0)
        rhos = [0.5] if order == 1 else torch.linalg.solve(matrix, b).tolist()
    correction = sum((rho * value for rho, value in zip(rhos, differences)),
                     torch.zeros_like(x))
    if prediction == "data":
        return sigma_t / sigma_s * x - alpha_t * h_phi_1 * m0 - alpha_t * b_h * correction
    return alpha_t / alpha_s * x - sigma_t * h_phi_1 * m0 - sigma_t * b_h * correction


def unipc(mixture, schedule, x, times, orders, variant="bh2", prediction="data",
          corrector=True):
    """UniPC: UniP with the given per-step ``orders`` and, if ``corrector``, UniC of the
    same order after every step but the last (the model is evaluated once per step, at
    the predictor's output). ``variant``: "bh1" or "bh2"."""
    alpha, sigma = schedule.alpha(times), schedule.sigma(times)
    lam = [float(value) for value in schedule.lambda_(times)]
    outputs, start = [], None
    for i in range(len(lam) - 1):
        output = _model(mixture, x, alpha[i], sigma[i], prediction)
        if corrector and start is not None:
            x = _unipc_update(start, outputs, lam[:i], lam[i], alpha[i - 1], alpha[i],
                              sigma[i - 1], sigma[i], orders[i - 1], prediction, variant,
                              new_output=output)
        outputs.append(output)
        start = x
        x = _unipc_update(x, outputs, lam[:i + 1], lam[i + 1], alpha[i], alpha[i + 1],
                          sigma[i], sigma[i + 1], orders[i], prediction, variant)
    return x
