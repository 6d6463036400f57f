"""Env families: one module each, registered on ``import tunegym``."""

from tunegym.core.registration import register_family

#: id -> (module, family class prefix, default kwargs).
REGISTRY = {
    "tunegym/SOR-v0": ("tunegym.envs.sor", "SOR", {}),
    "tunegym/SORHeat-v0": ("tunegym.envs.sor", "SOR", {"problem": "heat", "solver": "ssor_pcg"}),
    "tunegym/SORVariableDiffusion-v0": ("tunegym.envs.sor", "SOR",
                                        {"problem": "variable_diffusion"}),
}


def register_all() -> None:
    """Register every tunegym id with gymnasium (idempotent)."""
    for env_id, (module, family_name, kwargs) in REGISTRY.items():
        register_family(env_id, module, family_name, kwargs)
