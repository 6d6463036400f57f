"""Env families: one module each, registered on ``import tunegym``."""

from tunegym.core.registration import register_family

#: id -> (module, family class prefix, default kwargs).
REGISTRY = {
    "tunegym/SOR-v0": ("tunegym.envs.sor", "SOR", {}),
    "tunegym/SORHeat-v0": ("tunegym.envs.sor", "SOR", {"problem": "heat", "solver": "ssor_pcg"}),
    "tunegym/SORVariableDiffusion-v0": ("tunegym.envs.sor", "SOR",
                                        {"problem": "variable_diffusion"}),
    # Khodak et al. (ICLR 2024), section 5, exactly: 10 x 10, lexicographic SOR, T = 5000.
    "tunegym/SORLearningToRelax-v0": ("tunegym.envs.sor", "SOR", {
        "grid_size": 10, "ordering": "natural", "sequence_length": 5000}),
    "tunegym/Coverage-v0": ("tunegym.envs.coverage", "Coverage", {}),
    "tunegym/CoverageTwoRooms-v0": ("tunegym.envs.coverage", "Coverage", {"map": "two_rooms"}),
    "tunegym/InformativePath-v0": ("tunegym.envs.coverage", "Coverage",
                                   {"task": "informative_path"}),
    "tunegym/DOptimalDesign-v0": ("tunegym.envs.coverage", "Coverage", {"task": "d_optimal"}),
    "tunegym/ItemCollection-v0": ("tunegym.envs.coverage", "Coverage", {"task": "items"}),
    "tunegym/SolverSchedule-v0": ("tunegym.envs.solver_schedule", "SolverSchedule", {}),
    "tunegym/SolverScheduleOneShot-v0": ("tunegym.envs.solver_schedule",
                                         "SolverScheduleOneShot", {}),
    "tunegym/SolverScheduleMixed-v0": ("tunegym.envs.solver_schedule", "SolverSchedule", {
        "mixture": {"train": ["two_modes", "many_modes"],
                    "test": ["two_modes", "ill_conditioned", "many_modes"]},
        "dimension": {"train": [4, 16], "test": [8, 32]},
        "schedule": {"train": ["linear", "cosine"], "test": ["linear", "cosine", "edm"]},
        "nfe": [4, 5, 6, 8, 10]}),
    "tunegym/QuantumArchSearch-v0": ("tunegym.envs.quantum_arch_search", "QuantumArchSearch",
                                     {}),
    "tunegym/AcceleratorDesign-v0": ("tunegym.envs.accelerator_design", "AcceleratorDesign", {}),
    "tunegym/DRAMController-v0": ("tunegym.envs.dram_controller", "DRAMController", {}),
}


def register_all() -> None:
    """Register every tunegym id with gymnasium (idempotent)."""
    for env_id, (module, family_name, kwargs) in REGISTRY.items():
        register_family(env_id, module, family_name, kwargs)
