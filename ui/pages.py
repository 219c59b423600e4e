"""The workspace's pages, in tab order.

Each entry is ``(module, class name)`` relative to this package; a page module is imported only
when the dock is built (pages may import the engine, and so torch). A new page is one line here
plus its own module or folder under ui/ with a :class:`~.page_base.WorkspacePage` subclass.
"""

PAGES = [
    (".classify.page", "ClassifyPage"),
    (".correct.page", "CorrectPage"),
    (".assess.page", "AssessPage"),
    (".export.page", "ExportPage"),
    (".explain.page", "ExplainPage"),
    (".install.page", "SetupPage"),
]
