"""Production serving on one machine without systemd: a supervisor of our own, Debian's nginx in front, one
instance of several workers behind it on a loopback port.

- ``paths``: where a daemon keeps its pid files, state, socket and the generated nginx configuration.
- ``proxy``: nginx's configuration, ``nginx -t``, start, reload with confirmation, graceful stop.
- ``instances``: one ``oppscope serve --workers N`` on a free loopback port, its readiness and identity.
- ``supervisor``: the detached process that owns nginx, the instances and the continuous backup, restarts them
  with back-off, and answers the control socket.
- ``control``: the typed client of that socket (what ``deploy`` drives) and the daemon's start, stop and status.
"""
