"""Which rank a failed distributed run blames, from torch elastic's own failure records."""

from __future__ import annotations

import signal

from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from flexzoo.training.launch import first_failure


def failure(rank: int, exitcode: int, timestamp: int) -> tuple[int, ProcessFailure]:
    record = ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=exitcode, error_file="/nonexistent")
    record.timestamp = timestamp
    return rank, record


def test_a_rank_killed_in_the_same_second_as_its_peer_aborted_is_the_cause():
    # rank 1 was SIGKILLed; rank 0's collective aborted when its peer vanished; one poll saw both
    failures = [failure(0, -signal.SIGABRT, 100), failure(1, -signal.SIGKILL, 100)]
    assert first_failure(failures)[0] == 1


def test_an_earlier_abort_is_still_the_cause():
    failures = [failure(0, -signal.SIGABRT, 99), failure(1, -signal.SIGKILL, 100)]
    assert first_failure(failures)[0] == 0


def test_the_ranks_the_agent_stopped_are_never_the_cause():
    failures = [failure(0, -signal.SIGTERM, 98), failure(1, 1, 100)]
    assert first_failure(failures)[0] == 1


def test_a_rank_killed_in_the_same_second_as_its_peer_reported_the_failed_collective_is_the_cause():
    # rank 1 was SIGKILLed; rank 0 said its collective failed and left at once (status 1); one poll saw both
    failures = [failure(0, 1, 100), failure(1, -signal.SIGKILL, 100)]
    assert first_failure(failures)[0] == 1


def test_an_earlier_error_status_is_still_the_cause():
    failures = [failure(0, 1, 99), failure(1, -signal.SIGKILL, 100)]
    assert first_failure(failures)[0] == 0
