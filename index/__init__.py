"""Turns articles into a searchable index: load -> clean -> split -> embed -> store.

One module per stage: ``loaders`` (per format), ``clean`` (boilerplate, teasers,
editorial notes), ``split`` (sentences and passages), ``embed`` (embedding
backends), ``catalog`` (articles, sentences, keyword index: the commit point),
``vectors`` (Chroma) and ``pipeline`` (the ``Indexer`` that ties them together).
"""
