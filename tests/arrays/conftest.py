"""Policies on arrays of other libraries: JAX (jitted), optax, torch tensors (compiled). Each
module skips, saying why, where its library is not installed."""


