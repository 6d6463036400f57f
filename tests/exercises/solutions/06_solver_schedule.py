"""Reference solution of exercise 6 (tests only; not shipped): the starter with its TODOs
filled in, plus the train-split search that found the hard-coded schedule.

Exercise 6: a diffusion sampling schedule that beats DPM-Solver++(2M) at NFE 5.

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

import sys

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
    half_log_snr = torch.as_tensor(half_log_snr, dtype=torch.float64)
    # alpha^2 / (1 - alpha^2) = exp(2 lambda), so alpha^2 = sigmoid(2 lambda) and
    # log alpha = -softplus(-2 lambda) / 2 (softplus: no overflow for large |lambda|).
    log_alpha = -0.5 * torch.nn.functional.softplus(-2.0 * half_log_snr)
    # (BETA_MAX - BETA_MIN) / 4 t^2 + BETA_MIN / 2 t + log alpha = 0, positive root.
    spread = BETA_MAX - BETA_MIN
    return (torch.sqrt(BETA_MIN ** 2 - 4.0 * spread * log_alpha) - BETA_MIN) / spread


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


#: Half log-SNR fractions of the six times, found by search_on_train().
FOUND_FRACTIONS = (0.0, 0.3533, 0.5055, 0.6360, 0.8829, 1.0)


def design_schedule() -> dict:
    """Your NFE-5 schedule, in the format of :func:`dpm_solver_pp_2m`.

    It must return quickly (the grader calls it once): run any search separately on the
    train split (``evaluate_on_train``) and write its result here.
    """
    # Found by search_on_train() below (train error 0.026 against 0.176 for the baseline):
    # a long first step in log-SNR (at high noise the marginal is nearly Gaussian, so the
    # denoiser is nearly linear in x), shorter steps where the two modes separate, a long
    # last step; UniC corrects the first step, the later ones use the noise prediction.
    return {
        "timesteps": timesteps_from_fractions(FOUND_FRACTIONS),
        "orders": [1, 2, 3, 2, 2],
        "predictions": ["data", "noise", "noise", "noise", "noise"],
        "estimates": ["taylor", "unipc_bh1", "unipc_bh1", "dpm_solver", "dpm_solver"],
        "correctors": [True, False, False, False, False],
    }


def evaluate_on_train(schedule: dict) -> float:
    """Mean sampling error (data units, lower is better) of ``schedule`` on the 16
    train-split instances; an invalid schedule raises the grader's message. The first
    call builds the instances (about 2 s), later calls take about 0.05 s."""
    return float(schedule_errors(schedule, split="train").mean())


# ---------------------------------------------------- the search behind design_schedule()
def step_rules(step: int) -> list[tuple[int, str, str, bool]]:
    """Every (order, prediction, estimate, corrector) step ``step`` (0-based) may use."""
    return [(order, prediction, estimate, corrector)
            for order in range(1, min(3, step + 1) + 1)
            for prediction in ("data", "noise")
            for estimate in ("taylor", "dpm_solver", "unipc_bh1")
            for corrector in ((False, True) if step < NFE - 1 else (False,))]


def as_schedule(fractions, rules) -> dict:
    """The schedule with times at half log-SNR ``fractions`` (6,) and per-step ``rules``."""
    orders, predictions, estimates, correctors = (list(column) for column in zip(*rules))
    return {"timesteps": timesteps_from_fractions(fractions), "orders": orders,
            "predictions": predictions, "estimates": estimates, "correctors": correctors}


def fractions_of(log_lengths) -> torch.Tensor:
    """Fractions (6,) from the logs (4,) of the first four step lengths in log-SNR,
    relative to the last: any real vector gives a valid, strictly increasing schedule."""
    logs = torch.cat([torch.as_tensor(log_lengths, dtype=torch.float64),
                      torch.zeros(1, dtype=torch.float64)])
    lengths = logs.exp()
    return torch.cat([torch.zeros(1, dtype=torch.float64), lengths.cumsum(0) / lengths.sum()])


def tune_timesteps(rules, start) -> tuple[float, torch.Tensor]:
    """Nelder-Mead on the four log step lengths from ``start``: (train error, logs)."""
    from scipy.optimize import minimize

    result = minimize(lambda logs: evaluate_on_train(as_schedule(fractions_of(logs), rules)),
                      torch.as_tensor(start).numpy(), method="Nelder-Mead",
                      options={"maxfev": 200, "xatol": 1e-3, "fatol": 1e-6})
    return float(result.fun), torch.as_tensor(result.x)


def search_on_train(seed: int = 0) -> tuple[float, dict]:
    """How design_schedule() was found (about 45 s on one CPU core): (train error, schedule).

    1. For four uniform recipes (the 2M rule in the data and the noise form, each with
       and without UniC correctors), draw 100 random log step lengths, keep the best,
       polish it with Nelder-Mead.
    2. From the best recipe, change one step's rule at a time (coordinate descent over
       step_rules); a change that is within 5 % of the best before re-tuning gets its
       timesteps re-tuned and is kept if it improves.
    """
    generator = torch.Generator().manual_seed(seed)
    best = (float("inf"), None, None)
    for prediction in ("data", "noise"):
        for corrector in (False, True):
            rules = [(1 if step == 0 else 2, prediction, "dpm_solver",
                      corrector and step < NFE - 1) for step in range(NFE)]
            draws = torch.randn(100, 4, generator=generator, dtype=torch.float64)
            errors = [evaluate_on_train(as_schedule(fractions_of(logs), rules))
                      for logs in draws]
            error, logs = tune_timesteps(rules, draws[int(torch.tensor(errors).argmin())])
            best = min(best, (error, rules, logs), key=lambda entry: entry[0])
    error, rules, logs = best
    improved = True
    while improved:
        improved = False
        for step in range(NFE):
            for rule in step_rules(step):
                trial = [*rules[:step], rule, *rules[step + 1:]]
                if trial == rules or evaluate_on_train(
                        as_schedule(fractions_of(logs), trial)) > 1.05 * error:
                    continue
                trial_error, trial_logs = tune_timesteps(trial, logs)
                if trial_error < 0.999 * error:
                    error, rules, logs, improved = trial_error, trial, trial_logs, True
    return error, as_schedule(fractions_of(logs), rules)


if __name__ == "__main__":
    torch.set_num_threads(1)      # faster on small CPU tensors
    if sys.argv[1:] == ["search"]:
        found_error, found = search_on_train()
        start, end = lambda_of_time(found["timesteps"][[0, -1]])
        print(f"train error {found_error:.4f}; fractions "
              f"{((lambda_of_time(found['timesteps']) - start) / (end - start)).tolist()}; "
              f"{ {key: value for key, value in found.items() if key != 'timesteps'} }")
    print(f"DPM-Solver++(2M), uniform log-SNR: train error "
          f"{evaluate_on_train(dpm_solver_pp_2m()):.4f}")
    print(f"design_schedule():                 train error "
          f"{evaluate_on_train(design_schedule()):.4f}")
