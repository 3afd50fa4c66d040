"""What a state store remembers of the accounts it committed (agents/store.py KnownAccounts)."""

from __future__ import annotations

from agents.batch import StateView
from agents.store import KnownAccounts
from streams.accounts import AccountState


def _view(**balances: int) -> StateView:
    view = StateView({}, {}, {}, {})
    for name, euros in balances.items():
        view.accounts[name] = AccountState({"EUR": euros})
        view.versions[name] = euros  # any version: the commit writes the next one
    return view


def test_a_commit_keeps_the_accounts_it_wrote_at_their_new_version_and_a_take_removes_them() -> None:
    known = KnownAccounts()
    view = _view(a=1, b=2, c=3)
    known.committed(view, {"a", "b"})  # c was only read: no commit checked it
    taken = known.take({"a", "c", "z"})
    assert taken == {"a": (2, view.accounts["a"])} and taken["a"][1] is view.accounts["a"]
    assert known.take({"a"}) == {}  # a batch that fails puts nothing back
    assert len(known) == 1


def test_past_its_limit_the_least_recently_committed_go_and_clear_forgets_all() -> None:
    known = KnownAccounts(limit=2)
    known.committed(_view(a=1), {"a"})
    known.committed(_view(b=1), {"b"})
    known.committed(_view(a=5), {"a"})  # a again: now the newest
    known.committed(_view(c=1), {"c"})
    assert set(known.take({"a", "b", "c"})) == {"a", "c"}
    known.committed(_view(d=1), {"d"})
    known.clear()
    assert len(known) == 0
