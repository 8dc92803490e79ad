"""Figures and the self-contained HTML report every command that produces results writes."""

from motivlab.report.html import HtmlReport, save_figure

__all__ = ["HtmlReport", "save_figure"]
