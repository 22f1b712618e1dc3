"""The core: schedules, optimizers, models, data, tasks, the lockstep engine. Imports only the vocabulary (errors, params, spec)."""
