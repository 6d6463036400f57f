"""Design datasets (:mod:`tunegym.proxy.dataset`) and surrogate models of design envs
(:mod:`tunegym.proxy.model`)."""
