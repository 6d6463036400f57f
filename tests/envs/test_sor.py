"""tunegym/SOR-v0 behaviour: reward, info, oracle, spaces, kwargs and action checks."""

import gymnasium
import numpy as np
import pytest
import torch
from pyamg.relaxation.relaxation import sor as pyamg_sor

import tunegym
from tests.simulators.test_sor import pyamg_iterations
from tunegym.envs.sor import SOREnv, omega_grid
from tunegym.simulators.sor import red_black_permutation
from tunegym.simulators.sor_problems import Heat


def reference_iterations(stencil, rhs, omega, tol=1e-8, index=0, guess=None):
    """pyamg SOR on the red-black permuted matrix, one sweep at a time."""
    order = red_black_permutation(stencil.grid_size).numpy()
    matrix = stencil.to_scipy(index)[order][:, order].tocsr()
    b = rhs[index].numpy().ravel()[order]
    x = np.zeros_like(b) if guess is None else guess[index].numpy().ravel()[order].copy()
    count = 0
    while np.linalg.norm(b - matrix @ x) > tol * np.linalg.norm(b):
        pyamg_sor(matrix, x, b, omega, iterations=1)
        count += 1
    return count


def current_instance(env):
    batched = env.unwrapped.batched
    state = batched.state
    return batched.problem.instance(state["episode_key"], state["step"], state)


def test_reward_is_minus_iterations_over_max_iters_and_matches_pyamg():
    env = gymnasium.make("tunegym/SOR-v0", sequence_length=4, max_iters=5000)
    observation, _ = env.reset(seed=7)
    for arm in (0, 10, 19):
        instance = current_instance(env)
        np.testing.assert_allclose(observation[0], float(instance.stencil.center[0]) - 4.0,
                                   rtol=1e-6)
        omega = float(omega_grid(20)[arm])
        expected = reference_iterations(instance.stencil, instance.rhs, omega)
        observation, reward, terminated, truncated, info = env.step(arm)
        assert info["iterations"] == expected
        assert info["omega"] == pytest.approx(omega)
        assert reward == pytest.approx(-expected / 5000)
        assert info["converged"] and not terminated and not truncated


def test_episode_is_truncated_after_sequence_length():
    env = gymnasium.make("tunegym/SOR-v0", sequence_length=3)
    env.reset(seed=0)
    flags = [env.step(5)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_oracle_is_the_brute_force_best_grid_omega():
    env = gymnasium.make("tunegym/SOR-v0", compute_oracle=True, num_omegas=8, grid_size=8)
    env.reset(seed=3)
    instance = current_instance(env)
    counts = [reference_iterations(instance.stencil, instance.rhs, float(omega))
              for omega in omega_grid(8)]
    _, _, _, _, info = env.step(0)
    assert info["oracle_iterations"] == min(counts)
    assert info["oracle_omega"] == pytest.approx(float(omega_grid(8)[int(np.argmin(counts))]))
    assert info["oracle_iterations"] <= info["iterations"]


def test_continuous_action_sets_omega_exactly():
    env = gymnasium.make("tunegym/SOR-v0", action_type="continuous")
    env.reset(seed=1)
    instance = current_instance(env)
    action = np.array([1.73], dtype=np.float32)
    _, _, _, _, info = env.step(action)
    assert info["omega"] == pytest.approx(float(action[0]))
    assert info["iterations"] == reference_iterations(instance.stencil, instance.rhs,
                                                      float(action[0]))


def test_heat_env_warm_starts_from_the_previous_solution():
    env = gymnasium.make("tunegym/SORHeat-v0", grid_size=9, solver="sor")
    observation, _ = env.reset(seed=2)
    batched = env.unwrapped.batched
    state = batched.state
    time = state["time_offset"] + 0.5 * Heat.time_step
    np.testing.assert_allclose(observation[0], float(Heat.diffusivity(time)), rtol=1e-6)
    instance = current_instance(env)
    assert torch.equal(instance.initial_guess, state["field"])
    expected = reference_iterations(instance.stencil, instance.rhs, 1.5,
                                    guess=instance.initial_guess)
    _, _, _, _, info = env.step(int(torch.argmin((omega_grid(20) - 1.5).abs())))
    assert info["iterations"] == expected
    new_field = batched.state["field"][0].numpy().ravel()
    residual = instance.rhs[0].numpy().ravel() - instance.stencil.to_scipy(0) @ new_field
    assert np.linalg.norm(residual) <= 1e-8 * np.linalg.norm(instance.rhs[0].numpy())


def test_iteration_cap_gives_the_documented_penalty():
    env = gymnasium.make("tunegym/SOR-v0", max_iters=3)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert reward == -1.0 and info["iterations"] == 3 and not info["converged"]


def test_splits_draw_different_instances_and_context_can_be_hidden():
    train = gymnasium.make("tunegym/SOR-v0", split="train").reset(seed=0)[0]
    test = gymnasium.make("tunegym/SOR-v0", split="test").reset(seed=0)[0]
    assert not np.array_equal(train, test)
    hidden = gymnasium.make("tunegym/SOR-v0", context=False)
    assert hidden.reset(seed=0)[0].tolist() == [0.0]
    assert hidden.observation_space.shape == (1,)


@pytest.mark.parametrize("action", [20, -1, 2.5, np.array([1, 2])])
def test_out_of_space_discrete_actions_are_errors(action):
    env = gymnasium.make("tunegym/SOR-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


@pytest.mark.parametrize("value", [0.9, 1.995, float("nan"), float("inf")])
def test_out_of_space_continuous_actions_are_errors(value):
    env = gymnasium.make("tunegym/SOR-v0", action_type="continuous")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([value], dtype=np.float32))


def test_wrong_batch_shape_is_an_error():
    env = SOREnv(num_envs=4)
    env.reset(torch.arange(4))
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="seeds"):
        env.reset(torch.arange(3))


