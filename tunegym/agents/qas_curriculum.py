"""The success-threshold curriculum of quantum architecture search, and its SB3 callback.

After the curriculum of Ostaszewski et al. (NeurIPS 2021) that CRLQAS (Patel et al.,
ICLR 2024) builds on: an agent is first rewarded for reaching an easy energy-error
threshold, which then follows the best error found, tightening while the agent succeeds
and relaxing while it fails, until it reaches the target (chemical accuracy).

:class:`ThresholdCurriculum` (parameters in hartree):

* starts at ``initial``; keeps ``best``, the lowest final energy error of any finished
  episode so far;
* after every ``window`` finished episodes, with ``rate`` the fraction of them that
  succeeded (final error below the threshold then in force):
    - if rate >= ``tighten_above``: threshold = max(target, min(threshold * ``shrink``,
      best + ``margin``));
    - if rate < ``relax_below``: threshold = min(initial, threshold / ``shrink``) (off by
      default, relax_below = 0: on H2 the relaxing kept the threshold near the
      Hartree-Fock error once the target was in force);
* never goes below ``target``.

:class:`CurriculumCallback` feeds the episodes an SB3 model finishes on a tunegym
``SB3VecEnv`` (``info["energy_error_ha"]`` of the envs that ended) to the curriculum and
writes the new threshold to the batched env, logging ``curriculum/threshold_ha``.
"""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from tunegym.core import check_integer
from tunegym.envs.quantum_arch_search import CHEMICAL_ACCURACY


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class ThresholdCurriculum:
    """Feedback-driven success threshold (see module docstring).

    Args:
        initial: the first threshold, hartree.
        target: the lowest threshold (hartree), at most ``initial``.
        window: finished episodes per decision.
        shrink: factor in (0, 1) a successful window multiplies the threshold by.
        margin: hartree above the best error that a tightened threshold stays within.
        tighten_above: success rate in [0, 1] from which a window tightens the threshold.
        relax_below: success rate in [0, 1] below which a window relaxes it.
    """

    def __init__(self, initial: float = 0.05, target: float = CHEMICAL_ACCURACY,
                 window: int = 32, shrink: float = 0.7, margin: float = 5e-4,
                 tighten_above: float = 0.5, relax_below: float = 0.0) -> None:
        self.initial, self.target = _positive("initial", initial), _positive("target", target)
        if self.target > self.initial:
            raise ValueError(f"target ({target}) must not exceed initial ({initial})")
        self.margin = _positive("margin", margin)
        self.window = check_integer("window", window)
        self.shrink = _positive("shrink", shrink)
        if self.shrink >= 1:
            raise ValueError(f"shrink must lie in (0, 1), got {shrink!r}")
        for name, rate in (("tighten_above", tighten_above), ("relax_below", relax_below)):
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) \
                    or not 0 <= rate <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {rate!r}")
        self.tighten_above, self.relax_below = float(tighten_above), float(relax_below)
        self.threshold = self.initial
        self.best = float("inf")
        self.history: list[tuple[int, float]] = []
        self._successes: list[bool] = []
        self._episodes = 0

    def record(self, final_errors) -> float:
        """Add finished episodes' final energy errors (hartree, an iterable); returns the
        threshold now in force."""
        for error in final_errors:
            error = float(error)
            self._episodes += 1
            self.best = min(self.best, error)
            self._successes.append(error < self.threshold)
            if len(self._successes) == self.window:
                rate = sum(self._successes) / self.window
                if rate >= self.tighten_above:
                    self.threshold = max(self.target, min(self.threshold * self.shrink,
                                                          self.best + self.margin))
                elif rate < self.relax_below:
                    self.threshold = min(self.initial, self.threshold / self.shrink)
                self._successes = []
                self.history.append((self._episodes, self.threshold))
        return self.threshold


class CurriculumCallback(BaseCallback):
    """Moves the success threshold of a tunegym QAS ``SB3VecEnv`` during SB3 training.

    Args:
        curriculum: the :class:`ThresholdCurriculum`; its threshold is written to the
            env at the start of training and whenever it changes.
    """

    def __init__(self, curriculum: ThresholdCurriculum, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.curriculum = curriculum

    def _on_training_start(self) -> None:
        self.training_env.batched.threshold = self.curriculum.threshold

    def _on_step(self) -> bool:
        errors = [info["energy_error_ha"] for info, done in
                  zip(self.locals["infos"], self.locals["dones"]) if done]
        if errors:
            threshold = self.curriculum.record(errors)
            self.training_env.batched.threshold = threshold
            self.logger.record("curriculum/threshold_ha", threshold)
            self.logger.record("curriculum/best_error_ha", self.curriculum.best)
        return True
