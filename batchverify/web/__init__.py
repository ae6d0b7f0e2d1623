"""``batchverify serve``: the upload page and its JSON API, on the library's engine.

``server`` starts it (token, bind, signals); ``app`` wires routes, the token check and the page;
``manager`` keeps the jobs (durable under the data dir, resumed after a restart); ``jobs`` runs one
job on the engine; ``routes`` is the JSON API, ``pages`` and ``words`` the page in zh-CN and en.
"""
