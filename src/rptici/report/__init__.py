"""Self-contained HTML reports: every figure embedded, nothing fetched when the file is opened."""

from .html import figure_to_data_uri, render_html

__all__ = ["figure_to_data_uri", "render_html"]
