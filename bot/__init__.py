"""newsbot: answers questions about a newsroom's articles with cited passages.

``bot`` holds settings, domain errors and the front ends; ``index`` turns articles
into a searchable index. Importing this package loads no model and opens no store.
"""

__version__ = "0.1.0"
