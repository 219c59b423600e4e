"""Installing the plugin's Python packages from the dock (panel, background tasks, Setup page)."""
