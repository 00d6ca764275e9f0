"""The storage layer: turns articles into a searchable index. It imports nothing from ``bot``.

One module per stage: ``loaders`` (per format), ``clean`` (boilerplate, teasers, editorial
notes), ``split`` (sentences and passages), ``embed`` (embedding backends), ``catalog``
(articles, sentences, keyword index: the commit point), ``vectors`` (Chroma). ``store`` is the
index handle (open, lock, refresh), ``ingest`` the writer, ``maintenance`` reindex/check/stats;
``config`` and ``errors`` are what the layer above passes in and gets back.
"""
