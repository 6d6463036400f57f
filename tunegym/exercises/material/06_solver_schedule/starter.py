"""Exercise 6: a diffusion sampling schedule that beats DPM-Solver++(2M) at NFE 5.

Two TODOs (README.md has the maths and the exact interface):

1. ``time_of_lambda``: the time t at which the linear VP schedule has half log-SNR lambda
   (closed form).
2. ``design_schedule``: five solver steps (their times and per-step rules) whose sampling
   error on the test-split mixtures is at most 0.9x that of DPM-Solver++(2M) on uniform
   log-SNR steps. Search on the train split with ``evaluate_on_train``; the grader
   measures on the test split.

``python starter.py`` prints the train-split errors; ``tunegym exercise check 6
starter.py`` grades the file.
"""

from __future__ import annotations

import torch

from tunegym.exercises.solver_schedule import NFE, NOISE_SCHEDULE, schedule_errors
from tunegym.simulators.diffusion import timestep_spacing

BETA_MIN, BETA_MAX = NOISE_SCHEDULE.beta_min, NOISE_SCHEDULE.beta_max   # 0.1, 20
T_MAX, T_MIN = NOISE_SCHEDULE.t_max, NOISE_SCHEDULE.t_min                 # 1.0, 0.001


def lambda_of_time(t: torch.Tensor) -> torch.Tensor:
    """Half log-SNR lambda_t = log(alpha_t / sigma_t) of the linear VP schedule, any shape.

    log alpha_t = -(BETA_MAX - BETA_MIN) t^2 / 4 - BETA_MIN t / 2 and sigma_t^2 = 1 - alpha_t^2.
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    log_alpha = -0.25 * (BETA_MAX - BETA_MIN) * t ** 2 - 0.5 * BETA_MIN * t
    return log_alpha - 0.5 * torch.log(-torch.expm1(2.0 * log_alpha))   # log(1 - alpha^2)/2


def time_of_lambda(half_log_snr: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`lambda_of_time`: times t (same shape, float64) with
    lambda_t = ``half_log_snr`` (a float64 tensor of any shape).

    Steps: alpha_t^2 as a function of lambda, then log alpha_t, then the positive root
    of the quadratic log alpha_t = -(BETA_MAX - BETA_MIN) t^2 / 4 - BETA_MIN t / 2.
    """
    raise NotImplementedError("TODO: invert lambda_of_time in closed form")


def timesteps_from_fractions(fractions) -> torch.Tensor:
    """Times (M + 1,) float64 for fractions (M + 1,) of the half log-SNR range, increasing
    from 0 (t = T_MAX, pure noise) to 1 (t = T_MIN, data): lambda_k = lambda(T_MAX)
    + fractions[k] (lambda(T_MIN) - lambda(T_MAX)). Uniform fractions give DPM-Solver's
    uniform log-SNR steps."""
    fractions = torch.as_tensor(fractions, dtype=torch.float64)
    start, end = lambda_of_time(torch.tensor([T_MAX, T_MIN], dtype=torch.float64))
    times = time_of_lambda(start + fractions * (end - start))
    times[0], times[-1] = T_MAX, T_MIN          # the exact ends, free of rounding
    return times


def dpm_solver_pp_2m() -> dict:
    """The baseline to beat: DPM-Solver++(2M) on uniform log-SNR steps, as a schedule.

    Every entry has one value per step (5), except the 6 times.
    """
    return {
        "timesteps": timestep_spacing(NOISE_SCHEDULE, NFE, "uniform_lambda"),  # (6,) 1 -> 0.001
        "orders": [1, 2, 2, 2, 2],            # step k can use at most k + 1 (and 3) evaluations
        "predictions": ["data"] * NFE,        # "data": DPM-Solver++ form; "noise": DPM-Solver
        "estimates": ["dpm_solver"] * NFE,    # "taylor", "dpm_solver" or "unipc_bh1"
        "correctors": [False] * NFE,          # UniC after the step; never on the last one
    }


def design_schedule() -> dict:
    """Your NFE-5 schedule, in the format of :func:`dpm_solver_pp_2m`.

    It must return quickly (the grader calls it once): run any search separately on the
    train split (``evaluate_on_train``) and write its result here.
    """
    raise NotImplementedError("TODO: return a schedule that beats dpm_solver_pp_2m()")


def evaluate_on_train(schedule: dict) -> float:
    """Mean sampling error (data units, lower is better) of ``schedule`` on the 16
    train-split instances; an invalid schedule raises the grader's message. The first
    call builds the instances (about 2 s), later calls take about 0.05 s."""
    return float(schedule_errors(schedule, split="train").mean())


if __name__ == "__main__":
    torch.set_num_threads(1)      # faster on small CPU tensors
    print(f"DPM-Solver++(2M), uniform log-SNR: train error "
          f"{evaluate_on_train(dpm_solver_pp_2m()):.4f}")
    print(f"design_schedule():                 train error "
          f"{evaluate_on_train(design_schedule()):.4f}")
