"""One torch thread per test: on a shared 2-core machine, torch's default of one thread per core
spins against the other processes and made tiny runs 8–10× slower (a 25-epoch run on 48 faces took
214 s in a loaded run, 27 s on one thread); `fit` restores the count it changes."""

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
