"""Fitted engines on disk and in the serving processes: the model cache, fitting once, following the history.

``oppscope.analysis`` is pure (data in, analyses out). Everything here touches files or the history store: the
cache of fitted engines shared by every process (``interfaces.ModelCache``, ``cache.FileModelCache``), first-run
setup and imports (``loading``), and the holder that keeps each server worker on the published model
(``holder.EngineHolder``).
"""
