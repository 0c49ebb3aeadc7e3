from tests.train.conftest import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)