@pytest.mark.parametrize("kwargs, name", [
    ({"problem": "poisson"}, "problem"), ({"variance": "medium"}, "variance"),
    ({"grid_size": 1}, "grid_size"), ({"sequence_length": 0}, "sequence_length"),
    ({"tol": 0.0}, "tol"), ({"max_iters": 0}, "max_iters"), ({"solver": "gmres"}, "solver"),
    ({"start": "now"}, "start"), ({"start": "paper"}, "start"),
    ({"action_type": "box"}, "action_type"), ({"num_omegas": 1}, "num_omegas"),
    ({"split": "validation"}, "split"), ({"context": "yes"}, "context"),
    ({"compute_oracle": 1.5}, "compute_oracle"), ({"device": "gpu0"}, "device"),
    ({"ordering": "lexicographic"}, "ordering"),
])
def test_bad_kwargs_are_rejected_with_the_argument_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gymnasium.make("tunegym/SOR-v0", **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error message")
def test_cuda_request_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        gymnasium.make("tunegym/SOR-v0", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_device_matches_cpu_bit_for_bit():
    cpu = SOREnv(num_envs=8, device="cpu")
    gpu = SOREnv(num_envs=8, device="cuda")
    assert torch.equal(cpu.reset(torch.arange(8)), gpu.reset(torch.arange(8)).cpu())
    arms = torch.arange(8) * 2
    cpu_step, gpu_step = cpu.step(arms), gpu.step(arms.cuda())
    assert torch.equal(cpu_step[4]["iterations"], gpu_step[4]["iterations"].cpu())


def test_stable_baselines3_ppo_trains_on_the_batched_vec_env():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    vec_env = VecMonitor(tunegym.make_sb3_vec_env("tunegym/SOR-v0", num_envs=8,
                                                  sequence_length=16))
    model = PPO("MlpPolicy", vec_env, n_steps=16, batch_size=64, n_epochs=1, seed=0,
                device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    episodes = list(model.ep_info_buffer)
    assert len(episodes) >= 8 and all(episode["l"] == 16 for episode in episodes)
    assert all(-16.0 <= episode["r"] < 0.0 for episode in episodes)
    actions, _ = model.predict(vec_env.reset(), deterministic=True)
    assert actions.shape == (8,)


def test_natural_ordering_reproduces_the_papers_lexicographic_sor_counts():
    env = gymnasium.make("tunegym/SOR-v0", ordering="natural")
    env.reset(seed=11)
    instance = current_instance(env)
    matrix = instance.stencil.to_scipy(0)
    b = instance.rhs[0].numpy().ravel()
    x, count = np.zeros_like(b), 0
    while np.linalg.norm(b - matrix @ x) > 1e-8 * np.linalg.norm(b):
        pyamg_sor(matrix, x, b, float(omega_grid(20)[12]), iterations=1)
        count += 1
    assert env.step(12)[4]["iterations"] == count


def test_paper_setting_id_is_section_5_of_the_paper():
    """tunegym/SORLearningToRelax-v0: 10 x 10 shifted Poisson, lexicographic SOR to
    ||r|| <= 1e-8 ||b|| capped at 10 000, 5000 systems (the paper's contextual.m), and the
    count of one step equals a pyamg loop with that rule."""
    env = gymnasium.make("tunegym/SORLearningToRelax-v0", split="test")
    batched = env.unwrapped.batched
    assert (batched.problem.name, batched.problem.grid_size, batched.ordering,
            batched.sequence_length, batched.tol, batched.max_iters) == (
        "shifted_poisson", 10, "natural", 5000, 1e-8, 10_000)
    assert batched.max_episode_steps == 5000 and batched.problem.variance == "high"
    assert env.observation_space.low[0] == np.float32(-0.15)
    env.reset(seed=3)
    instance = current_instance(env)
    matrix, b = instance.stencil.to_scipy(0), instance.rhs[0].numpy().ravel()
    assert np.linalg.norm(b) <= np.sqrt(100)
    count, _ = pyamg_iterations(matrix, b, float(omega_grid(20)[16]))
    assert env.step(16)[4]["iterations"] == count


def test_cg_solver_ignores_omega_and_equals_scipy_cg():
    import scipy.sparse.linalg as spla

    env = tunegym.make_batched_env("tunegym/SORHeat-v0", num_envs=2, solver="cg",
                                   grid_size=12, start="paper")
    env.reset(torch.arange(2))
    for _ in range(60):                        # into the phase of large diffusivity
        _, _, _, _, info = env.step(torch.tensor([0, 19]))
    assert info["iterations"][0] == info["iterations"][1]      # omega does not matter
    state = env.state
    instance = env.problem.instance(state["episode_key"], state["step"], state)
    matrix = instance.stencil.to_scipy(0)
    count = [0]
    spla.cg(matrix, instance.rhs[0].numpy().ravel(), x0=instance.initial_guess[0].numpy().ravel(),
            rtol=1e-8, atol=0.0, callback=lambda _: count.__setitem__(0, count[0] + 1))
    assert int(env.step(torch.tensor([3, 3]))[4]["iterations"][0]) == count[0]
