"""The Faust app's settings that users see the effect of."""

from __future__ import annotations

import tempfile
from pathlib import Path

from streams.app import create_app
from streams.settings import Settings


def test_the_worker_leaves_no_data_directory_in_the_current_one() -> None:
    app = create_app(Settings(topic_prefix="t1."))
    datadir = Path(app.conf.datadir).resolve()
    assert datadir.is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert not datadir.is_relative_to(Path.cwd().resolve())
    assert "t1.paystream" in datadir.name
