"""The order in which waiting hashes get a thread: clients in turn, new hashes held back."""

from __future__ import annotations

from app.adapters.fair_queue import FairQueue, HashKind, Waiting

CHECK, NEW = HashKind.CHECK, HashKind.NEW


def _queue(**bounds: int) -> FairQueue[str]:
    return FairQueue(**{"max_per_client": 100, "checks_per_new_hash": 4, **bounds})


def _push(queue: FairQueue[str], client: str, kind: HashKind, count: int) -> None:
    for n in range(count):
        queue.push(Waiting(client, kind, f"{client}{n}"))


def _order(queue: FairQueue[str]) -> list[str]:
    taken = []
    while (waiting := queue.pop()) is not None:
        taken.append(waiting.work)
    return taken


def test_clients_are_served_in_turn_not_in_arrival_order():
    queue = _queue()
    _push(queue, "a", CHECK, 4)
    _push(queue, "b", CHECK, 2)
    _push(queue, "c", CHECK, 1)
    assert _order(queue) == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]


def test_one_client_may_have_only_so_many_waiting_while_others_still_may():
    queue = _queue(max_per_client=2)
    _push(queue, "a", CHECK, 2)
    assert not queue.admits("a")
    assert queue.admits("b")
    queue.pop()
    assert queue.admits("a")


def test_while_checks_wait_a_new_hash_gets_one_turn_per_so_many_checks():
    queue = _queue(checks_per_new_hash=2)
    _push(queue, "register", NEW, 3)
    _push(queue, "login", CHECK, 5)
    order = _order(queue)
    # Two checks per new hash while checks wait; then what is left.
    assert order == [
        *("login0", "login1", "register0"),
        *("login2", "login3", "register1"),
        *("login4", "register2"),
    ]


def test_new_hashes_take_every_turn_when_no_check_waits():
    queue = _queue(checks_per_new_hash=4)
    _push(queue, "register", NEW, 3)
    assert _order(queue) == ["register0", "register1", "register2"]


def test_work_taken_out_before_its_turn_no_longer_counts():
    queue = _queue(max_per_client=1)
    gone = Waiting("a", CHECK, "a0")
    queue.push(gone)
    assert queue.remove(gone)
    assert not queue.remove(gone)
    assert queue.admits("a") and queue.waiting == 0
    assert queue.pop() is None
