"""`make test-year-ahead`: every Python process started with this folder on PYTHONPATH (the tests, the bot,
Rasa, the action server, the commands the tests start) sees a calendar WIJKBOT_YEAR_AHEAD_DAYS days ahead.

The wall clock (time.time, datetime.now, date.today, …) is moved by time-machine and keeps ticking from
there; the monotonic clocks stay real, so timeouts and sleeps behave as on any day. A test that passes
today and fails here is a time bomb: it mixes a pinned date with the real one.
(libfaketime, the usual tool, fakes the clock under Python's thread locks too and hangs or breaks
`time.sleep` with Python 3.11 on this project's machines, so the move is made inside Python instead.)
"""

from __future__ import annotations

import os

_days = os.environ.get("WIJKBOT_YEAR_AHEAD_DAYS")
if _days:
    import datetime as _datetime

    import time_machine as _time_machine

    _destination = _datetime.datetime.now(_datetime.timezone.utc) + _datetime.timedelta(days=float(_days))  # noqa: UP017 (Rasa: 3.10)
    _time_machine.travel(_destination, tick=True).start()
    # time-machine starts the clock ticking at the first read; read it now, or a process that reads it
    # first seconds later runs those seconds behind the others (and their rows look to it like the future)
    import time as _time

    _time.time()
