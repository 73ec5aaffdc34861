"""kbit.optim - bitsandbytes.optim's optimizers over libkbit: 32-bit and
8-bit blockwise states, every parameter of a group stepped by one
kbit_optim_step_many call, state_dict in bitsandbytes' layout."""
from .optimizer import MockArgs, Optimizer1State, Optimizer2State, Optimizer8bit
from .optimizers import *  # noqa: F401,F403
from .optimizers import __dict__ as _ns

__all__ = ["Optimizer8bit", "Optimizer1State", "Optimizer2State", "MockArgs"] + sorted(
    k for k, v in _ns.items() if isinstance(v, type) and issubclass(v, Optimizer8bit)
    and v not in (Optimizer1State, Optimizer2State))
