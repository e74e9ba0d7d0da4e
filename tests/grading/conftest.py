"""The fixture lab's notebook is graded by the tests, not executed by nbmake (its checks live in fixtures/)."""

collect_ignore_glob = ["fixtures/*"]
